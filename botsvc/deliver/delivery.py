"""Deciding what each subscription is told, and writing it to the outbox.

For a subscription: events of its topic first seen since it subscribed and never told
to it are new alerts; events told before that have grown since (more reports) come as
update lines, never as new alerts. Realtime subscriptions are served after each poll
cycle; hourly and daily ones when their scheduled moment has passed. A channel's filters
drop events before a digest is built (recorded as told, so they never come later), and an
event muted for the subscription from an alert's buttons (``event_mutes``) is never told
again, not even as an update line; a
paused channel or one inside its quiet hours is not served (see :func:`is_due`).

One digest shows at most ``[alerts] max_per_digest`` new events (see
:mod:`botsvc.deliver.fairshare`); those over it, and those held back by a feed's cap
(:mod:`botsvc.deliver.alert_limits`), are counted in one line per feed and recorded as told, so they
never arrive later as a burst or as update lines.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

from botsvc.clocks import not_after
from botsvc.config import Config
from botsvc.deliver.digest import build_digest, thread_digest
from botsvc.deliver.fairshare import count_by_feed, fair_share
from botsvc.deliver.filters import split_by_filters
from botsvc.deliver.outbox import enqueue
from botsvc.deliver.subscriptions import Subscription, all_subscriptions
from botsvc.models import ChannelAddress, Digest
from botsvc.store.store import Store, iso
from botsvc.store.tenants import HIDDEN_FEEDS, grown_for, hidden_feeds, tenant_key

_UNTOLD = (
    "SELECT e.id FROM events e WHERE e.seeded = 0 AND e.first_seen >= :created AND e.held_back IS {} "
    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = :sub AND d.event_id = e.id) "
    "AND NOT EXISTS (SELECT 1 FROM event_mutes m WHERE m.subscription_id = :sub AND m.event_id = e.id) "
    "AND EXISTS (SELECT 1 FROM articles a, json_each(a.topics) t WHERE a.event_id = e.id AND t.value = :topic "
    f"AND a.feed NOT IN ({HIDDEN_FEEDS})) "  # a report of the topic this tenant may see
    "ORDER BY e.id"
)
_NEW = _UNTOLD.format("NULL")
_CAPPED = _UNTOLD.format("'capped'")  # backfilled events are never told, not even counted
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


def _untold_params(subscription: Subscription) -> dict[str, object]:
    return {
        "created": iso(subscription.created_at),
        "sub": subscription.id,
        "topic": subscription.topic,
        "tenant": tenant_key(subscription.platform, subscription.workspace),
    }


_ALERTED = (
    "SELECT event_id, member_count FROM deliveries WHERE subscription_id = ? AND alert_outbox_id IS NOT NULL "
    "AND event_id IN (SELECT value FROM json_each(?))"
)


def due_events(store: Store, subscription: Subscription) -> tuple[list[int], list[int]]:
    """(new event ids, grown event ids) not yet told to ``subscription``."""
    new = [r["id"] for r in store.query(_NEW, _untold_params(subscription))]
    grown = [r["id"] for r in store.query(_GROWN, (subscription.id,))]
    return new, grown


def capped_events(store: Store, subscription: Subscription) -> list[int]:
    """Events held back by a feed's cap, not yet counted in a digest for ``subscription``."""
    return [r["id"] for r in store.query(_CAPPED, _untold_params(subscription))]


def is_due(subscription: Subscription, now: datetime, *, realtime: bool) -> bool:
    """Realtime: after each poll. Scheduled: once per scheduled moment passed since the last
    digest, or since subscribing (a new hourly subscription first fires on the next hour).

    Never while paused or inside quiet hours. A realtime subscription with quiet hours is
    also served by the minute's delivery, so what waited goes out when the window ends
    even if no poll follows.
    """
    if subscription.paused or subscription.muted:
        return False
    if subscription.quiet is not None and subscription.quiet.is_quiet(now):
        return False
    moment = subscription.mode.last_due(now)
    if moment is None:
        return realtime or subscription.quiet is not None
    return (subscription.last_digest_at or subscription.created_at) < moment


def skip_untold(store: Store, subscription: Subscription, since: datetime, now: datetime) -> int:
    """Record the events first seen at or after ``since`` and not yet told to ``subscription``
    (and the growth of events told before) as told without telling them, so they never
    arrive; returns how many new events were skipped. For resuming a paused channel: events
    from before the pause still come. Call inside the caller's transaction."""
    new, grown = due_events(store, subscription)
    untold = [*new, *capped_events(store, subscription)]
    marks = ", ".join("?" * len(untold))
    skipped = [
        row["id"]
        for row in store.query(
            f"SELECT id FROM events WHERE id IN ({marks}) AND first_seen >= ?", (*untold, iso(since))
        )
    ]
    store.db.conn.executemany(_TOLD, [(subscription.id, iso(now), 1, e) for e in [*skipped, *grown]])
    return len(skipped)


def with_sane_times(store: Store, subscription: Subscription, now: datetime) -> Subscription:
    """``subscription`` with moments written by a clock that ran ahead set to ``now`` (and stored so).

    A creation time in the future would hide every event until then, a last digest in the
    future would skip every scheduled moment until then.
    """
    label = f"subscription {subscription.id}"
    created = not_after(subscription.created_at, now, what=f"{label}: created")
    last = not_after(subscription.last_digest_at, now, what=f"{label}: last digest")
    if (created, last) == (subscription.created_at, subscription.last_digest_at):
        return subscription
    with store.atomic():
        store.db.execute(
            "UPDATE subscriptions SET created_at = ?, last_digest_at = ? WHERE id = ?",
            (iso(created), iso(last), subscription.id),
        )
    return replace(subscription, created_at=created, last_digest_at=last)


def repair_future_times(store: Store, now: datetime) -> None:
    """Set every subscription's moments written by a clock that ran ahead to ``now`` (at start-up)."""
    for subscription in all_subscriptions(store):
        with_sane_times(store, subscription, now)


def queue_digests(store: Store, config: Config, now: datetime, *, realtime: bool = True) -> list[int]:
    """Write one digest per due subscription that has something to tell; returns outbox ids.

    ``realtime``: also serve realtime subscriptions (after a poll cycle). Each digest and
    the record of what it tells are written in one transaction, so an event is queued
    for a channel exactly once.
    """
    queued: list[int] = []
    for subscription in all_subscriptions(store):
        subscription = with_sane_times(store, subscription, now)
        if is_due(subscription, now, realtime=realtime):
            with store.atomic():
                queued += _queue_for(store, config, subscription, now)
    return queued


def _queue_for(store: Store, config: Config, subscription: Subscription, now: datetime) -> list[int]:
    """The digest (and thread messages) due to one subscription; call inside a transaction."""
    new, grown = due_events(store, subscription)
    new, filtered = split_by_filters(store, subscription.id, new)
    grown, filtered_grown = split_by_filters(store, subscription.id, grown)
    capped, filtered_capped = split_by_filters(store, subscription.id, capped_events(store, subscription))
    store.db.conn.executemany(  # filtered out: never told, now or later (nor as an update line)
        _TOLD,
        [(subscription.id, iso(now), 1, e) for e in [*filtered, *filtered_grown, *filtered_capped]],
    )
    if subscription.mode.kind != "realtime":
        store.db.execute("UPDATE subscriptions SET last_digest_at = ? WHERE id = ?", (iso(now), subscription.id))
    title = _title(config, subscription)
    tenant = tenant_key(subscription.platform, subscription.workspace)
    hidden = hidden_feeds(store, tenant)
    if hidden and grown:  # grown only by another tenant's feeds: recorded as told, never shown
        visibly = grown_for(store, subscription.id, tenant, grown)
        store.db.conn.executemany(_TOLD, [(subscription.id, iso(now), 0, e) for e in grown if e not in visibly])
        grown = [e for e in grown if e in visibly]
    grown, threads = _split_updates(store, subscription, grown, title=title, now=now, hidden=hidden)
    queued = []
    shown, over = fair_share(store, new, config.alerts.max_per_digest)
    counted = [*over, *capped]
    digest = build_digest(
        store,
        shown,
        updates=grown,
        now=now,
        title=title,
        zone=subscription.zone,
        more=tuple(replace(m, feed=None) if m.feed in hidden else m for m in count_by_feed(store, counted)),
        template=subscription.template,
        hidden=hidden,
    )
    if digest.events or digest.more:
        outbox_id = enqueue(store, _address(subscription), digest, subscription_id=subscription.id, now=now)
        queued.append(outbox_id)
        store.db.conn.executemany(
            _TOLD,
            [(subscription.id, iso(now), 0, event_id) for event_id in [*shown, *grown]]
            + [(subscription.id, iso(now), 1, event_id) for event_id in counted],
        )
        store.db.conn.executemany(  # the message that tells an event is the parent of its thread
            "UPDATE deliveries SET alert_outbox_id = ? WHERE subscription_id = ? AND event_id = ?",
            [(outbox_id, subscription.id, event_id) for event_id in shown],
        )
    for thread in threads:  # after the channel's digest: new alerts first
        queued.append(enqueue(store, _address(subscription), thread, subscription_id=subscription.id, now=now))
    return queued


def _title(config: Config, subscription: Subscription) -> str:
    topic = config.topic(subscription.topic) if subscription.topic in {t.name for t in config.topics} else None
    return topic.title if topic else subscription.topic


def _address(subscription: Subscription) -> ChannelAddress:
    return ChannelAddress(subscription.platform, subscription.channel, subscription.workspace or None)


def _split_updates(
    store: Store,
    subscription: Subscription,
    grown: list[int],
    *,
    title: str,
    now: datetime,
    hidden: frozenset[str] = frozenset(),
) -> tuple[list[int], list[Digest]]:
    """Grown events as the channel's ``updates`` setting says: (those left for update lines,
    one thread digest per event whose alert is known).

    Digest modes fold every update into their digest, as does ``channel``. ``none`` records
    the growth as told and shows nothing. ``thread`` records each grown event whose alert
    is known as told, for its own message in that alert's thread; an event alerted before
    threads were kept stays an update line.
    """
    if subscription.mode.kind != "realtime" or subscription.updates == "channel" or not grown:
        return grown, []
    if subscription.updates == "none":
        store.db.conn.executemany(_TOLD, [(subscription.id, iso(now), 0, e) for e in grown])
        return [], []
    told = {row["event_id"]: row["member_count"] for row in store.query(_ALERTED, (subscription.id, json.dumps(grown)))}
    threads = []
    for event_id, members in told.items():
        digest = thread_digest(store, event_id, members, title=title, zone=subscription.zone, now=now, hidden=hidden)
        if digest is not None:
            threads.append(digest)
    store.db.conn.executemany(_TOLD, [(subscription.id, iso(now), 0, e) for e in told])
    return [e for e in grown if e not in told], threads
