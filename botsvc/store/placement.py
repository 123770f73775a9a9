"""Placing reports into events when several processes share one database.

Every process keeps its own in-memory index of the stored reports
(:class:`~botsvc.store.events.EventBook`). Two of them judging two rewrites of one story
at the same moment must not both decide "new event": each takes the
:func:`placement_turn` before it looks for the story's event, reads what the others
stored since its last look (:func:`placement_clock`, :func:`placed_since`; migration
``placement_clock``), and keeps the turn until the report is stored and committed.

* SQLite: the write transaction (``BEGIN IMMEDIATE``, :meth:`Store.atomic`) already lets
  one writer in at a time, so the turn only makes sure one is open.
* PostgreSQL: ``pg_advisory_xact_lock`` on one key for the whole database, released when
  the transaction ends. One key, not one per topic: the index compares a report with
  every stored report, whatever topic matched it, so two reports of one story matched by
  different topics must wait for each other too.

The turn is for the milliseconds of placement: never take it across fetching or parsing.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from botsvc.store import errors
from botsvc.store.store import OUTLET_SEPARATOR, Store

PLACEMENT_SCOPE = "botsvc:event-placement"
"""What the PostgreSQL advisory lock is taken on (one similarity index per database)."""


@dataclass
class LockWaits:
    """Seconds this process spent waiting for the placement turn's lock (the latest ``keep`` waits).

    A wait includes the lock statement's round trip to the server. One append per
    placement: the cost of watching is a clock read, not a statement.
    """

    keep: int = 10000
    count: int = 0
    seconds: deque[float] = field(default_factory=deque)

    def record(self, waited: float) -> None:
        self.count += 1
        self.seconds.append(waited)
        if len(self.seconds) > self.keep:
            self.seconds.popleft()

    def percentile(self, fraction: float) -> float:
        """The wait at ``fraction`` (0-1) of the kept waits, nearest rank; 0 when none were kept."""
        ordered = sorted(self.seconds)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    def summary(self) -> str:
        return (
            f"{self.count} wait(s), p50 {self.percentile(0.5) * 1000:.2f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.2f} ms, max {self.percentile(1.0) * 1000:.2f} ms"
        )


LOCK_WAITS = LockWaits()
"""This process's waits on PostgreSQL's placement lock (a queue worker logs them when it stops)."""


def lock_key(scope: str = PLACEMENT_SCOPE) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (same in every process and version)."""
    return int.from_bytes(hashlib.blake2b(scope.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


@contextmanager
def placement_turn(store: Store, scope: str = PLACEMENT_SCOPE) -> Iterator[Store]:
    """Hold the database's placement turn for what runs inside (find the event, store the report).

    Inside a transaction the turn lasts until that transaction ends (the caller's commit
    makes the placement visible to others before anyone else may place); outside one,
    a write transaction is opened for the block and committed after it.
    """
    if getattr(store, "dialect", "sqlite") == "postgres":
        with store.atomic():  # inside the caller's transaction a savepoint: the lock outlives it
            asked = time.perf_counter()
            store.query("SELECT pg_advisory_xact_lock(?)", (lock_key(scope),))
            LOCK_WAITS.record(time.perf_counter() - asked)
            yield store
        return
    if store.db.conn.in_transaction:
        # Store.atomic's BEGIN IMMEDIATE holds the write lock already. (In a deferred
        # transaction the first write would fail, busy, had another process written since
        # this one read: a placement is refused, never made against a stale index.)
        yield store
        return
    with store.atomic():  # BEGIN IMMEDIATE: the write lock, taken before reading
        yield store


@dataclass(frozen=True)
class Clock:
    """Where the database's placements stand (see migration ``placement_clock``)."""

    seq: int
    """The number the latest stored or moved article took."""
    regrouped: int
    """Bumped whenever a stored fingerprint was made again: indexes must be read again in full."""


def placement_clock(store: Store) -> Clock | None:
    """The database's placement clock (one primary-key read); None for a database without one."""
    try:
        row = store.db.execute("SELECT seq, regrouped FROM placement_clock WHERE id = 1").fetchone()
    except errors.DatabaseError:  # not migrated yet (a reader opened without migrating)
        return None
    return Clock(int(row[0]), int(row[1])) if row else None


def placed_since(store: Store, seq: int) -> list[dict]:
    """``id, event_id, fingerprint, event_time, outlet, placed_seq`` of the articles stored or
    moved after clock number ``seq``, in that order (as :meth:`Store.article_fingerprints`)."""
    return store.query(
        "SELECT id, event_id, fingerprint, event_time, placed_seq, "
        "CASE WHEN byline = '' THEN source ELSE source || ? || byline END AS outlet "
        "FROM articles WHERE placed_seq > ? ORDER BY placed_seq",
        (OUTLET_SEPARATOR, seq),
    )
