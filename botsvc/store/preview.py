"""Judging a feed's latest items as a poll would, without keeping anything.

``/news feed preview`` shows what a feed would bring before anyone adds it. The items go
through the real :class:`~botsvc.store.pipeline.Processor` inside a transaction that is
always rolled back, with an event index of its own, so neither the database nor the
running bot's in-memory index keeps a trace of them.

Loading that index reads every stored article's fingerprint (seconds for a big archive),
so :func:`load_index` does it in a worker thread on a connection of its own, before the
write turn is taken; the rolled-back transaction then holds the turn only while the few
items are judged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timezone
from typing import Any

from botsvc.config import Config
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem, ItemOutcome
from botsvc.store.events import EventBook
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store, open_store, utcnow

PREVIEW_ITEMS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def latest(items: list[FeedItem], count: int = PREVIEW_ITEMS) -> list[FeedItem]:
    """The ``count`` newest items, newest first (undated ones keep their place in feed order)."""
    dated = [(item.event_time, item) for item in items]
    if all(moment is not None for moment, _ in dated):
        return [item for _, item in sorted(dated, key=lambda pair: pair[0] or _EPOCH, reverse=True)][:count]
    return items[:count]


def _index_from(path: str, config: Config) -> EventBook:
    """An event index read on a connection of its own (which writes nothing), then closed."""
    reader = open_store(path, migrate=False, create=False)
    try:
        reader.refuse_writes_unless(lambda: False)
        return EventBook(reader, config.dedup)
    finally:
        reader.close()


async def load_index(store: Store, config: Config) -> EventBook:
    """The stored events' index for a preview, loaded off the event loop (on it for an in-memory database)."""
    if store.path == ":memory:":
        return EventBook(store, config.dedup)
    book = await asyncio.to_thread(_index_from, store.path, config)
    book.store = store  # it reads its store again only to reload after a failure
    return book


async def preview(
    store: Store,
    config: Config,
    items: list[FeedItem],
    topics: tuple[str, ...] | None = None,
    clock: Callable[[], datetime] = utcnow,
    writing: AbstractAsyncContextManager[Any] | None = None,
) -> list[ItemOutcome]:
    """What judging ``items`` now would decide, in their order; the database is left as it was.

    The index is loaded first; only the judging runs inside ``writing`` (the write turn).
    """
    book = await load_index(store, config)
    relevance = Relevance(config.topics)
    async with writing or nullcontext():
        with store.rehearsal():
            return Processor(store, relevance, book, clock).process(items, topics)
