"""Signed requests already admitted, in the database (migration ``request_replays``).

Several web processes behind a load balancer share one database: a request admitted by
one of them and sent again to another is a replay there too. The primary key decides:
of two processes admitting one request at the same moment, only one inserts it.
"""

from __future__ import annotations

from botsvc.store.store import Store


def first_time(store: Store, signature: str, expires: int, now: int) -> bool:
    """Remember ``signature`` until ``expires`` (Unix seconds); False if it is remembered already.

    Call inside a write transaction. Rows expired by ``now`` are deleted first (an index walk
    over the few that expired since the last request).
    """
    store.db.execute("DELETE FROM request_replays WHERE expires <= ?", (now,))
    cursor = store.db.execute(
        "INSERT INTO request_replays (signature, expires) VALUES (?, ?) ON CONFLICT (signature) DO NOTHING",
        (signature, expires),
    )
    return cursor.rowcount == 1


def remembered(store: Store, signature: str, now: int) -> bool:
    """Whether ``signature`` is remembered and not expired by ``now`` (a read: it never waits for a writer)."""
    row = store.db.execute(
        "SELECT 1 FROM request_replays WHERE signature = ? AND expires > ?", (signature, now)
    ).fetchone()
    return row is not None
