"""The job queue's own tables (Procrastinate's schema) in the PostgreSQL database.

Applied at start-up by the first process that finds them missing, under a PostgreSQL
advisory lock, so ten workers starting at once create them once. The schema is
Procrastinate's own (shipped with the pinned version), not a botsvc migration: it
belongs to that library and changes with it.
"""

from __future__ import annotations

SCHEMA_LOCK = 0x626F7473
"""Advisory lock key held while the database's schema is created or migrated ("bots")."""


def is_postgres_url(location: object) -> bool:
    """Whether a database location names a PostgreSQL server rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


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
