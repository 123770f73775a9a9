"""Marking events held back from alerts (``events.held_back``) as a poll's limits decide.

:mod:`botsvc.deliver.alert_limits` decides which events are held back and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from botsvc.store.portable import json_items
from botsvc.store.store import Store


def set_held_back(store: Store, marks: Iterable[tuple[str | None, int | None]]) -> None:
    """Set each (reason, event id): the reason it is held back, or None to alert it."""
    store.db.conn.executemany("UPDATE events SET held_back = ? WHERE id = ?", list(marks))


def reclassify_held_back(store: Store, feeds: Sequence[str], old: str, new: str) -> int:
    """Events of ``feeds``' reports held back for ``old`` are held back for ``new`` instead; returns how many.

    One statement for any number of feeds (a cycle's, not one per feed).
    """
    if not feeds:
        return 0
    names = json_items(store.dialect, "?", "j")
    cursor = store.db.execute(
        "UPDATE events SET held_back = ? WHERE held_back = ? "
        f"AND id IN (SELECT a.event_id FROM articles a WHERE a.feed IN (SELECT value FROM {names}))",
        (new, old, json.dumps(list(feeds))),
    )
    return cursor.rowcount
