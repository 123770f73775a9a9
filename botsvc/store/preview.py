"""Judging a feed's latest items as a poll would, without keeping anything.

``/news feed preview`` shows what a feed would bring before anyone adds it. The items go
through the real :class:`~botsvc.store.pipeline.Processor` inside a transaction that is
always rolled back, with an event index of its own loaded inside that transaction, so
neither the database nor the running bot's in-memory index keeps a trace of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from botsvc.config import Config
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem, ItemOutcome
from botsvc.store.events import EventBook
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store, utcnow

PREVIEW_ITEMS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def latest(items: list[FeedItem], count: int = PREVIEW_ITEMS) -> list[FeedItem]:
    """The ``count`` newest items, newest first (undated ones keep their place in feed order)."""
    dated = [(item.event_time, item) for item in items]
    if all(moment is not None for moment, _ in dated):
        return [item for _, item in sorted(dated, key=lambda pair: pair[0] or _EPOCH, reverse=True)][:count]
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
