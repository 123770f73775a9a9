"""Reads that build digests: the lead feed of each event, the reports an event gained.

:mod:`botsvc.deliver.digest` and :mod:`botsvc.deliver.fairshare` decide what a digest shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from botsvc.store.portable import json_ids
from botsvc.store.store import Store


def lead_feeds(store: Store, event_ids: Sequence[int]) -> dict[int, str]:
    """The feed of each event's first stored report ('' for none), newest event first."""
    rows = store.query(  # any number of ids in one parameter, a JSON list
        "SELECT e.id, (SELECT a.feed FROM articles a WHERE a.event_id = e.id ORDER BY a.id LIMIT 1) AS feed "
        f"FROM events e WHERE e.id IN ({json_ids(store.dialect, '?')}) "
        "ORDER BY coalesce(e.first_published, e.first_seen) DESC, e.id DESC",
        (json.dumps(list(event_ids)),),
    )
    return {row["id"]: row["feed"] or "" for row in rows}


def newest_reports(store: Store, event_id: int, count: int) -> list[dict]:
    """``title, source, url, published, feed`` of the event's ``count`` last stored reports, newest first."""
    return store.query(
        "SELECT title, source, url, published, feed FROM articles WHERE event_id = ? ORDER BY id DESC LIMIT ?",
        (event_id, count),
    )
