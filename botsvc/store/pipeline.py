"""The per-item pipeline after parsing: exact dedup → relevance → event placement → store.

Pure decisions, with all writes going through :class:`~botsvc.store.store.Store` inside the
caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from botsvc.ingest.normalise import identity_keys_and_title, normalise_title
from botsvc.judge.learned import LearnedJudgement, Vote
from botsvc.judge.relevance import Relevance, TopicMatch
from botsvc.models import Decision, FeedItem, ItemOutcome
from botsvc.store import examples, seenkeys
from botsvc.store.events import EventBook, Placement
from botsvc.store.merges import merge_events
from botsvc.store.placement import placement_turn
from botsvc.store.store import SeenRecord, Store, utcnow

REUSED_GUID_OVERLAP = 0.3
"""Below this word overlap between old and new title, a repeated GUID is a new story."""

_KEY_REASONS = {
    "guid": "same GUID as an item already seen in this feed",
    "url": "same link as an item already seen",
    "title": "same title from the same outlet as an item already seen",
}


_KEPT_OUT_REASONS: dict[tuple[bool, bool], str] = {}
"""(structure judged, learned judgement voted) -> the reason an item no judgement kept is irrelevant."""


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


class Processor:
    """Judges feed items and records them. One instance per database connection."""

    def __init__(
        self,
        store: Store,
        relevance: Relevance | Callable[[], Relevance],
        events: EventBook | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``relevance``: the topic rules, or what makes them when first needed (a poll in
        which no feed changed never compiles them)."""
        self.store = store
        self._relevance = relevance if isinstance(relevance, Relevance) else None
        self._make_relevance = None if isinstance(relevance, Relevance) else relevance
        self.events = events or EventBook(store)
        self.clock = clock
        self.learned: LearnedJudgement | None = None
        """The labelled examples that count, as of :attr:`_examples_version` (see :meth:`refresh_learned`);
        None until the first judging (the event index it votes through is read only when needed)."""
        self._examples_version: str | None = None

    @property
    def relevance(self) -> Relevance:
        if self._relevance is None:
            assert self._make_relevance is not None
            self._relevance = self._make_relevance()
        return self._relevance

    @relevance.setter
    def relevance(self, relevance: Relevance) -> None:
        self._relevance = relevance

    def prepare(self) -> None:
        """Compile the topic rules and read the event index now, if not done yet.

        Call before the transaction that judges: either may take a while (the index, seconds
        with a large archive), and neither must hold the write lock.
        """
        self.relevance  # noqa: B018  (built on first use)
        self.events.assigner  # noqa: B018

    def rules_source(self) -> tuple[Relevance | None, Callable[[], Relevance] | None]:
        """The topic rules if built, and what builds them (for the parse workers, :mod:`botsvc.service.prejudge`)."""
        return self._relevance, self._make_relevance

    def learns_from_examples(self) -> bool:
        """Whether the learned judgement may vote on items (someone ever reported one).

        It votes on items no topic matched too, so their text is needed for it: a cycle
        keeps every item's text when this is true, only the matched ones' otherwise.
        One ``bot_state`` read.
        """
        return examples.version(self.store) != "0"

    def refresh_learned(self) -> None:
        """Reload the labelled examples when a report was added or withdrawn since the last look.

        One ``bot_state`` read per cycle when nothing changed. A reported article stored by
        another connection (a chat command, ``botsvc missed``) is not in this process's index
        yet: the index catches up with the database (or, failing that, is reloaded), so later
        reports of the story join its event. An index read again since (a rebuild elsewhere)
        is voted through from then on.
        """
        current = examples.version(self.store)
        learned = self.learned
        if current == self._examples_version and learned is not None and learned.index is self.events.assigner.index:
            return
        applied = examples.applied_examples(self.store)
        reported = examples.reported_articles(self.store)
        if any(article_id not in self.events.assigner.index for article_id in reported):
            self.events.catch_up()
            if any(article_id not in self.events.assigner.index for article_id in reported):
                self.events.reload()
        self.learned = LearnedJudgement(((e.article_id, e.label) for e in applied), self.events.assigner.index)
        self._examples_version = current

    def process(self, items: list[FeedItem], topics: tuple[str, ...] | None = None) -> list[ItemOutcome]:
        """Judge ``items`` (one feed's, in feed order) and return outcomes in the same order.

        Items are judged oldest first so an event opens with its earliest report.
        The caller owns the transaction.
        """
        return self.process_many([(items, topics)])[0]

    def process_many(
        self,
        batches: Sequence[tuple[list[FeedItem], tuple[str, ...] | None]],
        now: datetime | None = None,
        *,
        matched: Sequence[Sequence[Sequence[TopicMatch] | None]] | None = None,
        keys: Sequence[Sequence[list[str]]] | None = None,
    ) -> list[list[ItemOutcome]]:
        """Judge the items of several feeds (each with its topics) as one stream, oldest first.

        A report read in the first feed but published after the reports of a later feed
        must not open an event of its own before they are in: every item of the cycle is
        judged in order of publication, whichever feed carried it (ties keep feed order).
        Outcomes come back per batch, in each batch's feed order. The caller owns the transaction.
        ``matched``: per batch, each item's topic matches if already judged (where it was
        parsed, see :mod:`botsvc.service.prejudge`), None for an item to judge here.
        ``now``: the time the items are judged at (default: the clock's), one for a whole
        cycle judged in several calls within one transaction.
        ``keys``: per batch, each item's identity keys if already known (see :mod:`botsvc.service.spill`).
        """
        now = now or self.clock()
        self.refresh_learned()
        stream = [
            (item.event_time or now, number, index, item)
            for number, (items, _) in enumerate(batches)
            for index, item in enumerate(items)
        ]
        stream.sort(key=lambda entry: entry[:3])
        if keys is None:
            made = [[identity_keys_and_title(item) for item in items] for items, _ in batches]
        else:  # made where the items were parsed: only the title is normalised again (a fast path)
            made = [
                [(item_keys, normalise_title(item.title)) for item, item_keys in zip(items, feed_keys, strict=True)]
                for (items, _), feed_keys in zip(batches, keys, strict=True)
            ]
        outcomes: list[dict[int, ItemOutcome]] = [{} for _ in batches]
        # The seen keys of all the items are read together (a query per few hundred keys,
        # however many feeds they came from) and written together at the end.
        with self.store.seen_batch([[key for feed_keys in made for item_keys, _ in feed_keys for key in item_keys]]):
            for _, number, index, item in stream:
                prejudged = matched[number][index] if matched is not None else None
                item_keys, title = made[number][index]
                outcomes[number][index] = self._judge(item, batches[number][1], now, item_keys, prejudged, title)
        return [[found[i] for i in range(len(items))] for found, (items, _) in zip(outcomes, batches, strict=True)]

    def _judge(
        self,
        item: FeedItem,
        topics: tuple[str, ...] | None,
        now: datetime,
        keys: list[str],
        prejudged: Sequence[TopicMatch] | None,
        title: str,
    ) -> ItemOutcome:
        """One item's outcome; ``title``: its normalised title (made with ``keys``)."""
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
                repeat=True,
            )

        matches = self.relevance.match(item, topics) if prejudged is None else list(prejudged)
        vote = self.learned.vote(self.events.fingerprint(item)) if self.learned else None
        if vote is not None and matches and not vote.relevant:
            self.store.mark_seen(keys, "irrelevant", None, now, title=title, replace=reused)
            return ItemOutcome(item=item, decision="irrelevant", reason=f"dropped by the {vote.describe()}")
        if vote is not None and not matches and vote.relevant:
            matches = [self._learned_match(vote, topics)]
        if not matches:
            self.store.mark_seen(keys, "irrelevant", None, now, title=title, replace=reused)
            return ItemOutcome(item=item, decision="irrelevant", reason=self._kept_out_reason())
        return self.store_item(item, matches, keys, title, reused, now)

    def _kept_out_reason(self) -> str:
        """Why an item no judgement kept is irrelevant: one string shared by all such items of a cycle."""
        reason = _KEPT_OUT_REASONS.get((self.relevance.structural, bool(self.learned)))
        if reason is None:
            reason = "no topic rule matched" + (", nor the structure" if self.relevance.structural else "")
            if self.learned:
                reason += ", nor a reported example"
            reason = _KEPT_OUT_REASONS.setdefault((self.relevance.structural, bool(self.learned)), reason)
        return reason

    def _learned_match(self, vote: Vote, topics: tuple[str, ...] | None) -> TopicMatch:
        """The topic a reported example's likeness keeps an item in: the example's own, if the feed has it."""
        rows = self.store.query("SELECT topics FROM articles WHERE id = ?", (vote.article_id,))
        example_topics = json.loads(rows[0]["topics"] or "[]") if rows else []
        allowed = topics or tuple(self.relevance.matchers)
        topic = next((t for t in example_topics if t in allowed), allowed[0] if allowed else "default")
        return TopicMatch(topic, (), judgement="learned", learned=vote)

    def store_item(
        self,
        item: FeedItem,
        matches: list[TopicMatch],
        keys: list[str],
        title: str,
        reused: bool,
        now: datetime,
        *,
        held_back: str | None = None,
    ) -> ItemOutcome:
        """Place a relevant item in an event and store it; ``held_back`` marks an event it opens
        (``reported``: opened by a person's report, never alerted by the cycle).

        Under the placement turn, after catching up with what other processes stored, so two
        processes never both open an event for one story (:mod:`botsvc.store.placement`).
        """
        with placement_turn(self.store):
            self.events.catch_up()
            return self._place_and_store(item, matches, keys, title, reused, now, held_back=held_back)

    def _place_and_store(
        self,
        item: FeedItem,
        matches: list[TopicMatch],
        keys: list[str],
        title: str,
        reused: bool,
        now: datetime,
        *,
        held_back: str | None,
    ) -> ItemOutcome:
        topic_names = [m.topic for m in matches]
        keywords = sorted({k for m in matches for k in m.keywords}, key=str.casefold)
        # The rules decide first: the structure is named only when no topic's rules matched.
        deciding = next((m for m in matches if m.judgement == "rules"), matches[0])
        relevance = deciding.record()
        placement = self.events.place(item, now)
        if placement.copy_of is not None:
            return self._republished(item, keys, title, reused, placement, now)
        decision: Decision
        if placement.event_id is None:
            event_id = self.store.create_event(
                title=item.title,
                topic=topic_names[0],
                published=item.published,
                outlet=item.source,
                when=now,
            )
            if held_back is not None:
                self.store.hold_back_event(event_id, held_back)
            decision, reason = "new", f"{deciding.describe()}; {placement.reason}"
        else:
            event_id = placement.event_id
            decision, reason = "duplicate", placement.reason
            self.store.add_event_member(event_id, published=item.published, outlet=item.source, when=now)
        fingerprint = placement.fingerprint
        event_time = placement.event_time or item.event_time or now
        article_id, placed_seq = self.store.insert_placed_article(
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
        for absorbed in placement.merges:
            merge_events(self.store, absorbed, event_id, article_id, now)
            self.events.merge(absorbed, event_id)
        if fingerprint is not None:
            self.events.record(article_id, event_id, fingerprint, event_time, item.outlet_key, placed_seq)
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

    def _republished(
        self, item: FeedItem, keys: list[str], title: str, reused: bool, placement: Placement, now: datetime
    ) -> ItemOutcome:
        """A near-verbatim copy of an archived report: remembered, never stored or alerted as news."""
        original = cast(dict, placement.copy_of)
        self.store.record_republished_copy(item, original["id"], placement.similarity or 1.0, now)
        self.store.mark_seen(keys, "duplicate", original["id"], now, title=title, replace=reused)
        return ItemOutcome(
            item=item,
            decision="duplicate",
            reason=placement.reason,
            event_id=placement.event_id,
            duplicate_of=original["id"],
            similarity=placement.similarity,
        )
