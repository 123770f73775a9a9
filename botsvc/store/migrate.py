"""Apply the numbered SQL files in ``migrations/`` in order, once each.

Schema changes happen only here: each ``NNNN_name.sql`` runs inside one
transaction together with its row in ``_migrations``, so a database is always
at a whole migration, and an existing database upgrades in place at start-up.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from botsvc.store import searchtext, seenkeys

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def migrations_dir() -> Path:
    """Where the SQL files live: ``$BOTSVC_MIGRATIONS``, the source tree, or the installed copy."""
    override = os.environ.get("BOTSVC_MIGRATIONS")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent.parent  # the botsvc package
    for candidate in (here.parent / "migrations", here / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("migrations directory not found next to the botsvc package")


def discover(directory: Path | None = None) -> list[Migration]:
    """All migrations in version order; refuses gaps and duplicate numbers."""
    directory = directory or migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files must be named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path.stem, path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{directory}: migrations must be numbered 0001, 0002, … without gaps; found {versions}")
    return found


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM _migrations")}


def apply_migrations(conn: sqlite3.Connection, directory: Path | None = None, upto: int | None = None) -> list[str]:
    """Apply pending migrations (up to ``upto`` if given); returns the names applied.

    SQL functions the migrations call (``search_text``, ``seen_key_hash``, ...) are registered on
    ``conn`` first.
    """
    searchtext.register(conn)
    seenkeys.register(conn)
    done = applied_versions(conn)
    if conn.in_transaction:
        conn.commit()
    applied: list[str] = []
    for migration in discover(directory):
        if migration.version in done or (upto is not None and migration.version > upto):
            continue
        sql = migration.path.read_text(encoding="utf-8")
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record = (
            "INSERT INTO _migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', '{stamp}');"
        )
        started = time.monotonic()
        try:
            conn.executescript(f"BEGIN;\n{sql}\n;{record}\nCOMMIT;")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise RuntimeError(f"migration {migration.path.name} failed: {exc}") from exc
        applied.append(migration.name)
        if done:  # an upgrade, not a new database: say what changed (a reindex can take a while)
            log.info("database upgraded: %s applied in %.1f s", migration.name, time.monotonic() - started)
    return applied
