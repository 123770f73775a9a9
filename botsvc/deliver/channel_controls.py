"""What a channel switches from chat for all its subscriptions: pause, quiet hours and updates.

Pausing (``muted_at``) is kept apart from ``paused_at``/``paused_reason``, which mean
the channel is gone; re-subscribing clears only the latter. On resume, events opened
while paused are recorded as told without being told, so nothing floods in.
"""

from __future__ import annotations

from datetime import datetime

from botsvc.deliver.delivery import skip_untold
from botsvc.deliver.quiet import QuietHours
from botsvc.deliver.subscriptions import Subscription
from botsvc.store.store import Store
from botsvc.store.subscriptions import mute_subscription, unmute_subscription
from botsvc.store.subscriptions import set_quiet_hours as store_quiet_hours
from botsvc.store.subscriptions import set_updates as store_updates


def mute(store: Store, subscriptions: list[Subscription], now: datetime) -> None:
    with store.atomic():
        for sub in subscriptions:
            if not sub.muted:
                mute_subscription(store, sub.id, now)


def resume(store: Store, subscriptions: list[Subscription], now: datetime) -> int:
    """Unpause; returns how many events opened while paused are skipped for good."""
    skipped = 0
    with store.atomic():
        for sub in subscriptions:
            if sub.muted_at is not None:
                skipped += skip_untold(store, sub, sub.muted_at, now)
                unmute_subscription(store, sub.id)
    return skipped


def set_quiet_hours(store: Store, subscriptions: list[Subscription], quiet: QuietHours | None) -> None:
    with store.atomic():
        for sub in subscriptions:
            store_quiet_hours(store, sub.id, str(quiet) if quiet else None)


UPDATE_MODES = ("thread", "channel", "none")
"""Where later reports of an event told before go (realtime only; digests fold them in):
the alert's thread (the alert shows the running count), an update line in the channel, or nowhere."""


def set_updates(store: Store, subscriptions: list[Subscription], updates: str) -> None:
    if updates not in UPDATE_MODES:
        raise ValueError(f"updates: expected one of {', '.join(UPDATE_MODES)}")
    with store.atomic():
        for sub in subscriptions:
            store_updates(store, sub.id, updates)
