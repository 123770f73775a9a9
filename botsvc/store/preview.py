"""Judging a feed's latest items as a poll would, without keeping anything.

``/news feed preview`` shows what a feed would bring before anyone adds it. The items go
through the real :class:`~botsvc.store.pipeline.Processor` inside a transaction that is
always rolled back, with an event index of its own loaded inside that transaction, so
neither the database nor the running bot's in-memory index keeps a trace of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from botsvc.config import Config
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem, ItemOutcome
from botsvc.store.events import EventBook
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store, utcnow

PREVIEW_ITEMS = 5


def latest(items: list[FeedItem], count: int = PREVIEW_ITEMS) -> list[FeedItem]:
    """The ``count`` newest items, newest first (undated ones keep their place in feed order)."""
    if all(item.event_time is not None for item in items):
        return sorted(items, key=lambda item: item.event_time, reverse=True)[:count]  # type: ignore[arg-type, return-value]
    return items[:count]


def preview_items(
    store: Store,
    config: Config,
    items: list[FeedItem],
    topics: tuple[str, ...] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[ItemOutcome]:
    """What judging ``items`` now would decide, in their order; the database is left as it was."""
    with store.rehearsal():
        processor = Processor(store, Relevance(config.topics), EventBook(store, config.dedup), clock)
        return processor.process(items, topics)
