"""Each feed's usual number of new items per poll, and its last surge (``feed_volume``).

:mod:`botsvc.deliver.volume` computes the running average and decides what a surge is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from botsvc.store.store import Store, iso


def feed_volume(store: Store, feed: str) -> tuple[int, float] | None:
    """(polls counted, average new items per poll) of ``feed``; None before its first poll."""
    row = store.db.execute("SELECT polls, average FROM feed_volume WHERE feed = ?", (feed,)).fetchone()
    return (row[0], row[1]) if row is not None else None


def start_feed_volume(store: Store, feed: str) -> None:
    """A feed's first poll: a row with nothing counted yet."""
    store.db.execute("INSERT INTO feed_volume (feed) VALUES (?)", (feed,))


def save_feed_volume(store: Store, feed: str, polls: int, average: float) -> None:
    store.db.execute(
        "INSERT INTO feed_volume (feed, polls, average) VALUES (?, ?, ?) ON CONFLICT (feed) DO UPDATE SET "
        "polls = excluded.polls, average = excluded.average",
        (feed, polls, average),
    )


def count_unchanged_polls(store: Store, *, first: Sequence[str], later: Sequence[str], min_weight: float) -> None:
    """A poll that brought nothing new, for many feeds in two statements: ``first`` get their
    row (nothing counted on a first poll); ``later`` count one more poll, and their running
    average moves towards 0 by the poll's weight, ``max(1 / (polls + 1), min_weight)``."""
    conn = store.db.conn
    conn.executemany("INSERT INTO feed_volume (feed) VALUES (?) ON CONFLICT (feed) DO NOTHING", [(f,) for f in first])
    conn.executemany(
        "INSERT INTO feed_volume (feed, polls, average) VALUES (?, 1, 0.0) ON CONFLICT (feed) DO UPDATE SET "
        "polls = feed_volume.polls + 1, average = feed_volume.average - feed_volume.average * "
        "CASE WHEN 1.0 / (feed_volume.polls + 1) > ? THEN 1.0 / (feed_volume.polls + 1) ELSE ? END",
        [(feed, min_weight, min_weight) for feed in later],
    )


def record_surge(store: Store, feed: str, items: int, usual: float, now: datetime) -> None:
    store.db.execute(
        "UPDATE feed_volume SET surge_at = ?, surge_items = ?, surge_usual = ? WHERE feed = ?",
        (iso(now), items, usual, feed),
    )


def surges_since(store: Store, since: datetime) -> list[dict]:
    """``feed, surge_items, surge_usual, surge_at`` of the feeds that surged at or after ``since``."""
    return store.query(
        "SELECT feed, surge_items, surge_usual, surge_at FROM feed_volume WHERE surge_at >= ?", (iso(since),)
    )
