"""Channel subscriptions: who gets which topic, and when.

A mode is ``realtime`` (new events after each poll cycle, one message per cycle),
``hourly`` (on the hour) or ``daily HH:MM Area/City`` (once a day at a local time in an
IANA time zone). Subscriptions live in SQLite; ``[[subscriptions]]`` in ``feeds.toml``
and ``botsvc subscribe`` add them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botsvc.deliver.quiet import QuietHours, parse_quiet_hours
from botsvc.deliver.templates import template_from_json, template_to_json
from botsvc.deliver.webhook_urls import WebhookURLError, check_slack_webhook_url, parse_discord_webhook_url
from botsvc.models import Template
from botsvc.store.channel_workspace import adopt_workspace, known_workspace
from botsvc.store.store import Store, parse_iso, parse_iso_required
from botsvc.store.subscriptions import (
    copy_channel_controls,
    delete_subscriptions,
    insert_subscription,
    pause_subscription,
    renew_subscription,
    set_subscription_template,
    subscription_id_for,
    subscription_row,
    subscription_rows,
)

PLATFORMS = ("console", "slack", "slack-webhook", "discord", "discord-webhook")
_DISCORD_ID = re.compile(r"[0-9]{1,20}")
_DAILY = re.compile(r"^daily\s+([0-9]{1,2}):([0-9]{2})(?:\s+(\S+))?$", re.IGNORECASE)


class SubscriptionError(ValueError):
    """A bad platform, channel, topic or mode; the message says which and why."""


@dataclass(frozen=True)
class Mode:
    kind: str
    """'realtime', 'hourly' or 'daily'."""
    at: time | None = None
    zone: str = "UTC"

    def __str__(self) -> str:
        if self.kind == "daily" and self.at is not None:
            return f"daily {self.at.strftime('%H:%M')} {self.zone}"
        return self.kind

    def last_due(self, now: datetime) -> datetime | None:
        """The latest scheduled moment at or before ``now`` (None for realtime)."""
        if self.kind == "hourly":
            return now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        if self.kind == "daily" and self.at is not None:
            local = now.astimezone(ZoneInfo(self.zone))
            moment = datetime.combine(local.date(), self.at, tzinfo=local.tzinfo)
            if moment > local:
                moment = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=local.tzinfo)
            return moment.astimezone(timezone.utc)
        return None


def parse_mode(text: str | None) -> Mode:
    """``realtime`` (default), ``hourly`` or ``daily HH:MM [Area/City]`` (zone default UTC)."""
    value = " ".join((text or "realtime").split())
    if value.lower() in ("realtime", "hourly"):
        return Mode(value.lower())
    found = _DAILY.match(value)
    if not found:
        raise SubscriptionError(f'mode {value!r}: expected realtime, hourly or "daily HH:MM Area/City"')
    hour, minute, zone = int(found[1]), int(found[2]), found[3] or "UTC"
    if hour > 23 or minute > 59:
        raise SubscriptionError(f"mode {value!r}: {found[1]}:{found[2]} is not a time of day")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SubscriptionError(
            f"mode {value!r}: unknown time zone {zone!r} (use an IANA name such as Asia/Seoul)"
        ) from None
    return Mode("daily", time(hour, minute), zone)


@dataclass(frozen=True)
class Subscription:
    id: int
    platform: str
    workspace: str
    channel: str
    topic: str
    mode: Mode
    origin: str
    created_at: datetime
    last_digest_at: datetime | None
    paused_reason: str | None
    """Why delivery stopped on its own (the channel is gone, the bot was removed)."""
    muted_at: datetime | None = None
    """When someone paused the channel from chat (``/news pause``); None while it runs."""
    quiet: QuietHours | None = None
    template: Template = Template()
    """Which parts of each alert the channel sees, and its header (``/news template``)."""
    updates: str = "thread"
    """Later reports of an event told before: 'thread', 'channel' or 'none' (see ``/news updates``)."""

    @property
    def paused(self) -> bool:
        return self.paused_reason is not None

    @property
    def muted(self) -> bool:
        return self.muted_at is not None

    @property
    def zone(self) -> str:
        """The zone the channel's messages show times in: its quiet hours', else its daily mode's."""
        return self.quiet.zone if self.quiet else self.mode.zone

    def label(self) -> str:
        where = f"{self.workspace}/" if self.workspace else ""
        channel = self.channel if not self.platform.endswith("webhook") else _redact(self.channel)
        return f"{self.platform}:{where}{channel}"


def _redact(url: str) -> str:
    """A webhook URL is a secret: show its host and the start of its path only."""
    found = re.match(r"^(https?://[^/]+)(/[^?#]{0,12})?", url)
    return f"{found[1]}{found[2] or ''}…" if found else "webhook"


def _row(row: dict) -> Subscription:
    return Subscription(
        id=row["id"],
        platform=row["platform"],
        workspace=row["workspace"],
        channel=row["channel"],
        topic=row["topic"],
        mode=parse_mode(row["mode"]),
        origin=row["origin"],
        created_at=parse_iso_required(row["created_at"], f"subscription {row['id']}: created_at"),
        last_digest_at=parse_iso(row["last_digest_at"]),
        paused_reason=row["paused_reason"],
        muted_at=parse_iso(row["muted_at"]),
        quiet=parse_quiet_hours(row["quiet_hours"]) if row["quiet_hours"] else None,
        template=template_from_json(row["template"]),
        updates=row["updates"],
    )


def check_channel(platform: str, channel: str) -> None:
    """Refuse an address the platform could never deliver to, before it is stored.

    A webhook URL is checked as the adapter will read it, and the error never repeats it
    (it is a credential); a Discord channel is a numeric id; a Slack one has no spaces.
    """
    if platform not in PLATFORMS:
        raise SubscriptionError(f"platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    if not channel.strip() or len(channel) > 500:
        raise SubscriptionError("channel: give a channel id (or, for a webhook platform, its URL)")
    try:
        if platform == "slack-webhook":
            check_slack_webhook_url(channel)
        elif platform == "discord-webhook":
            parse_discord_webhook_url(channel)
    except WebhookURLError as exc:
        raise SubscriptionError(f"channel: {exc}") from None
    if platform == "discord" and not _DISCORD_ID.fullmatch(channel):
        raise SubscriptionError("channel: a Discord channel id is a number (Developer Mode → Copy Channel ID)")
    if platform == "slack" and any(char.isspace() for char in channel):
        raise SubscriptionError("channel: a Slack channel id has no spaces (e.g. C0123456789)")


def validate(platform: str, channel: str, topic: str, topics: list[str]) -> None:
    check_channel(platform, channel)
    if topic not in topics:
        raise SubscriptionError(f"topic {topic!r}: not in the configuration (known: {', '.join(topics)})")


def subscribe(
    store: Store,
    *,
    platform: str,
    channel: str,
    topic: str,
    mode: Mode,
    workspace: str = "",
    origin: str = "cli",
    now: datetime,
    template: Template | None = None,
) -> tuple[Subscription, bool]:
    """Add or update a subscription; re-subscribing changes the mode and resumes a paused one.

    ``template`` (validated by :mod:`botsvc.deliver.templates`) replaces the stored one;
    None keeps it (a new subscription takes the channel's, else the default).

    One subscription per channel whatever path made it: without a workspace, a Slack or
    Discord channel's is taken from its subscriptions made in chat; with one, the channel's
    subscriptions stored without it are adopted first (:mod:`botsvc.store.channel_workspace`).
    The returned subscription's ``workspace`` says which was used.

    Returns the subscription and whether it is new. Raises SubscriptionError for an
    address the platform could never deliver to.
    """
    check_channel(platform, channel)
    with store.atomic():
        workspace = _channel_workspace(store, platform, channel, workspace)
        existing = subscription_id_for(store, platform, workspace, channel, topic)
        if existing is not None:
            renew_subscription(store, existing, str(mode))
            if template is not None:
                set_template(store, [existing], template)
            return get(store, existing), False
        new_id = insert_subscription(
            store,
            platform=platform,
            workspace=workspace,
            channel=channel,
            topic=topic,
            mode=str(mode),
            origin=origin,
            now=now,
        )
        # A channel's pause, quiet hours, filters and template are the channel's: a new topic gets them too.
        copy_channel_controls(store, new_id, platform, workspace, channel)
        if template is not None:
            set_template(store, [new_id], template)
        return get(store, new_id), True


def _channel_workspace(store: Store, platform: str, channel: str, workspace: str) -> str:
    """The workspace to store the channel's subscriptions under (inside the caller's transaction)."""
    if workspace:
        adopt_workspace(store, platform, channel, workspace)
        return workspace
    return known_workspace(store, platform, channel)


def unsubscribe(store: Store, *, platform: str, channel: str, topic: str | None, workspace: str = "") -> int:
    """Remove this channel's subscriptions (to ``topic``, or all); returns how many.

    Their unsent messages (pending, held or failed) are dropped with them: nobody wants
    them any more, and a held one would otherwise wait forever.
    """
    with store.atomic():
        workspace = _channel_workspace(store, platform, channel, workspace)
    with store.atomic():
        return delete_subscriptions(store, platform, workspace, channel, topic)


def get(store: Store, subscription_id: int) -> Subscription:
    return _row(subscription_row(store, subscription_id))


def all_subscriptions(store: Store) -> list[Subscription]:
    return [_row(row) for row in subscription_rows(store)]


def pause(store: Store, subscription_id: int, reason: str, now: datetime) -> None:
    pause_subscription(store, subscription_id, reason, now)


def set_template(store: Store, subscription_ids: list[int], template: Template) -> None:
    """Store ``template`` (already validated) for these subscriptions; the default is stored as NULL."""
    with store.atomic():
        for subscription_id in subscription_ids:
            set_subscription_template(store, subscription_id, template_to_json(template))
