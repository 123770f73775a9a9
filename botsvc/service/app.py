"""Wiring: from a config file and a database path to a ready pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from botsvc.chat.commands import CommandCore
from botsvc.config import Config, FeedConfig, load_config
from botsvc.deliver.adapter import Adapter
from botsvc.deliver.delivery import queue_digests, repair_future_times
from botsvc.deliver.outbox import Courier, FlushReport, RetryPolicy
from botsvc.deliver.subscriptions import all_subscriptions, parse_mode, set_template, subscribe
from botsvc.ingest.fetch import FetchPolicy
from botsvc.judge.relevance import Relevance
from botsvc.service.cycle import FeedTarget
from botsvc.service.intake import Intake
from botsvc.store.channel_workspace import known_workspace
from botsvc.store.events import EventBook
from botsvc.store.feeds import chat_feeds
from botsvc.store.pipeline import Processor
from botsvc.store.seed import seed_archive
from botsvc.store.store import Store, open_store
from botsvc.store.subscriptions import set_subscription_mode
from botsvc.store.turn import WriteTurn

CHAT_FEED_INTERVAL = 900
"""Seconds between polls of a feed added from chat."""


@dataclass
class App:
    config: Config
    store: Store
    events: EventBook
    processor: Processor
    policy: FetchPolicy

    def close(self) -> None:
        self.store.close()

    def feeds(self) -> list[FeedConfig]:
        """The configured, enabled feeds, then those added from chat."""
        configured = [feed for feed in self.config.feeds if feed.enabled]
        names = {feed.name for feed in self.config.feeds}
        added = [
            FeedConfig(name=name, url=url, interval=CHAT_FEED_INTERVAL, language=None, topics=())
            for name, url in chat_feeds(self.store)
            if name not in names
        ]
        return configured + added

    def targets(self) -> list[FeedTarget]:
        """Every feed to poll."""
        return [feed_target(feed) for feed in self.feeds()]

    def commands(self, on_feeds_changed=None, turn: WriteTurn | None = None) -> CommandCore:
        """The command core for chat and the CLI; ``turn``: the write turn its writes take (``botsvc run``)."""
        return CommandCore(
            self.store, self.config, clock=self.processor.clock, on_feeds_changed=on_feeds_changed, turn=turn
        )

    def adhoc_targets(self, locations: list[str]) -> list[FeedTarget]:
        """Feeds given on the command line: polled with the configured topics, fetch state not kept."""
        return [
            FeedTarget(
                name=loc if loc.startswith(("http://", "https://")) else str(Path(loc).resolve()),
                url=loc if loc.startswith(("http://", "https://")) else str(Path(loc).resolve()),
                tracked=False,
            )
            for loc in locations
        ]

    def ensure_seeded(self) -> int:
        """Load the seeded archive on first start; later calls add nothing."""
        return seed_archive(self.store, self.events)

    def sync_subscriptions(self, now: datetime | None = None) -> None:
        """Store ``[[subscriptions]]`` from the config; with none at all, subscribe the console.

        A configured subscription already stored keeps its state (a paused one stays
        paused until someone subscribes it again); only its mode, and its template when
        the file gives one, follow the file.
        """
        now = now or self.processor.clock()
        repair_future_times(self.store, now)
        existing = {(s.platform, s.workspace, s.channel, s.topic): s for s in all_subscriptions(self.store)}
        for entry in self.config.subscriptions:
            # Without a workspace in the file, the channel's own (learnt from chat) is the one meant.
            workspace = entry.workspace or known_workspace(self.store, entry.platform, entry.channel)
            known = existing.get((entry.platform, workspace, entry.channel, entry.topic))
            if known is None:
                subscribe(
                    self.store,
                    platform=entry.platform,
                    channel=entry.channel,
                    topic=entry.topic,
                    mode=parse_mode(entry.mode),
                    workspace=entry.workspace,
                    origin="config",
                    now=now,
                    template=entry.template,
                )
                continue
            if str(known.mode) != str(parse_mode(entry.mode)):
                set_subscription_mode(self.store, known.id, str(parse_mode(entry.mode)))
            if entry.template is not None and entry.template != known.template:
                set_template(self.store, [known.id], entry.template)
        if not existing and not self.config.subscriptions:
            subscribe(
                self.store,
                platform="console",
                channel="stdout",
                topic=self.config.default_topic,
                mode=parse_mode("realtime"),
                origin="default",
                now=now,
            )

    async def deliver(
        self,
        adapters: Mapping[str, Adapter],
        *,
        realtime: bool = True,
        policy: RetryPolicy = RetryPolicy(),
        intake: Intake | None = None,
    ) -> FlushReport:
        """Queue what is due for each subscription, then send everything pending.

        With ``intake``, the digests are built in its thread (a cycle that opened thousands of
        events takes a while to summarise) in its write turn, and the sends take the turn only
        for each short write of theirs, never across a request: polls go on while a chat API
        is slow.
        """
        if intake is None:
            queue_digests(self.store, self.config, self.processor.clock(), realtime=realtime)
            return await Courier(self.store, adapters, policy=policy, clock=self.processor.clock).flush()
        await intake.write(queue_digests, intake.store, self.config, self.processor.clock(), realtime=realtime)
        courier = Courier(self.store, adapters, policy=policy, clock=self.processor.clock, writing=lambda: intake.turn)
        return await courier.flush()


def feed_target(feed: FeedConfig) -> FeedTarget:
    return FeedTarget(
        name=feed.name, url=feed.url, source=feed.name, language=feed.language, topics=tuple(feed.topics) or None
    )


def open_app(config_path: str | Path, db_path: str | Path, *, config: Config | None = None) -> App:
    """Load config (raises ConfigError) and open the store (raises StoreError)."""
    config = config or load_config(config_path)
    store = open_store(db_path)
    events = EventBook(store, config.dedup)
    processor = Processor(store, Relevance(config.topics), events)
    return App(config=config, store=store, events=events, processor=processor, policy=config.fetch)
