"""The per-item pipeline after parsing: exact dedup → relevance → event placement → store.

Pure decisions, with all writes going through :class:`~botsvc.store.store.Store` inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from botsvc.ingest.normalise import identity_keys, normalise_title
from botsvc.judge.relevance import Relevance
from botsvc.models import Decision, FeedItem, ItemOutcome
from botsvc.store import seenkeys
from botsvc.store.events import EventBook
from botsvc.store.store import SeenRecord, Store, utcnow

REUSED_GUID_OVERLAP = 0.3
"""Below this word overlap between old and new title, a repeated GUID is a new story."""

_KEY_REASONS = {
    "guid": "same GUID as an item already seen in this feed",
    "url": "same link as an item already seen",
    "title": "same title from the same outlet as an item already seen",
}


def _words(title: str) -> set[str]:
    return set(title.split())


def _reused_guid(seen: SeenRecord, title: str) -> bool:
    """A GUID seen before under a clearly different title, and no other key matching.

    Publishers edit titles (a typo, an update), which keeps most words; a reused GUID
    (some CMSs recycle them) brings a different story, which shares few.
    """
    if not seen.key.startswith("guid:") or seen.others or not title:
        return False
    if seen.title:
        before, now = _words(seen.title), _words(title)
        return len(before & now) / len(before | now) < REUSED_GUID_OVERLAP
    if seen.sketch is not None:  # an irrelevant item's GUID keeps only a word sketch of its title
        return seenkeys.sketch_overlap(seen.sketch, seenkeys.title_sketch(title) or 0) < REUSED_GUID_OVERLAP
    return False


def _sort_key(pair: tuple[int, FeedItem], now: datetime) -> tuple[datetime, int]:
    index, item = pair
    return (item.event_time or now, index)


class Processor:
    """Judges feed items and records them. One instance per database connection."""

    def __init__(
        self,
        store: Store,
        relevance: Relevance,
        events: EventBook | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.relevance = relevance
        self.events = events or EventBook(store)
        self.clock = clock

    def process(self, items: list[FeedItem], topics: tuple[str, ...] | None = None) -> list[ItemOutcome]:
        """Judge ``items`` (one feed's, in feed order) and return outcomes in the same order.

        Items are judged oldest first so an event opens with its earliest report.
        The caller owns the transaction.
        """
        now = self.clock()
        outcomes: dict[int, ItemOutcome] = {}
        for index, item in sorted(enumerate(items), key=lambda pair: _sort_key(pair, now)):
            outcomes[index] = self._judge(item, topics, now)
        return [outcomes[i] for i in range(len(items))]

    def _judge(self, item: FeedItem, topics: tuple[str, ...] | None, now: datetime) -> ItemOutcome:
        keys = identity_keys(item)
        title = normalise_title(item.title)
        seen = self.store.lookup_seen(keys)
        reused = seen is not None and _reused_guid(seen, title)
        if reused:
            seen = None  # same GUID, different story: judge it as the new item it is
        if seen is not None:
            # Remember any new identity of the same story (e.g. same link, new GUID).
            self.store.mark_seen(keys, seen.decision, seen.article_id, now)
            if seen.decision == "irrelevant":
                reason = _KEY_REASONS[seen.key.split(":", 1)[0]] + " (judged irrelevant then)"
            else:
                reason = _KEY_REASONS[seen.key.split(":", 1)[0]]
            return ItemOutcome(
                item=item,
                decision="duplicate",
                reason=reason,
                article_id=None,
                event_id=seen.event_id,
                duplicate_of=seen.article_id,
                similarity=1.0 if seen.article_id else None,
            )

        matches = self.relevance.match(item, topics)
        if not matches:
            self.store.mark_seen(keys, "irrelevant", None, now, title=title, replace=reused)
            reason = "no topic rule matched" + (", nor the structure" if self.relevance.structural else "")
            return ItemOutcome(item=item, decision="irrelevant", reason=reason)

        topic_names = [m.topic for m in matches]
        keywords = sorted({k for m in matches for k in m.keywords}, key=str.casefold)
        # The rules decide first: the structure is named only when no topic's rules matched.
        deciding = next((m for m in matches if m.judgement == "rules"), matches[0])
        relevance = deciding.record()
        placement = self.events.place(item, now)
        decision: Decision
        if placement.event_id is None:
            event_id = self.store.create_event(
                title=item.title,
                topic=topic_names[0],
                published=item.published,
                outlet=item.source,
                when=now,
            )
            decision, reason = "new", f"{deciding.describe()}; {placement.reason}"
        else:
            event_id = placement.event_id
            decision, reason = "duplicate", placement.reason
            self.store.add_event_member(event_id, published=item.published, outlet=item.source, when=now)
        fingerprint = placement.fingerprint
        event_time = placement.event_time or item.event_time or now
        article_id = self.store.insert_article(
            item,
            topics=topic_names,
            keywords=keywords,
            event_id=event_id,
            similarity=placement.similarity,
            when=now,
            fingerprint=fingerprint.to_bytes() if fingerprint is not None else None,
            event_time=event_time,
            duplicate_of=placement.duplicate_of,
            placement=reason,
            neighbours=placement.neighbours,
            relevance=relevance,
        )
        self.store.mark_seen(keys, decision, article_id, now, title=title, replace=reused)
        if fingerprint is not None:
            self.events.record(article_id, event_id, fingerprint, event_time, item.outlet_key)
        return ItemOutcome(
            item=item,
            decision=decision,
            reason=reason,
            topics=topic_names,
            matched_keywords=keywords,
            article_id=article_id,
            event_id=event_id,
            duplicate_of=placement.duplicate_of,
            similarity=placement.similarity,
            relevance=relevance,
        )
