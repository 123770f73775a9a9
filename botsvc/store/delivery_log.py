"""What each subscription was told (``deliveries``), and which events it has not been told yet.

:mod:`botsvc.deliver.delivery` decides what a channel is told; these find the events due
to a subscription and record them as told (with the event's size then, so its growth
shows later) and which outbox message alerted each, the parent of its thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from botsvc.store.portable import json_ids, json_items
from botsvc.store.store import Store, iso
from botsvc.store.tenants import HIDDEN_FEEDS

_UNTOLD = (
    "SELECT e.id FROM events e WHERE e.seeded = 0 AND e.first_seen >= :created AND e.held_back {} "
    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = :sub AND d.event_id = e.id) "
    "AND NOT EXISTS (SELECT 1 FROM event_mutes m WHERE m.subscription_id = :sub AND m.event_id = e.id) "
    # {topics}: the article's JSON list of topics, one row each (per database).
    "AND EXISTS (SELECT 1 FROM articles a, {topics} WHERE a.event_id = e.id AND t.value = :topic "
    f"AND a.feed NOT IN ({HIDDEN_FEEDS})) "  # a report of the topic this tenant may see
    "ORDER BY e.id"
)
_NEW = "IS NULL"
_CAPPED = "= 'capped'"  # backfilled events are never told, not even counted


def _untold(store: Store, held_back: str) -> str:
    return _UNTOLD.format(held_back, topics=json_items(store.dialect, "a.topics", "t"))


_GROWN = (
    "SELECT e.id FROM events e JOIN deliveries d ON d.event_id = e.id AND d.subscription_id = ? "
    "WHERE e.member_count > d.member_count AND d.summarised = 0 "
    "AND NOT EXISTS (SELECT 1 FROM event_mutes m WHERE m.subscription_id = d.subscription_id AND m.event_id = e.id) "
    "ORDER BY e.id"
)
_TOLD = (
    "INSERT INTO deliveries (subscription_id, event_id, member_count, queued_at, summarised) "
    "SELECT ?, id, member_count, ?, ? FROM events WHERE id = ? "
    "ON CONFLICT (subscription_id, event_id) DO UPDATE SET member_count = excluded.member_count, "
    "queued_at = excluded.queued_at"
)
_ALERTED = (  # {ids}: any number of ids in one parameter, a JSON list
    "SELECT event_id, member_count FROM deliveries WHERE subscription_id = ? AND alert_outbox_id IS NOT NULL "
    "AND event_id IN ({ids})"
)


def _untold_params(subscription_id: int, created: datetime, topic: str, tenant: str) -> dict[str, object]:
    return {"created": iso(created), "sub": subscription_id, "topic": topic, "tenant": tenant}


def new_event_ids(store: Store, subscription_id: int, *, created: datetime, topic: str, tenant: str) -> list[int]:
    """Events of ``topic`` first seen since ``created``, never told to the subscription nor muted for it,
    with a report ``tenant`` may see; not held back. Oldest first."""
    return [r["id"] for r in store.query(_untold(store, _NEW), _untold_params(subscription_id, created, topic, tenant))]


def capped_event_ids(store: Store, subscription_id: int, *, created: datetime, topic: str, tenant: str) -> list[int]:
    """As :func:`new_event_ids`, for the events held back by a feed's cap (counted, never shown)."""
    return [
        r["id"] for r in store.query(_untold(store, _CAPPED), _untold_params(subscription_id, created, topic, tenant))
    ]


def grown_event_ids(store: Store, subscription_id: int) -> list[int]:
    """Events told to the subscription (not only counted) that have more reports now, not muted for it."""
    return [r["id"] for r in store.query(_GROWN, (subscription_id,))]


def first_seen_since(store: Store, event_ids: Sequence[int], since: datetime) -> list[int]:
    """Those of ``event_ids`` first seen at or after ``since``."""
    if not event_ids:
        return []
    marks = ", ".join("?" * len(event_ids))
    return [
        row["id"]
        for row in store.query(
            f"SELECT id FROM events WHERE id IN ({marks}) AND first_seen >= ?", (*event_ids, iso(since))
        )
    ]


def record_told(
    store: Store, subscription_id: int, event_ids: Iterable[int], now: datetime, *, summarised: bool
) -> None:
    """Record the events as told to the subscription at ``now``, at their present size.

    ``summarised``: only counted or skipped, never shown; such an event's growth is never told.
    """
    store.db.conn.executemany(_TOLD, [(subscription_id, iso(now), int(summarised), e) for e in event_ids])


def record_alert_message(store: Store, outbox_id: int, subscription_id: int, event_ids: Iterable[int]) -> None:
    """Outbox message ``outbox_id`` is the one that alerted these events to the subscription."""
    store.db.conn.executemany(
        "UPDATE deliveries SET alert_outbox_id = ? WHERE subscription_id = ? AND event_id = ?",
        [(outbox_id, subscription_id, event_id) for event_id in event_ids],
    )


def alerted_sizes(store: Store, subscription_id: int, event_ids: Sequence[int]) -> dict[int, int]:
    """Of ``event_ids``, those whose alert message is known: the number of reports told then."""
    return {
        row["event_id"]: row["member_count"]
        for row in store.query(
            _ALERTED.format(ids=json_ids(store.dialect, "?")), (subscription_id, json.dumps(list(event_ids)))
        )
    }


def alert_message(store: Store, subscription_id: int, event_id: int) -> dict | None:
    """``id, digest, message_ids`` of the outbox message that alerted the event to the subscription."""
    rows = store.query(
        "SELECT o.id, o.digest, o.message_ids FROM deliveries d JOIN outbox o ON o.id = d.alert_outbox_id "
        "WHERE d.subscription_id = ? AND d.event_id = ?",
        (subscription_id, event_id),
    )
    return rows[0] if rows else None
