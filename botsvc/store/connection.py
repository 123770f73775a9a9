"""The few things the service asks of the database connection itself, not of its tables.

A health probe, whether a transaction is open, and a hook SQLite calls while a
statement runs (so a stopping intake thread can make its open transaction roll back).
"""

from __future__ import annotations

from collections.abc import Callable

from botsvc.store.store import Store


def ping(store: Store) -> None:
    """Ask the database for one trivial answer; raises :data:`botsvc.store.errors.DatabaseError` if it cannot."""
    store.db.execute("SELECT 1").fetchone()


def in_transaction(store: Store) -> bool:
    """Whether a transaction is open on ``store``'s connection."""
    return bool(store.db.conn.in_transaction)


def interrupt_when(store: Store, handler: Callable[[], int], steps: int) -> None:
    """Have ``handler`` called every ``steps`` virtual-machine steps; a non-zero answer fails
    the running statement (SQLite's progress handler). On PostgreSQL a non-zero answer fails
    the transaction's next statement instead (statements there are short; ROLLBACK still runs)."""
    if getattr(store, "dialect", "sqlite") == "sqlite":
        store.db.conn.set_progress_handler(handler, steps)
    else:
        store.db.interrupt = handler
