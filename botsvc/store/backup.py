"""Online backups: a consistent copy of the database while the bot keeps running.

SQLite's backup API copies page by page and restarts when the source changes under
it, so the copy is a snapshot of one moment even with ``botsvc run`` writing. The copy
is then checked with ``PRAGMA integrity_check`` before it is reported as good.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from botsvc.store.backends import is_postgres_url
from botsvc.store.store import StoreError


def backup(source: str | Path, target: str | Path, *, overwrite: bool = False) -> int:
    """Copy the database at ``source`` to ``target``; returns the copy's size in bytes."""
    if is_postgres_url(str(source)):
        raise StoreError(
            "the database is PostgreSQL: back it up with its own tools, e.g. pg_dump --format=custom "
            "--file=botsvc.dump (restore with pg_restore)"
        )
    source, target = Path(source), Path(target)
    if not source.exists():
        raise StoreError(f"{source}: no database here")
    if not target.parent.is_dir():
        raise StoreError(f"{target}: the destination directory {target.parent} does not exist")
    if target.exists() and not overwrite:
        raise StoreError(f"{target} exists; remove it or pass --force")
    if target.resolve() == source.resolve():
        raise StoreError("the backup must go to another file")
    partial = target.with_name(target.name + ".partial")
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as src, sqlite3.connect(partial) as dst:
            src.backup(dst, pages=1024)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        if check != "ok":
            raise StoreError(f"the copy failed its integrity check: {check}")
        partial.replace(target)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {source} failed: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
