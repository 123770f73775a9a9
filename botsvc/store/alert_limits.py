"""Marking events held back from alerts (``events.held_back``) as a poll's limits decide.

:mod:`botsvc.deliver.alert_limits` decides which events are held back and why.
"""

from __future__ import annotations

from collections.abc import Iterable

from botsvc.store.store import Store


def set_held_back(store: Store, marks: Iterable[tuple[str | None, int | None]]) -> None:
    """Set each (reason, event id): the reason it is held back, or None to alert it."""
    store.db.conn.executemany("UPDATE events SET held_back = ? WHERE id = ?", list(marks))


def reclassify_held_back(store: Store, feed: str, old: str, new: str) -> int:
    """Events of ``feed``'s reports held back for ``old`` are held back for ``new`` instead; returns how many."""
    cursor = store.db.execute(
        "UPDATE events SET held_back = ? WHERE held_back = ? AND id IN (SELECT event_id FROM articles WHERE feed = ?)",
        (new, old, feed),
    )
    return cursor.rowcount
