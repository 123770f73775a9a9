"""Which new events one digest shows when there are more than it may hold, and counting the rest.

A channel's digest shows at most ``[alerts] max_per_digest`` new events. They are taken
in turn from each feed (newest first within a feed), so one busy feed cannot crowd the
others out; the rest are counted per feed in one line each ("and 412 more from Feed X").
"""

from __future__ import annotations

from collections.abc import Sequence

from botsvc.models import DigestMore
from botsvc.store.digests import lead_feeds
from botsvc.store.store import Store

MAX_MORE_LINES = 5
"""Feeds named in a digest's count lines; smaller counts are merged into "other feeds"."""


def fair_share(store: Store, event_ids: Sequence[int], limit: int) -> tuple[list[int], list[int]]:
    """(events shown, events only counted): at most ``limit`` shown, taken from each feed in turn."""
    if len(event_ids) <= limit:
        return list(event_ids), []
    queues: dict[str, list[int]] = {}
    for event_id, feed in lead_feeds(store, event_ids).items():
        queues.setdefault(feed, []).append(event_id)
    shown: list[int] = []
    depth = 0
    while len(shown) < limit:
        for queue in queues.values():
            if depth < len(queue) and len(shown) < limit:
                shown.append(queue[depth])
        depth += 1
    chosen = set(shown)
    return shown, [event_id for event_id in event_ids if event_id not in chosen]


def count_by_feed(store: Store, event_ids: Sequence[int]) -> tuple[DigestMore, ...]:
    """One count per feed, largest first; beyond :data:`MAX_MORE_LINES` feeds, one for the rest."""
    counts: dict[str, int] = {}
    for feed in lead_feeds(store, event_ids).values():
        counts[feed] = counts.get(feed, 0) + 1
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    if len(ranked) > MAX_MORE_LINES:
        named, rest = ranked[: MAX_MORE_LINES - 1], ranked[MAX_MORE_LINES - 1 :]
        return (*(DigestMore(n, feed) for feed, n in named), DigestMore(sum(n for _, n in rest), None))
    return tuple(DigestMore(n, feed) for feed, n in ranked)
