"""Wiring: from a config file and a database path to a ready pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from botsvc.config import Config, FeedConfig, load_config
from botsvc.cycle import FeedTarget
from botsvc.events import EventBook
from botsvc.fetch import FetchPolicy
from botsvc.pipeline import Processor
from botsvc.relevance import Relevance
from botsvc.seed import seed_archive
from botsvc.store import Store, open_store


@dataclass
class App:
    config: Config
    store: Store
    events: EventBook
    processor: Processor
    policy: FetchPolicy

    def close(self) -> None:
        self.store.close()

    def targets(self) -> list[FeedTarget]:
        """The configured, enabled feeds."""
        return [feed_target(feed) for feed in self.config.feeds if feed.enabled]

    def adhoc_targets(self, locations: list[str]) -> list[FeedTarget]:
        """Feeds given on the command line: polled with the configured topics, fetch state not kept."""
        return [
            FeedTarget(name=loc if loc.startswith(("http://", "https://")) else str(Path(loc).resolve()),
                       url=loc if loc.startswith(("http://", "https://")) else str(Path(loc).resolve()),
                       tracked=False)
            for loc in locations
        ]

    def ensure_seeded(self) -> int:
        """Load the seeded archive on first start; later calls add nothing."""
        return seed_archive(self.store, self.events)


def feed_target(feed: FeedConfig) -> FeedTarget:
    return FeedTarget(name=feed.name, url=feed.url, source=feed.name, language=feed.language,
                      topics=tuple(feed.topics) or None)


def open_app(config_path: str | Path, db_path: str | Path, *, config: Config | None = None) -> App:
    """Load config (raises ConfigError) and open the store (raises StoreError)."""
    config = config or load_config(config_path)
    store = open_store(db_path)
    events = EventBook(store, config.dedup)
    processor = Processor(store, Relevance(config.topics), events)
    return App(config=config, store=store, events=events, processor=processor, policy=config.fetch)
