"""Each feed's usual number of new items per poll, and its last surge (``feed_volume``).

:mod:`botsvc.deliver.volume` computes the running average and decides what a surge is.
"""

from __future__ import annotations

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
