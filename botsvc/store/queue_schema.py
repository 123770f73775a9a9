"""The job queue's own tables (Procrastinate's schema) in the PostgreSQL database.

Applied at start-up by the first process that finds them missing, under a PostgreSQL
advisory lock (the one botsvc's own migrations take), so ten workers starting at once
create them once. The schema is
Procrastinate's own (shipped with the pinned version), not a botsvc migration: it
belongs to that library and changes with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botsvc.store.migrate import MIGRATION_LOCK as SCHEMA_LOCK

if TYPE_CHECKING:
    from botsvc.store.store import Store


def ensure_queue_schema(url: str) -> bool:
    """Create the queue's tables unless they exist; True if this call created them."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if row is not None and row[0]:
                return False
            with conn.transaction():
                conn.execute(SchemaManager.get_schema())  # the library's own SQL
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def store_connection(store: Store) -> Any:
    """A PostgreSQL store's own psycopg connection: a job deferred on it joins the store's open transaction."""
    if store.dialect != "postgres":
        raise ValueError("only a PostgreSQL store shares its transactions with the job queue")
    return store.db.raw
