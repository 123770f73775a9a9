"""Apply the numbered SQL files in ``migrations/<dialect>/`` in order, once each.

Schema changes happen only here: each ``NNNN_name.sql`` runs inside one
transaction together with its row in ``_migrations``, so a database is always
at a whole migration, and an existing database upgrades in place at start-up.

``migrations/sqlite/`` holds the history from 0001; ``migrations/postgres/`` starts
with a baseline numbered as the SQLite version whose schema it equals, and every
later migration exists in both folders under the same number. On PostgreSQL the
migrations run under an advisory lock, so workers starting together migrate once.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from botsvc.store import searchtext, seenkeys

if TYPE_CHECKING:
    from botsvc.store.postgres import PostgresDatabase

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


DIALECTS = ("sqlite", "postgres")


def migrations_dir(dialect: str = "sqlite") -> Path:
    """Where one database's SQL files live: ``$BOTSVC_MIGRATIONS/<dialect>``, the source tree,
    or the installed copy."""
    override = os.environ.get("BOTSVC_MIGRATIONS")
    if override:
        return Path(override) / dialect
    here = Path(__file__).resolve().parent.parent  # the botsvc package
    for candidate in (here.parent / "migrations", here / "migrations"):
        if (candidate / dialect).is_dir():
            return candidate / dialect
    raise FileNotFoundError(f"migrations/{dialect} directory not found next to the botsvc package")


def discover(directory: Path | None = None) -> list[Migration]:
    """All migrations in version order; refuses gaps and duplicate numbers.

    The first may have any number (a baseline); the rest follow it without gaps.
    """
    directory = directory or migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files must be named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path.stem, path))
    versions = [m.version for m in found]
    first = versions[0] if versions and "baseline" in found[0].name else 1
    if versions != list(range(first, first + len(found))):
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


MIGRATION_LOCK = 0x626F7473766301
"""The PostgreSQL advisory lock key held while migrating ("botsvc" and 1)."""

POSTGRES_STEPS: dict[int, Callable[[PostgresDatabase], None]] = {}
"""Python steps run after a PostgreSQL migration's SQL, in its transaction (as the SQLite
migrations call ``search_text`` and ``seen_key_hash`` from SQL)."""


def apply_postgres_migrations(
    db: PostgresDatabase, directory: Path | None = None, upto: int | None = None
) -> list[str]:
    """Apply pending PostgreSQL migrations under an advisory lock; returns the names applied.

    A process that finds another migrating waits for it, then finds nothing left to do.
    """
    db.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT version FROM _migrations")}
        applied: list[str] = []
        for migration in discover(directory or migrations_dir("postgres")):
            if migration.version in done or (upto is not None and migration.version > upto):
                continue
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            started = time.monotonic()
            try:
                with db.atomic():
                    db.executescript(migration.path.read_text(encoding="utf-8"))
                    step = POSTGRES_STEPS.get(migration.version)
                    if step is not None:
                        step(db)
                    db.execute(
                        "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, stamp),
                    )
            except Exception as exc:
                raise RuntimeError(f"migration postgres/{migration.path.name} failed: {exc}") from exc
            applied.append(migration.name)
            if done:
                log.info("database upgraded: %s applied in %.1f s", migration.name, time.monotonic() - started)
        return applied
    finally:
        if not db.raw.closed and not db.in_transaction:
            db.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))


def _fill_search_vectors(db: PostgresDatabase) -> None:
    """Index articles that have no search vector yet (copied in, or stored before the index)."""
    rows = db.execute("SELECT id, title, summary, body FROM articles WHERE search IS NULL").fetchall()
    db.executemany(
        "UPDATE articles SET search = ?::tsvector WHERE id = ?",
        [(searchtext.tsvector(title, summary, body), article_id) for article_id, title, summary, body in rows],
    )


POSTGRES_STEPS[26] = _fill_search_vectors
