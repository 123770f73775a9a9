"""Alerting an event opened by a person's missed-story report, in their own channel only.

Such an event is held back (``held_back = 'reported'``): the cycle never tells it to any
subscription. When the reporter manages the channel the report came from, the channel
gets the alert at once, as one digest of one event, recorded as told so the cycle's
updates and thread messages follow it there like any other alert. No other channel is
ever told: a report cannot make the bot speak where its maker has no say.
"""

from __future__ import annotations

from datetime import datetime

from botsvc.config import Config
from botsvc.deliver.delivery import _address, _title
from botsvc.deliver.digest import build_digest
from botsvc.deliver.outbox import enqueue
from botsvc.deliver.subscriptions import Subscription
from botsvc.store.delivery_log import record_alert_message, record_told
from botsvc.store.store import Store


def alert_reported_event(
    store: Store, config: Config, subscriptions: list[Subscription], event_id: int, topics: list[str], now: datetime
) -> int | None:
    """Queue the event's alert for the channel of ``subscriptions`` (one of its topic, else the first);
    returns the outbox id, or None when the channel has no subscription."""
    if not subscriptions:
        return None
    subscription = next((s for s in subscriptions if s.topic in topics), subscriptions[0])
    digest = build_digest(
        store,
        [event_id],
        title=_title(config, subscription),
        now=now,
        zone=subscription.zone,
        template=subscription.template,
    )
    with store.atomic():
        outbox_id = enqueue(store, _address(subscription), digest, subscription_id=subscription.id, now=now)
        record_told(store, subscription.id, [event_id], now, summarised=False)
        record_alert_message(store, outbox_id, subscription.id, [event_id])
    return outbox_id
