"""The platform-neutral command core behind ``/news …`` and the operator CLI.

Text in, :class:`~botsvc.models.CommandReply` out: :func:`parse` turns the words after
``/news`` into a :class:`Command` (or raises :class:`UsageError`), and
:class:`CommandCore` executes it against the store. Adapters only pass the text and a
:class:`~botsvc.models.CommandContext` in and render the reply. A bad argument always
gets a usage message and never changes state; an unexpected failure gets a short apology
(the details go to the log), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from botsvc.chat.alerts import AlertActions
from botsvc.chat.controls import ChannelControls
from botsvc.chat.reports import ReportCommands, ReportRate
from botsvc.chat.templates import USAGE as TEMPLATE_USAGE
from botsvc.chat.templates import TemplateCommands
from botsvc.chat.tenants import (
    adopt_first,
    already_polled,
    over_feed_limit,
    refusal,
    served,
    tenant_of,
    visible_hits,
    whose,
)
from botsvc.chat.usage import UsageError
from botsvc.chat.writing import writes
from botsvc.config import Config
from botsvc.deliver.subscriptions import (
    Subscription,
    SubscriptionError,
    all_subscriptions,
    parse_mode,
    subscribe,
    unsubscribe,
)
from botsvc.deliver.templates import describe
from botsvc.deliver.volume import recent_surges
from botsvc.ingest.feedcheck import FeedCheckError, check_feed
from botsvc.ingest.fetch import FetchPolicy
from botsvc.ingest.normalise import outlet_name
from botsvc.ingest.parse import FeedParseError, parse_feed
from botsvc.models import CommandContext, CommandReply, ItemOutcome, ReplyLine, local_time
from botsvc.store.channel_workspace import UNIQUE_CHANNEL_IDS, adopt_workspace, needs_adoption
from botsvc.store.export import event_record
from botsvc.store.feedlist import add_feed, is_polled, known_names, name_taken, unique_name
from botsvc.store.feeds import delete_feed, feed_names_at, feed_origin, feed_rows
from botsvc.store.merges import current_event, merges_into
from botsvc.store.preview import latest, preview
from botsvc.store.search import EventHit, recent_events, search_events, timeline
from botsvc.store.store import Store, utcnow
from botsvc.store.tenants import feed_owner, feed_owners, hidden_feeds, own_feed
from botsvc.store.turn import WriteTurn

log = logging.getLogger(__name__)

MAX_INPUT = 300
MAX_RECENT = 20

USAGE: dict[str, str] = {
    "subscribe": "subscribe [topic] [realtime | hourly | daily HH:MM [Area/City]]: send this channel a topic's news",
    "unsubscribe": "unsubscribe [topic]: stop (one topic, or all)",
    "subscriptions": "subscriptions: this channel's subscriptions",
    "search": "search <words> [since:YYYY-MM-DD] [until:YYYY-MM-DD]: past events, best match first "
    '(to search for the word share last, quote it: search "market share")',
    "event": "event <id>: an event's timeline, first report first",
    "recent": f"recent [n]: the latest events of this channel's topics (n up to {MAX_RECENT})",
    "feeds": "feeds: each feed's health",
    "feed": "feed add <url> [name] | feed remove <name> | feed preview <url>: manage feeds, or see what a feed's "
    "latest items would do (channel managers; <url> may be the site's page)",
    "filter": "filter add <words> | filter remove <words> | filter list: only news with these words "
    "(-word: never news with it; a phrase: export-controls) (channel managers)",
    "pause": "pause: send this channel nothing until resume; what opens meanwhile is never sent (channel managers)",
    "resume": "resume: send news again (channel managers)",
    "quiet": "quiet HH:MM-HH:MM [Area/City] | quiet off: hold alerts during these hours, then send one digest; "
    "times are shown in that zone (channel managers)",
    "template": TEMPLATE_USAGE,
    "timeline": "timeline <id>: an event's timeline (an alert's Timeline button)",
    "mute": "mute <id>: no more updates about this event in this channel (channel managers; an alert's button)",
    "notrelevant": "notrelevant <id>: report an event as not relevant; a channel manager's report also hides it "
    "here (an alert's button)",
    "missed": "missed <url>: report a story the bot missed; a manager's report, or two members', teaches it to "
    "keep stories like it",
    "reports": "reports: the latest missed-story and not-relevant reports, and whether they are applied",
    "updates": "updates thread | channel | none: later reports of an event go in its alert's thread (the "
    "default), as a line in the channel, or nowhere (channel managers)",
    "help": "help: this list",
}
MANAGING = {"subscribe", "unsubscribe", "feed", "filter", "pause", "resume", "quiet", "template", "mute", "updates"}
ASKS_RIGHTS = MANAGING | {"notrelevant", "missed"}
"""Commands whose answer depends on whether the caller may manage (adapters look that up only for these)."""
SHAREABLE = {"search", "event", "recent", "feeds", "subscriptions"}
ADOPTED = (
    "({n} subscription(s) of this channel made outside chat, with botsvc subscribe or feeds.toml, "
    "now belong to this workspace: one subscription per topic, and chat controls apply to it.)"
)


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str] = field(default_factory=list)
    share: bool = False
    """The caller asked for the answer to be visible to the channel."""


def parse(text: str) -> Command:
    """Split ``/news`` text into a command; raise UsageError for anything malformed."""
    if len(text) > MAX_INPUT:
        raise UsageError(f"that is too long ({len(text)} characters; at most {MAX_INPUT})")
    words = text.split()
    if not words:
        return Command("help")
    name, args = words[0].lower(), words[1:]
    if name not in USAGE:
        raise UsageError(f"unknown command {words[0][:40]!r}")
    share = bool(args) and args[-1].lower() == "share" and name in SHAREABLE
    return Command(name, args[:-1] if share else args, share)


def _day(value: str, key: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{key}: expected a date as YYYY-MM-DD, got {value[:20]!r}", "search") from None


def _unwrap_link(url: str) -> str:
    """The address as typed: Slack wraps links in ``<…>`` or ``<…|label>``."""
    return url.strip("<>").split("|", 1)[0]


def _preview_reason(outcome: ItemOutcome) -> str:
    """Why a previewed item would be new, a duplicate or irrelevant, in a few words."""
    if outcome.decision == "new":
        return f"a new event (matched {', '.join(outcome.matched_keywords)})"
    if outcome.decision == "duplicate":
        joins = f"joins event #{outcome.event_id}: " if outcome.event_id is not None else ""
        return joins + outcome.reason
    return outcome.reason


def _day_of(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y") if moment else "date unknown"


def _latest_and_first(hit: EventHit) -> str:
    """``recent`` sorts by the latest report: show that date, and the first one when it differs."""
    latest, first = _day_of(hit.latest), _day_of(hit.first_published)
    return f"latest report {latest}" + (f" (first {first})" if first != latest else "")


class CommandCore(ChannelControls, TemplateCommands, AlertActions, ReportCommands):
    """Executes commands for one store and configuration."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        policy: FetchPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_feeds_changed: Callable[[], object] | None = None,
        prefix: str = "/news",
        turn: WriteTurn | None = None,
    ) -> None:
        self.store = store
        self.turn = turn
        """The process's write turn (``botsvc run``), taken by every command while it writes."""
        self.prefix = prefix
        """How the user types commands, for usage lines: ``/news`` in chat, ``botsvc`` on the command line."""
        self.config = config
        self.policy = policy or config.fetch
        self.clock = clock
        self.on_feeds_changed = on_feeds_changed
        self.report_rate = ReportRate(config.alerts.reports_per_hour)
        """Missed-story reports per member in the last hour (``[alerts] reports_per_hour``)."""

    def writing(self) -> AbstractAsyncContextManager[Any]:
        """The write turn to hold while writing (nothing to wait for without one)."""
        return self.turn if self.turn is not None else nullcontext()

    async def run(self, text: str, context: CommandContext) -> CommandReply:
        """Parse and execute; every failure becomes a reply."""
        try:
            serving = served(self.store, self.config.chat, context)
            if serving is False:
                return refusal(context)  # before anything is parsed, looked up or stored
            command = parse(text)
            if serving is None and not await self._adopt(command, context):
                return refusal(context)
            if command.name in MANAGING and not context.can_manage:
                return CommandReply(
                    f"Sorry, only people who manage this channel can use `{command.name}`.",
                    (
                        ReplyLine(
                            "On Discord that is the Manage Channels permission; on Slack, the "
                            "workspace admins or the users listed in the bot's configuration."
                        ),
                    ),
                    ok=False,
                )
            # A subscription made before the workspace was known (botsvc subscribe, feeds.toml)
            # is this channel's: a managing command adopts it, in the write turn like every write.
            adopted = 0
            if command.name in MANAGING and needs_adoption(
                self.store, context.platform, context.channel, context.workspace
            ):
                async with self.writing():
                    adopted = adopt_workspace(self.store, context.platform, context.channel, context.workspace)
            reply = await getattr(self, f"_{command.name}")(command, context)
            if adopted:
                reply = replace(reply, lines=(*reply.lines, ReplyLine(ADOPTED.format(n=adopted))))
            return reply if not command.share else CommandReply(reply.title, reply.lines, False, reply.ok)
        except UsageError as exc:
            lines = [USAGE[exc.command]] if exc.command else list(USAGE.values())
            return CommandReply(f"{exc} — usage:", tuple(ReplyLine(f"{self.prefix} {u}") for u in lines), ok=False)
        except Exception:
            log.exception("command %r failed", text[:MAX_INPUT])
            return CommandReply("Sorry, that failed on our side; it has been logged. Please try again later.", ok=False)

    async def _adopt(self, command: Command, ctx: CommandContext) -> bool:
        """On a platform that serves no workspace yet, whether ``command`` may go on: one that
        writes (``ASKS_RIGHTS``) adopts ``ctx``'s workspace first, unless another got there
        first; one that only reads goes on without storing anything (no tenant owns anything yet)."""
        if command.name not in ASKS_RIGHTS:
            return True
        async with self.writing():
            return adopt_first(self.store, ctx, self.clock())

    # -- subscriptions --------------------------------------------------------------
    def _topic_names(self) -> list[str]:
        return [t.name for t in self.config.topics]

    def _split_topic(self, args: list[str], command: str) -> tuple[str | None, list[str]]:
        if args and args[0] in self._topic_names():
            return args[0], args[1:]
        if args and args[0].lower() not in ("realtime", "hourly", "daily"):
            raise UsageError(f"unknown topic {args[0][:40]!r} (topics: {', '.join(self._topic_names())})", command)
        return None, args

    @writes
    async def _subscribe(self, command: Command, ctx: CommandContext) -> CommandReply:
        topic, rest = self._split_topic(command.args, "subscribe")
        try:
            mode = parse_mode(" ".join(rest) or None)
        except SubscriptionError as exc:
            raise UsageError(str(exc), "subscribe") from None
        try:
            sub, created = subscribe(
                self.store,
                platform=ctx.platform,
                channel=ctx.channel,
                workspace=ctx.workspace,
                topic=topic or self.config.default_topic,
                mode=mode,
                origin="chat",
                now=self.clock(),
            )
        except SubscriptionError as exc:  # a channel address this platform cannot deliver to
            raise UsageError(str(exc), "subscribe") from None
        title = self.config.topic(sub.topic).title
        verb = "Subscribed" if created else "Updated"
        return CommandReply(f"{verb}: this channel gets {title} ({sub.mode}).")

    @writes
    async def _unsubscribe(self, command: Command, ctx: CommandContext) -> CommandReply:
        topic, rest = self._split_topic(command.args, "unsubscribe")
        if rest:
            raise UsageError(f"unexpected {' '.join(rest)[:40]!r}", "unsubscribe")
        removed = unsubscribe(
            self.store, platform=ctx.platform, channel=ctx.channel, workspace=ctx.workspace, topic=topic
        )
        if not removed:
            return CommandReply("This channel had no such subscription.", ok=False)
        return CommandReply(f"Unsubscribed this channel ({removed} subscription(s) removed).")

    def _channel_subscriptions(self, ctx: CommandContext) -> list[Subscription]:
        """The channel's subscriptions, with those stored before its workspace was known."""
        unknown = "" if ctx.platform in UNIQUE_CHANNEL_IDS else ctx.workspace
        return [
            s
            for s in all_subscriptions(self.store)
            if (s.platform, s.channel) == (ctx.platform, ctx.channel) and s.workspace in (ctx.workspace, unknown)
        ]

    async def _subscriptions(self, command: Command, ctx: CommandContext) -> CommandReply:
        if command.args:
            raise UsageError("subscriptions takes no arguments", "subscriptions")
        subs = self._channel_subscriptions(ctx)
        if not subs:
            return CommandReply(f"This channel has no subscriptions. Try `{self.prefix} subscribe`.")
        lines = tuple(
            ReplyLine(
                f"{s.topic}: {s.mode}"
                + (f" (paused: {s.paused_reason})" if s.paused else "")
                + (" (paused from chat)" if s.muted else "")
                + (f" (quiet {s.quiet})" if s.quiet else "")
                + (f" (template: {describe(s.template)})" if not s.template.is_default else "")
                + (f" (updates: {s.updates})" if s.updates != "thread" else "")
            )
            for s in subs
        )
        return CommandReply("This channel's subscriptions:", lines)

    # -- reading ----------------------------------------------------------------------
    async def _search(self, command: Command, ctx: CommandContext) -> CommandReply:
        since = until = None
        words = []
        for arg in command.args:
            key, _, value = arg.partition(":")
            if key.lower() == "since" and value:
                since = _day(value, "since")
            elif key.lower() == "until" and value:
                until = _day(value, "until")
            else:
                words.append(arg)
        text = " ".join(words)
        if not re.search(r"\w", text):
            raise UsageError("give some words to search for", "search")
        if since and until and since > until:
            raise UsageError("since: is after until:", "search")
        hits = visible_hits(self.store, ctx, search_events(self.store, text, since=since, until=until))
        if not hits:
            return CommandReply(f"No events match {text[:80]!r}.")
        lines = tuple(
            ReplyLine(
                f"#{h.event_id} {h.title} · {_day_of(h.first_published)} · "
                f"{h.outlets} outlet{'s' if h.outlets != 1 else ''}" + (" · archive" if h.seeded else "")
            )
            for h in hits
        )
        return CommandReply(
            f"Events matching {text[:80]!r}, best first (details: {self.prefix} event <id>):",
            lines,
            records=tuple(h.record() for h in hits),
        )

    async def _event(self, command: Command, ctx: CommandContext) -> CommandReply:
        if len(command.args) != 1 or not re.fullmatch(r"#?[0-9]{1,12}", command.args[0]):
            raise UsageError("give one event id, e.g. `event 12`", "event")
        asked = int(command.args[0].lstrip("#"))
        event = self.store.event(asked)
        if event is None:
            raise UsageError(f"there is no event {asked}", "event")
        event_id = current_event(self.store, asked)  # a merged event answers with the one it went into
        event = self.store.event(event_id) or event
        tenant = tenant_of(ctx)
        hidden = hidden_feeds(self.store, tenant) if tenant is not None else frozenset()
        every = self.store.event_articles(event_id)
        articles = [a for a in every if a["feed"] not in hidden]
        if not articles:  # only another workspace's (server's) feeds reported it
            raise UsageError(f"there is no event {asked}", "event")
        title, outlets = event["title"], len(event["outlets"])
        if len(articles) < len(every):  # told as if only the reports this tenant may see were there
            title, outlets = articles[0]["title"], len({a["source"] for a in articles})
        entries = timeline(articles)
        zones = [s.zone for s in self._channel_subscriptions(ctx)]
        zone = zones[0] if len(set(zones)) == 1 else "UTC"  # the channel's digest zone, when it has one
        lines = []
        for n, entry in enumerate(entries):
            label = "first report" if n == 0 else "then"
            lines.append(
                ReplyLine(
                    f"{label}: {entry.source} · {local_time(entry.published or entry.first_seen, zone)} · "
                    f"{entry.title}",
                    entry.link or None,
                )
            )
        lines += [ReplyLine(merge.describe()) for merge in merges_into(self.store, event_id)]
        kind = "archived event" if event["seeded"] else "event"
        merged = f"Event #{asked} was merged into #{event_id}. " if asked != event_id else ""
        return CommandReply(
            f"{merged}{kind.capitalize()} #{event_id}: {title} ({len(entries)} report(s), {outlets} outlet(s))",
            tuple(lines),
            records=(event_record(event, articles),),
        )

    async def _recent(self, command: Command, ctx: CommandContext) -> CommandReply:
        if len(command.args) > 1 or (command.args and not re.fullmatch(r"[0-9]+", command.args[0])):
            raise UsageError("recent takes one number", "recent")
        count = int(command.args[0]) if command.args else 5
        if not 1 <= count <= MAX_RECENT:
            raise UsageError(f"n must be between 1 and {MAX_RECENT}", "recent")
        topics = sorted({s.topic for s in self._channel_subscriptions(ctx)}) or [self.config.default_topic]
        hits = visible_hits(self.store, ctx, recent_events(self.store, topics, count))
        if not hits:
            return CommandReply("No events yet.")
        lines = tuple(
            ReplyLine(f"#{h.event_id} {h.title} · {_latest_and_first(h)} · {h.outlets} outlet(s)") for h in hits
        )
        return CommandReply(
            f"Latest events ({', '.join(topics)}), by latest report:", lines, records=tuple(h.record() for h in hits)
        )

    # -- feeds ------------------------------------------------------------------------
    async def _feeds(self, command: Command, ctx: CommandContext) -> CommandReply:
        if command.args:
            raise UsageError(f"feeds takes no arguments (to manage feeds: {self.prefix} feed add|remove)", "feeds")
        tenant = tenant_of(ctx)
        owners = feed_owners(self.store)
        states = {
            row["name"]: row
            for row in feed_rows(self.store)
            if tenant is None or owners.get(row["name"]) in (None, tenant)  # never another tenant's
        }
        names = [f.name for f in self.config.feeds] + sorted(
            n for n, row in states.items() if row["origin"] == "chat" and n not in {f.name for f in self.config.feeds}
        )
        surges = recent_surges(self.store, self.clock())
        lines = []
        for name in names:
            row = states.get(name)
            if row is None:
                lines.append(ReplyLine(f"{name}: not polled yet"))
                continue
            health = "OK" if not row["consecutive_failures"] else f"FAILING ({row['consecutive_failures']}x)"
            text = (
                f"{name}: {health} · last success {row['last_success_at'] or 'never'} · "
                f"{row['items_seen']} item(s) seen"
            )
            if row["last_error"] and row["consecutive_failures"]:
                text += f" · last error {row['last_error'][:120]}"
                if row["retry_at"]:
                    text += f" · next attempt {row['retry_at']}"
            if name in surges:
                text += f" · {surges[name].describe()}"
            lines.append(ReplyLine(text + whose(row["origin"], owners.get(name), tenant)))
        return CommandReply(f"{len(names)} feed(s):", tuple(lines))

    async def _feed(self, command: Command, ctx: CommandContext) -> CommandReply:
        action = command.args[0].lower() if command.args else ""
        if action == "add" and len(command.args) >= 2:
            return await self._feed_add(command.args[1], outlet_name(" ".join(command.args[2:])) or None, ctx)
        if action == "remove" and len(command.args) >= 2:
            async with self.writing():
                return self._feed_remove(" ".join(command.args[1:]), ctx)
        if action == "preview" and len(command.args) == 2:
            return await self._feed_preview(command.args[1])
        raise UsageError("expected `feed add <url> [name]`, `feed remove <name>` or `feed preview <url>`", "feed")

    def _name_taken(self, name: str) -> bool:
        """Whether ``name`` is, or looks exactly like, a feed's name."""
        return name_taken(name, known_names(self.store, self.config))

    def _polled(self, url: str) -> bool:
        return is_polled(self.store, self.config, url)

    def _cannot_add(self, url: str, ctx: CommandContext, shown: str = "That feed") -> CommandReply | None:
        """Why ``url`` cannot be added for ``ctx``'s tenant (polled already, or over its limit); None if it can."""
        if self._polled(url):
            return already_polled(self.store, url, ctx, shown)
        return over_feed_limit(self.store, self.config.chat, ctx, self.prefix)

    async def _feed_add(self, url: str, name: str | None, ctx: CommandContext) -> CommandReply:
        url = _unwrap_link(url)
        refused = self._cannot_add(url, ctx)
        if refused is not None:
            return refused
        if name is not None and (len(name) > 80 or self._name_taken(name)):
            raise UsageError(f"feed name {name[:80]!r} is taken or too long", "feed")
        try:
            checked = await check_feed(url, self.policy)
        except FeedCheckError as exc:
            return CommandReply(f"Not added: {exc}.", ok=False)
        async with self.writing():  # fetched and parsed before: the turn is held for the insert only
            shown = "That feed" if checked.url == url else f"That page's feed ({checked.url})"
            refused = self._cannot_add(checked.url, ctx, shown)
            if refused is not None:
                return refused
            url = checked.url
            if name is not None and self._name_taken(name):
                raise UsageError(f"feed name {name[:80]!r} is taken or too long", "feed")
            name = name or unique_name(checked.title, url, known_names(self.store, self.config))
            tenant = tenant_of(ctx)
            with self.store.atomic():  # the feed and whose it is, together
                add_feed(self.store, name, url, added_by=f"{ctx.platform}:{ctx.user}")
                if tenant is not None:
                    own_feed(self.store, name, tenant, self.clock())
        if self.on_feeds_changed:
            self.on_feeds_changed()
        found = f" (found the feed {url} on that page)" if checked.page else ""
        return CommandReply(f"Added feed {name!r}{found} ({checked.items} item(s) now); it is polled from now on.")

    async def _feed_preview(self, url: str) -> CommandReply:
        """What the feed's latest items would do if it were polled now; nothing is stored."""
        url = _unwrap_link(url)
        try:
            checked = await check_feed(url, self.policy)
        except FeedCheckError as exc:
            return CommandReply(f"No preview: {exc}.", ok=False)
        known = next((f for f in self.config.feeds if f.url == checked.url), None)
        stored = feed_names_at(self.store, checked.url)
        name = known.name if known else stored[0] if stored else checked.url
        fetched = checked.fetched
        assert fetched is not None and fetched.body is not None  # check_feed keeps what it read
        try:
            parsed = await asyncio.to_thread(  # a big feed takes seconds to parse: not on the event loop
                parse_feed,
                fetched.body,
                feed=name,
                source=known.name if known else None,
                url=fetched.final_url or checked.url,
                language=known.language if known else None,
                content_type=fetched.content_type,
            )
        except FeedParseError as exc:
            return CommandReply(f"No preview: that is not a readable RSS or Atom feed ({exc}).", ok=False)
        items = latest(parsed.items)
        topics = tuple(known.topics) or None if known else None
        outcomes = await preview(self.store, self.config, items, topics, self.clock, self.writing())
        lines = tuple(
            ReplyLine(f"{o.decision}: {o.item.title[:120]} — {_preview_reason(o)}", o.item.link or None)
            for o in outcomes
        )
        found = ", found on that page" if checked.page else ""
        title = (
            f"Preview of {parsed.title or checked.url!r} ({checked.url}{found}): the latest {len(items)} of "
            f"{len(parsed.items)} item(s) as a poll now would judge them (nothing stored):"
        )
        return CommandReply(title, lines)

    def _feed_remove(self, name: str, ctx: CommandContext) -> CommandReply:
        tenant = tenant_of(ctx)

        def visible(name: str) -> dict | None:  # another tenant's feed is as good as not there
            row = feed_origin(self.store, name)
            owner = feed_owner(self.store, name) if row else None
            return row if tenant is None or owner in (None, tenant) else None

        row = visible(name)
        if not row and outlet_name(name) != name:
            name = outlet_name(name)
            row = visible(name)
        if not row and name not in {f.name for f in self.config.feeds}:
            raise UsageError(f"there is no feed named {name[:80]!r} (see {self.prefix} feeds)", "feed")
        if not row or row["origin"] != "chat":
            return CommandReply(f"{name!r} comes from the configuration file; remove it there.", ok=False)
        added_from = str(row["added_by"] or "").partition(":")[0]
        if tenant is not None and feed_owner(self.store, name) is None and added_from != ctx.platform:
            # Added before tenants were recorded: shared, and only its own platform's managers remove it.
            return CommandReply(
                f"{name!r} was added from {added_from or 'elsewhere'}; it can be removed there.", ok=False
            )
        with self.store.atomic():
            delete_feed(self.store, name)
        if self.on_feeds_changed:
            self.on_feeds_changed()
        return CommandReply(f"Removed feed {name!r}; its stored stories stay searchable.")

    async def _help(self, command: Command, ctx: CommandContext) -> CommandReply:
        return CommandReply(
            f"{self.prefix} commands (add `share` to show an answer to the channel):",
            tuple(ReplyLine(f"{self.prefix} {u}") for u in USAGE.values()),
        )
