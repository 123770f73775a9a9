"""Platform-neutral data models shared by every pipeline step.

The core speaks only these types; adapters render them for their platform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

Decision = Literal["new", "duplicate", "irrelevant"]


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One feed entry after normalisation (plain-text summary, UTC date, canonical link).

    Slotted: a poll cycle holds every item it fetched until they are judged (tens of thousands).
    """

    feed: str
    """Name of the feed it came from (config name, or the URL for ad-hoc polls)."""
    guid: str
    """The entry's id; falls back to the link, then to a hash of title+summary."""
    link: str
    """Canonical link: tracking parameters and fragments removed."""
    title: str
    summary: str
    published: datetime | None
    """Publication time in UTC, or None when the feed gives no usable date."""
    source: str
    """Outlet name shown to users (the feed's configured name or its title)."""
    language: str | None = None
    body: str = ""
    """Full text when the feed carries it (content:encoded); plain text."""
    byline: str = ""
    """Who the entry itself names as its origin (RSS ``<source>``, else its author or creator).

    Aggregator feeds carry many outlets; this tells their reports apart where ``source``
    (the feed) cannot.
    """
    estimated_published: datetime | None = None
    """For an undated item only: the date of its nearest dated neighbour in the feed.

    Feeds list entries in order, so an undated entry was published about when the entry
    beside it was. Used to place the item in time for event windows, never shown as its date.
    """

    @property
    def outlet_key(self) -> str:
        """Identity of the newsroom behind the item: the feed, and the entry's byline when it names one."""
        return f"{self.source}\x1f{self.byline}" if self.byline else self.source

    @property
    def event_time(self) -> datetime | None:
        """The best known publication time: the real one, else the estimate."""
        return self.published or self.estimated_published


@dataclass(slots=True)
class ItemOutcome:
    """What the pipeline decided about one feed item, and why (slotted: a cycle keeps one per item)."""

    item: FeedItem
    decision: Decision
    reason: str
    topics: Sequence[str] = ()
    """The topics that matched (a list), empty for an item kept out (shared, not one list per item)."""
    matched_keywords: Sequence[str] = ()
    article_id: int | None = None
    event_id: int | None = None
    duplicate_of: int | None = None
    """Article id of the earlier copy this item repeats, when duplicate."""
    similarity: float | None = None
    relevance: dict | None = None
    """Which judgement kept the item (``rules`` or ``structure``) and on what words."""
    held_back: str | None = None
    """Why a ``new`` item's event is stored but not alerted: ``backfill`` or ``capped``."""
    repeat: bool = False
    """An exact repeat: one of the item's identity keys was seen before (nothing stored for it)."""

    @property
    def alerted(self) -> bool:
        """The item opened an event that goes to subscribed channels."""
        return self.decision == "new" and self.held_back is None


@dataclass(frozen=True)
class DigestStory:
    """One article as shown in a digest."""

    title: str
    source: str
    link: str
    published: datetime | None
    summary: str = ""
    """The first sentence of the report's summary, clipped; filled only when a template shows it."""


@dataclass(frozen=True)
class DigestEvent:
    """An event in a digest: its lead story plus the other sources that reported it."""

    event_id: int
    headline: DigestStory
    others: tuple[DigestStory, ...] = ()
    update: bool = False
    """True when the event was posted before and only grew (shown as an update line)."""


@dataclass(frozen=True)
class ThreadReply:
    """A digest that is one event's later reports, meant for the thread of the alert that told it.

    Its events hold one entry whose stories are the new reports. Where there is no thread
    (the alert is gone, the platform has none) it is posted in the channel, so it names
    the event by its first headline.
    """

    event_id: int
    sources: int
    """How many outlets have now reported the event."""
    first_title: str
    """The headline of the alert that first told the event."""


@dataclass(frozen=True)
class DigestMore:
    """New events a digest only counts, not shows (over a cap): one line per feed."""

    count: int
    feed: str | None
    """The feed they came from; None for "other feeds" (the smallest counts, merged)."""

    def line(self, escape: Callable[[str], str] = str) -> str:
        """The line every adapter shows; ``escape`` makes the feed name inert on its platform."""
        source = escape(self.feed) if self.feed else "other feeds"
        return f"and {self.count} more from {source}: see `/news recent`"


TEMPLATE_FIELDS = ("outlet", "time", "link", "sources", "summary")
"""The parts of an alert a subscription's template can show or hide, in display order."""
DEFAULT_FIELDS = frozenset({"outlet", "time", "link", "sources"})


@dataclass(frozen=True)
class Template:
    """Which parts of each alert a subscription shows, and an optional header of its own.

    The default is the digest as it always looked. ``header`` is untrusted user text
    (validated by :mod:`botsvc.deliver.templates`, escaped by every adapter like feed text).
    """

    fields: frozenset[str] = DEFAULT_FIELDS
    header: str | None = None

    def shows(self, field_name: str) -> bool:
        return field_name in self.fields

    @property
    def is_default(self) -> bool:
        return self.fields == DEFAULT_FIELDS and self.header is None


@dataclass(frozen=True)
class Digest:
    """What one channel should be told: new (or grown) events, newest first."""

    title: str
    events: tuple[DigestEvent, ...]
    generated_at: datetime
    zone: str = "UTC"
    """The subscriber's IANA time zone (its daily mode's), in which adapters show times (:func:`local_time`)."""
    more: tuple[DigestMore, ...] = ()
    """New events over the caps, counted per feed instead of shown."""
    thread: ThreadReply | None = None
    """Set when this digest is an event's later reports, for the thread of its alert."""
    template: Template = field(default_factory=Template)
    """What the subscriber chose to see of each alert, and its header."""

    @property
    def heading(self) -> str:
        """The digest header's text: the subscription's custom header, else the topic title."""
        return self.template.header or self.title


def local_time(moment: datetime | None, zone: str = "UTC") -> str:
    """A stored (UTC) moment in ``zone`` with the zone's abbreviation ("22 Aug 2019 19:00 KST");
    a naive one is UTC."""
    if moment is None:
        return "date unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(ZoneInfo(zone))
    name = local.strftime("%Z")
    if name[:1] in "+-":  # zones without a letter abbreviation: "+04" reads better as "UTC+04"
        name = "UTC" + name
    return local.strftime("%d %b %Y %H:%M ") + name


@dataclass(frozen=True)
class ChannelAddress:
    """Where a message goes: platform (adapter name), channel id, and workspace/guild if any."""

    platform: str
    channel: str
    workspace: str | None = None


@dataclass(frozen=True)
class CommandContext:
    """Who runs a command, and where: filled in by the adapter that received it."""

    platform: str
    channel: str
    workspace: str = ""
    user: str = ""
    can_manage: bool = False
    """May change subscriptions and feeds (Discord: Manage Channels; Slack: configured admins)."""


@dataclass(frozen=True)
class ReplyLine:
    text: str
    link: str | None = None


@dataclass(frozen=True)
class CommandReply:
    """A platform-neutral answer; adapters render it (Block Kit, embed, plain text)."""

    title: str
    lines: tuple[ReplyLine, ...] = ()
    ephemeral: bool = True
    """Only the caller sees it, where the platform allows."""
    ok: bool = True
    """False for refusals and usage errors."""
    records: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    """The answer as data, one JSON-ready object per result (``botsvc search --json``); chat ignores it."""

    def as_text(self) -> str:
        body = [f"  {line.text}" + (f"\n    {line.link}" if line.link else "") for line in self.lines]
        return "\n".join([self.title, *body])
