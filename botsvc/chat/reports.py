"""``/news missed <url>`` and ``/news reports``: people teach the bot what the beat is.

A missed story is fetched through the same checked path as ``/news feed add`` (public
addresses only, a few requests within one deadline, parsed off the event loop), before
the write turn is taken. Under the turn it is judged, stored as an article (joining the
event it belongs to, or opening one that only its reporter's channel may be told, and
only when the reporter manages that channel) and recorded as a labelled example
"relevant" (:mod:`botsvc.store.examples`). The reply says what the bot had decided
before and what it decides now. Anyone may report; a member's report counts once a
second member agrees, a manager's at once. Reports are rate-limited per member.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botsvc.chat.usage import UsageError
from botsvc.config import Config
from botsvc.deliver.reported import alert_reported_event
from botsvc.deliver.subscriptions import Subscription
from botsvc.ingest.feedcheck import FeedCheckError
from botsvc.ingest.fetch import FetchPolicy
from botsvc.ingest.normalise import identity_keys, normalise_title
from botsvc.ingest.story import Story, fetch_story
from botsvc.judge.relevance import Relevance, TopicMatch
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store import examples
from botsvc.store.events import EventBook, item_fingerprint
from botsvc.store.pipeline import Processor
from botsvc.store.reports import newest_article_id, record_reporter
from botsvc.store.store import Store, open_store

HOUR = 3600.0


def reporter(ctx: CommandContext) -> str:
    return ctx.user or ctx.platform


class ReportRate:
    """Reports per member in the last hour, in memory: refused addresses count too."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._made: dict[tuple[str, str, str], deque[float]] = {}

    def allow(self, ctx: CommandContext) -> bool:
        """Count one report by this member; False (not counted) when over the limit."""
        now = self.clock()
        made = self._made.setdefault((ctx.platform, ctx.workspace, reporter(ctx)), deque())
        while made and made[0] <= now - HOUR:
            made.popleft()
        if len(made) >= self.per_hour:
            return False
        made.append(now)
        return True


@dataclass
class Loaded:
    """The archive index, loaded in a worker thread before the write turn (seconds for a big archive)."""

    book: EventBook
    newest: int
    """The newest article id when it was loaded: anything newer is read again under the turn."""

    @classmethod
    async def load(cls, store: Store, config: Config) -> Loaded | None:
        """Load from a connection of the worker's own; None for a database that has no file."""
        path = store.path
        if not path or path == ":memory:":
            return None

        def read() -> Loaded:
            reader = open_store(path, migrate=False, create=False)
            try:
                newest = newest_article_id(reader)
                return cls(EventBook(reader, config.dedup), newest)
            finally:
                reader.close()

        return await asyncio.to_thread(read)

    def current(self, store: Store) -> EventBook:
        """The index on ``store`` (the caller's connection), reloaded if articles were stored since."""
        self.book.store = store  # the book reads its store only to (re)load and to look up an original
        if newest_article_id(store) != self.newest:
            self.book.reload()
        return self.book


class _Report:
    """The judging of one reported story under the write turn: what was, what is."""

    def __init__(self, store: Store, config: Config, story: Story, now: datetime, book: Loaded | None = None) -> None:
        self.store = store
        self.item = story.item()
        self.keys = identity_keys(self.item)
        events = book.current(store) if book is not None else EventBook(store, config.dedup)
        self.processor = Processor(store, Relevance(config.topics), events, clock=lambda: now)
        self.processor.refresh_learned()
        self.now = now

    def before(self) -> tuple[str, int | None, int | None]:
        """(what the bot had decided, stored article id, its event id)."""
        seen = self.store.lookup_seen(self.keys)
        if seen is None:
            return "not seen", None, None
        if seen.article_id is None or seen.decision == "irrelevant":
            return "judged irrelevant", None, None
        event = self.store.article(seen.article_id)
        event_id = event["event_id"] if event else seen.event_id
        return f"already stored in event #{event_id}", seen.article_id, event_id

    def judged(self) -> tuple[list[TopicMatch], str]:
        """The judgement of the story as the bot stands (rules, structure, learned examples)."""
        item = self.item
        matches = self.processor.relevance.match(item)
        vote = self.processor.learned.vote(item_fingerprint(item)) if self.processor.learned else None
        if vote is not None and matches and not vote.relevant:
            return [], f"it would drop it ({vote.describe()})"
        if matches:
            return matches, f"it keeps it ({matches[0].describe()})"
        if vote is not None and vote.relevant:
            return [], f"it keeps it ({vote.describe()})"
        return [], "the rules and the structure do not keep it"

    def store_it(self, matches: list[TopicMatch], who: str, reused: bool) -> tuple[int, int, bool, list[str]]:
        """Store the story: (article id, event id, whether it opened the event, its topics)."""
        if not matches:
            topic = next(iter(self.processor.relevance.matchers), "default")
            matches = [TopicMatch(topic, (), judgement="report")]
        outcome = self.processor.store_item(
            self.item, matches, self.keys, normalise_title(self.item.title), reused, self.now, held_back="reported"
        )
        if outcome.article_id is None or outcome.event_id is None:  # a republished copy of an archived report
            original = outcome.duplicate_of
            row = self.store.article(original) if original is not None else None
            return int(original or 0), int(row["event_id"] if row else 0), False, list(row["topics"] if row else [])
        if matches[0].judgement == "report":
            record_reporter(self.store, outcome.article_id, who)
        if outcome.decision != "new":
            examples.told_without_growth(self.store, outcome.event_id)
        return outcome.article_id, outcome.event_id, outcome.decision == "new", list(outcome.topics)


class ReportCommands:
    """Mixed into :class:`~botsvc.chat.commands.CommandCore`, which provides these attributes."""

    store: Store
    config: Config
    policy: FetchPolicy
    prefix: str
    clock: Callable[[], datetime]
    report_rate: ReportRate

    def writing(self) -> AbstractAsyncContextManager[Any]:  # provided by CommandCore
        raise NotImplementedError

    def _channel_subscriptions(self, ctx: CommandContext) -> list[Subscription]:  # provided by CommandCore
        raise NotImplementedError

    async def _missed(self, command, ctx: CommandContext) -> CommandReply:
        if len(command.args) != 1:
            raise UsageError("give the story's address, e.g. `missed https://example.org/news/1`", "missed")
        url = command.args[0].strip("<>").split("|", 1)[0]
        if ctx.platform != "cli" and not self.report_rate.allow(ctx):
            return CommandReply(
                f"Not recorded: at most {self.report_rate.per_hour} reports an hour per person; please try later.",
                ok=False,
            )
        try:
            story = await fetch_story(url, self.policy)  # off the turn: network and parsing
        except FeedCheckError as exc:
            return CommandReply(f"Not recorded: {exc}.", ok=False)
        book = await Loaded.load(self.store, self.config)  # off the event loop, before the turn
        async with self.writing():
            return self._record_missed(story, ctx, book)

    def _record_missed(self, story: Story, ctx: CommandContext, book: Loaded | None = None) -> CommandReply:
        """Judge, store and record the story, and alert it here if it may be: one transaction."""
        now = self.clock()
        report = _Report(self.store, self.config, story, now, book)
        with self.store.atomic():
            return self._recorded(report, story, ctx, now)

    def _recorded(self, report: _Report, story: Story, ctx: CommandContext, now: datetime) -> CommandReply:
        before, article_id, event_id = report.before()
        matches, judged = report.judged()
        who = f"{ctx.platform}:{reporter(ctx)}"
        lines = [ReplyLine(f"Before: {before}.")]
        opened = False
        if article_id is None or event_id is None:
            article_id, event_id, opened, topics = report.store_it(matches, who, before == "judged irrelevant")
            where = f"opened event #{event_id}" if opened else f"joined event #{event_id}"
            lines.append(ReplyLine(f"Now: stored as article {article_id}, {where}; {judged}.", story.url))
        else:
            topics = list((self.store.article(article_id) or {}).get("topics") or [])
            lines.append(ReplyLine(f"Now: {judged}.", story.url))
        new = examples.add_report(
            self.store,
            article_id=article_id,
            label=examples.RELEVANT,
            platform=ctx.platform,
            workspace=ctx.workspace,
            channel=ctx.channel,
            user=reporter(ctx),
            manager=ctx.can_manage,
            decided_before=before,
            now=now,
        )
        counts = any(
            e.article_id == article_id and e.label == examples.RELEVANT for e in examples.applied_examples(self.store)
        )
        if counts:
            lines.append(ReplyLine("Stories like it are kept from the next poll on."))
        else:
            lines.append(ReplyLine("Recorded: stories like it are kept once another member reports it too."))
        if opened and ctx.can_manage:
            subs = self._channel_subscriptions(ctx)
            if alert_reported_event(self.store, self.config, subs, event_id, topics, now) is not None:
                lines.append(ReplyLine("Its alert is posted in this channel only."))
        title = (
            f"Thanks: {story.title[:150]!r} is reported as missed."
            if new
            else (f"You had already reported {story.title[:150]!r}; counted once.")
        )
        return CommandReply(title, tuple(lines))

    async def _reports(self, command, ctx: CommandContext) -> CommandReply:
        if command.args:
            raise UsageError("reports takes no arguments", "reports")
        found = examples.reports(self.store, limit=20)
        if not found:
            return CommandReply(f"No reports yet. Report a missed story with {self.prefix} missed <url>.")
        return CommandReply(
            "Reports, newest first (a member's report is applied once a second member agrees; a manager's at once):",
            tuple(ReplyLine(r.describe()) for r in found),
        )
