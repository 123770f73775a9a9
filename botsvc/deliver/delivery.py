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
from botsvc.store.delivery_log import (
    alerted_sizes,
    capped_event_ids,
    first_seen_since,
    grown_event_ids,
    new_event_ids,
    record_alert_message,
    record_told,
)
from botsvc.store.store import Store
from botsvc.store.subscriptions import set_last_digest, set_subscription_times
from botsvc.store.tenants import grown_for, hidden_feeds, tenant_key


def due_events(store: Store, subscription: Subscription) -> tuple[list[int], list[int]]:
    """(new event ids, grown event ids) not yet told to ``subscription``."""
    tenant = tenant_key(subscription.platform, subscription.workspace)
    new = new_event_ids(
        store, subscription.id, created=subscription.created_at, topic=subscription.topic, tenant=tenant
    )
    grown = grown_event_ids(store, subscription.id)
    return new, grown


def capped_events(store: Store, subscription: Subscription) -> list[int]:
    """Events held back by a feed's cap, not yet counted in a digest for ``subscription``."""
    tenant = tenant_key(subscription.platform, subscription.workspace)
    return capped_event_ids(
        store, subscription.id, created=subscription.created_at, topic=subscription.topic, tenant=tenant
    )


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
    skipped = first_seen_since(store, untold, since)
    record_told(store, subscription.id, [*skipped, *grown], now, summarised=True)
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
        set_subscription_times(store, subscription.id, created, last)
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
    # Filtered out: never told, now or later (nor as an update line).
    record_told(store, subscription.id, [*filtered, *filtered_grown, *filtered_capped], now, summarised=True)
    if subscription.mode.kind != "realtime":
        set_last_digest(store, subscription.id, now)
    title = _title(config, subscription)
    tenant = tenant_key(subscription.platform, subscription.workspace)
    hidden = hidden_feeds(store, tenant)
    if hidden and grown:  # grown only by another tenant's feeds: recorded as told, never shown
        visibly = grown_for(store, subscription.id, tenant, grown)
        record_told(store, subscription.id, [e for e in grown if e not in visibly], now, summarised=False)
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
        record_told(store, subscription.id, [*shown, *grown], now, summarised=False)
        record_told(store, subscription.id, counted, now, summarised=True)
        # The message that tells an event is the parent of its thread.
        record_alert_message(store, outbox_id, subscription.id, shown)
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
        record_told(store, subscription.id, grown, now, summarised=False)
        return [], []
    told = alerted_sizes(store, subscription.id, grown)
    threads = []
    for event_id, members in told.items():
        digest = thread_digest(store, event_id, members, title=title, zone=subscription.zone, now=now, hidden=hidden)
        if digest is not None:
            threads.append(digest)
    record_told(store, subscription.id, told, now, summarised=False)
    return [e for e in grown if e not in told], threads
