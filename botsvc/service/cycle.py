"""One poll cycle: fetch feeds concurrently, parse, judge items, record everything.

Fetching overlaps on the network; parsing may run in worker processes. Once every feed
is fetched and parsed, the items of all of them are judged as one stream in order of
publication (a report read first but published later must not open an event of its
own), in one transaction together with each feed's new fetch state (so a stored ETag
always has its items stored too); no network I/O or parsing happens inside it. A feed
that failed is recorded as soon as it is in, in a transaction of its own; the feeds that
did not change (304) all together, in one short transaction, once every feed is in.

Given an :class:`~botsvc.service.intake.Intake`, every use of the store and the processor
(parsing too, unless worker processes parse) runs in its thread, so the event loop
stays free to answer HTTP while a big feed is judged. There, a cycle of more than
:data:`BATCH_ITEMS` items is judged in several transactions of that many items each,
still oldest first across its feeds, with the write turn given back between them, so a
big feed never keeps a command or a delivery from writing for more than a moment. The
feeds' fetch state (ETag) and caps go in the last one: the events opened before are held
back (``judging``) until then, and a poll stopped half-way is fetched and judged again
whole next time (what was stored is seen; its held-back events are counted, see
:func:`~botsvc.deliver.alert_limits.settle_judging`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from array import array
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from botsvc.deliver.alert_limits import AlertLimits, held_back_counts, hold_back, mark_judging, settle_judging
from botsvc.deliver.volume import Surge, fresh_items, record_poll, record_unchanged_polls
from botsvc.ingest.fetch import FetchPolicy, FetchResult, Validators, fetch_many
from botsvc.ingest.parse import FeedParseError, ParsedFeed, parse_feed
from botsvc.models import ItemOutcome
from botsvc.service import prejudge
from botsvc.service.handoff import HandOff
from botsvc.service.intake import Intake
from botsvc.service.prejudge import Prejudged
from botsvc.service.spill import ItemSpill, KeptFeed, PackedFeed, Waiting, pack
from botsvc.store import errors
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store

if TYPE_CHECKING:
    from botsvc.ingest.connect import FetchClient

log = logging.getLogger(__name__)

# Below this many feeds, starting worker processes costs more than it saves.
POOL_THRESHOLD = 40
PARSE_BACKLOG = 64
PARSE_BATCH = 16
"""Fetched bodies one task of the parse workers takes at most (see :mod:`.handoff`)."""
"""At least this many feeds may be fetched and waiting for their parse (more with a higher fetch concurrency)."""
BATCH_ITEMS = 100
"""Items judged and stored per transaction of a big cycle in ``botsvc run`` (a fraction of a second each)."""
JUDGE_CHUNK = 2000
"""Items handed to the judging at once within a transaction (bounds what it holds per item)."""


@dataclass(frozen=True)
class FeedTarget:
    """A feed to poll: configured (``tracked``, fetch state kept) or ad hoc."""

    name: str
    url: str
    source: str | None = None
    language: str | None = None
    topics: tuple[str, ...] | None = None
    tracked: bool = True


@dataclass
class FeedReport:
    target: FeedTarget
    status: str  # "ok", "not_modified", "error"
    error: str | None = None
    warning: str | None = None
    outcomes: list[ItemOutcome] = field(default_factory=list)
    """In feed order: by default those of the items stored (see :func:`listed`), every item's if asked for."""
    surge: Surge | None = None
    """Set when this poll brought far more never-seen items than the feed usually does."""
    counted: dict[str, int] = field(default_factory=dict)
    """The items whose outcomes are not in ``outcomes``, counted by decision."""


@dataclass(repr=False)
class CycleReport:
    feeds: list[FeedReport]
    started: datetime
    finished: datetime

    def __repr__(self) -> str:
        # Short on purpose: the generated repr spells out every item of every feed (tens of
        # MB for a big cycle), and asyncio.run() formats the repr of its main task's result
        # when it restores the SIGINT handler, so `asyncio.run(run_cycle(...))` paid for it.
        return (
            f"CycleReport(feeds=<{len(self.feeds)} FeedReport>, items={self.items}, "
            f"started={self.started!r}, finished={self.finished!r})"
        )

    @property
    def outcomes(self) -> list[ItemOutcome]:
        """The outcomes the feeds' reports list (by default not every item's: see :func:`listed`)."""
        return [o for feed in self.feeds for o in feed.outcomes]

    @property
    def items(self) -> int:
        """How many items were judged, listed or only counted."""
        return sum(len(feed.outcomes) + sum(feed.counted.values()) for feed in self.feeds)

    def count(self, decision: str) -> int:
        """How many items got ``decision``, listed or only counted."""
        return sum(1 for o in self.outcomes if o.decision == decision) + sum(
            feed.counted.get(decision, 0) for feed in self.feeds
        )

    @property
    def new_event_ids(self) -> list[int]:
        seen: dict[int, None] = {}
        for outcome in self.outcomes:
            if outcome.decision == "new" and outcome.event_id is not None:
                seen.setdefault(outcome.event_id)
        return list(seen)

    def summary(self) -> str:
        errors = sum(1 for f in self.feeds if f.status == "error")
        unchanged = sum(1 for f in self.feeds if f.status == "not_modified")
        text = (
            f"polled {len(self.feeds)} feed(s) in {(self.finished - self.started).total_seconds():.1f}s: "
            f"{self.count('new')} new, {self.count('duplicate')} duplicate, "
            f"{self.count('irrelevant')} irrelevant; {unchanged} unchanged, {errors} failed"
        )
        held = held_back_counts(self.outcomes)
        if held:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(held.items()))
            text += f"; {sum(held.values())} new not alerted ({reasons})"
        return text


def parse_fetched(result: FetchResult, target: FeedTarget) -> ParsedFeed | str:
    """Parse one fetched body; returns an error line instead of raising."""
    try:
        return parse_feed(
            result.body or b"",
            feed=target.name,
            source=target.source,
            url=result.final_url or target.url,
            language=target.language,
            content_type=result.content_type,
        )
    except FeedParseError as exc:
        return str(exc)
    except Exception as exc:  # feedparser on hostile input: never let one feed stop a cycle
        return f"parser failed: {type(exc).__name__}: {exc}"


def parse_and_match(result: FetchResult, target: FeedTarget) -> PackedFeed | ParsedFeed | str:
    """:func:`parse_fetched`, then the topic rules on its items, in a worker process (:mod:`.prejudge`);
    the items come back as the spill's records (:func:`~botsvc.service.spill.pack`), not as objects."""
    parsed = parse_fetched(result, target)
    if isinstance(parsed, str):
        return parsed
    matches = prejudge.match_items(parsed, target.topics)
    if matches is None:  # no rules here: the main process judges
        return parsed
    # What prejudge.prejudged() would hand over, written straight into records (no slimmed copies).
    return pack(parsed, matches, every_text=prejudge.keeps_every_text())


def _validators(store: Store, targets: Sequence[FeedTarget]) -> list[tuple[Validators, bool]]:
    """The stored ETag/Last-Modified of each target (none for ad hoc ones), and whether it was added from chat."""
    states = {state.name: state for state in store.feed_states()}  # one query, not one per feed
    found = []
    for target in targets:
        state = states.get(target.name) if target.tracked else None
        validators = Validators(state.etag, state.last_modified) if state else Validators()
        found.append((validators, state is not None and state.origin == "chat"))
    return found


async def _fetch_and_parse(
    targets: Sequence[FeedTarget],
    validators: Sequence[tuple[Validators, bool]],
    policy: FetchPolicy,
    executor: Executor | None,
    client: FetchClient | None = None,
    parse: Callable[[FetchResult, FeedTarget], PackedFeed | Prejudged | ParsedFeed | str] | None = None,
    *,
    workers: int = 1,
) -> AsyncGenerator[tuple[FeedTarget, FetchResult, PackedFeed | Prejudged | ParsedFeed | str | None], None]:
    """Yield every target with its fetch result and parse, in the order of ``targets``.

    Each target is yielded as soon as it and every target before it are fetched and
    parsed, so the caller can record a failed or unchanged feed while later ones are
    still on the network or in ``executor`` (worker processes or the intake thread).
    ``parse``: what parses a fetched body there (default :func:`parse_fetched`).
    ``workers``: worker processes in ``executor``; with more than one, bodies fetched
    while they are busy go to them several at a time (:mod:`.handoff`).
    """
    parse = parse or parse_fetched
    by_url: dict[str, list[int]] = {}
    requests: list[tuple[str, Validators]] = []
    from_chat: set[str] = set()  # fetched public-only, on every poll
    for index, target in enumerate(targets):
        conditions, chat_added = validators[index]
        if target.url not in by_url:
            requests.append((target.url, conditions))
        if chat_added:
            from_chat.add(target.url)
        by_url.setdefault(target.url, []).append(index)

    loop = asyncio.get_running_loop()
    slots: list[asyncio.Future | None] = [loop.create_future() for _ in targets]
    # Fetching is faster than parsing: without a bound, every feed's body waited in memory.
    backlog = asyncio.Semaphore(max(PARSE_BACKLOG, 2 * policy.concurrency))
    handoff = None
    if executor is not None:  # the intake thread also writes: there, one parse at a time
        handoff = HandOff(loop, executor, parse, workers=workers, most=PARSE_BATCH if workers > 1 else 1)

    async def fetch_all() -> None:
        async for result in fetch_many(requests, policy, client, public_only=from_chat, backlog=backlog):
            parses: list[asyncio.Future] = []
            # What waits for the caller keeps no raw body: the parse has it (about 20 KB a feed).
            kept = replace(result, body=None) if result.body is not None else result
            for index in by_url.get(result.url, ()):
                target = targets[index]
                if result.status != "ok":
                    parsed: asyncio.Future | PackedFeed | Prejudged | ParsedFeed | str | None = None
                elif handoff is not None:
                    parsed = handoff.submit(result, target)
                    parses.append(parsed)
                else:
                    parsed = parse(result, target)
                slot = slots[index]
                if slot is not None and not slot.done():
                    slot.set_result((kept, parsed))
            if parses:  # its place in the backlog is free once its body is parsed
                asyncio.gather(*parses, return_exceptions=True).add_done_callback(lambda _: backlog.release())
            else:
                backlog.release()

    fetcher = asyncio.ensure_future(fetch_all())
    finished = False
    try:
        for index, target in enumerate(targets):
            if index:
                # The caller recorded the previous feed without yielding to the event loop:
                # let responses, new parse jobs and finished parses move on first.
                await asyncio.sleep(0)
            slot = slots[index]
            assert slot is not None
            if not slot.done():
                await asyncio.wait((slot, fetcher), return_when=asyncio.FIRST_COMPLETED)
                if not slot.done():
                    fetcher.result()  # re-raises what stopped fetching
                    raise RuntimeError(f"no fetch result for {target.url}")
            result, parsed = slot.result()
            slots[index] = None  # let the body go once recorded
            if isinstance(parsed, asyncio.Future):
                parsed = await parsed
            yield target, result, parsed
        finished = True
    finally:
        if not finished and not fetcher.done():  # stopped early; else let it close its client
            fetcher.cancel()
        await asyncio.gather(fetcher, return_exceptions=True)
        if handoff is not None and not finished:
            handoff.cancel()
        for slot in slots:  # parses nobody will read: don't leave "never retrieved" warnings
            if slot is not None and slot.done() and not slot.cancelled():
                pending = slot.result()[1]
                if isinstance(pending, asyncio.Future):
                    pending.cancel()


def _begin(store: Store, target: FeedTarget) -> bool:
    """Make sure a tracked feed has its row; whether this is its first successful poll."""
    state = None
    if target.tracked:
        store.ensure_feed(target.name, target.url)
        state = store.feed_state(target.name)
    # An ad-hoc feed keeps no state: each of its polls is a first look at its history.
    return state is None or state.last_success_at is None


def _begin_all(store: Store, targets: Sequence[FeedTarget]) -> list[bool]:
    """:func:`_begin` for every target: one statement for their rows, a query per few hundred for their state."""
    tracked = [target for target in targets if target.tracked]
    store.ensure_feeds([(target.name, target.url) for target in tracked])
    polled = store.feeds_polled_before([target.name for target in tracked])
    return [not (target.tracked and target.name in polled) for target in targets]


def _unchanged(store: Store, unchanged: Sequence[tuple[FeedTarget, FetchResult]], now: datetime) -> list[FeedReport]:
    """Record every poll answered 304 in one short transaction: a row update each, nothing else.

    Nothing was fetched or judged, so nothing else changes: no seen window, no alert limits.
    """
    tracked = [(target, result) for target, result in unchanged if target.tracked]
    if tracked:
        with store.atomic():
            names = [target.name for target, _ in tracked]
            before = store.polled_before(names)
            store.record_not_modified(
                [(target.name, target.url, result.etag, result.last_modified) for target, result in tracked], now
            )
            record_unchanged_polls(store, names, before)
    return [FeedReport(target, "not_modified") for target, _ in unchanged]


def _unjudged(
    store: Store,
    target: FeedTarget,
    result: FetchResult,
    parsed: ParsedFeed | str | None,
    now: datetime,
) -> FeedReport:
    """Record a poll that failed (no body, or one that cannot be parsed)."""
    with store.atomic():
        _begin(store, target)
        error = result.error if result.status == "error" else (parsed if isinstance(parsed, str) else None)
        error = error or "no feed body"
        if target.tracked:
            store.record_fetch_error(target.name, error, now)
        return FeedReport(target, "error", error=error)


def listed(outcome: ItemOutcome) -> bool:
    """Whether a cycle's report lists ``outcome`` by default: an item stored, or one that copies
    an archived report. An irrelevant item or an exact repeat (most of a big cycle) is only counted."""
    return outcome.decision != "irrelevant" and not outcome.repeat


@dataclass
class Tally:
    """One feed's outcomes judged so far: those its report lists, by item index, and the number of the others."""

    every_outcome: bool = False
    """List every item's outcome, not only the :func:`listed` ones."""
    by_index: dict[int, ItemOutcome] = field(default_factory=dict)
    """The listed outcomes, by the index of their item in its feed."""
    counted: dict[str, int] = field(default_factory=dict)

    def add(self, index: int, outcome: ItemOutcome) -> None:
        if self.every_outcome or listed(outcome):
            item = outcome.item
            if item.summary or item.body:  # the report holds no text (no reader of it reads it)
                outcome.item = replace(item, summary="", body="")
            self.by_index[index] = outcome
        else:
            self.counted[outcome.decision] = self.counted.get(outcome.decision, 0) + 1

    def outcomes(self) -> list[ItemOutcome]:
        """The listed outcomes in feed order."""
        return [self.by_index[index] for index in sorted(self.by_index)]

    def fresh(self) -> int:
        """Items never seen before (:func:`~botsvc.deliver.volume.fresh_items`): of those only counted,
        the irrelevant ones (the others are exact repeats)."""
        return fresh_items(list(self.by_index.values())) + self.counted.get("irrelevant", 0)

    def copy(self) -> Tally:
        return Tally(self.every_outcome, dict(self.by_index), dict(self.counted))


def _finish(
    store: Store,
    target: FeedTarget,
    result: FetchResult,
    kept: KeptFeed,
    tally: Tally,
    spill: ItemSpill,
    limits: AlertLimits,
    *,
    first_poll: bool,
    now: datetime,
    batched: bool = False,
) -> FeedReport:
    """A judged feed's alert limits, seen window and fetch state (in the transaction of its last items).

    ``batched``: earlier transactions of this poll stored some of its items and held their
    events back as ``judging``; the caps decide on them now. The seen window is the whole body.
    The caller settles what is left ``judging`` (:func:`settle_judging`) once every feed is finished.
    """
    outcomes = tally.outcomes()
    hold_back(store, outcomes, limits, first_poll=first_poll, now=now, batched=batched)
    surge = None
    keys, hashes = spill.feed_window(kept)
    store.touch_window(target.name, keys, now, tracked=target.tracked, hashes=hashes)
    if target.tracked:
        store.record_fetch_success(
            target.name, etag=result.etag, last_modified=result.last_modified, items=kept.size, when=now
        )
        surge = record_poll(store, target.name, tally.fresh(), limits, first_poll=first_poll, now=now)
    return FeedReport(target, "ok", warning=kept.warning, outcomes=outcomes, surge=surge, counted=tally.counted)


Fetched = tuple[FeedTarget, FetchResult, KeptFeed]


@dataclass
class Judged:
    """What earlier transactions of a batched poll judged: the items left (oldest first), each feed's tally so far."""

    remaining: Sequence[int]
    tallies: dict[int, Tally]
    now: datetime


def _process(
    processor: Processor,
    batches: Sequence[tuple[Sequence[Waiting], tuple[str, ...] | None]],
    now: datetime | None = None,
) -> list[list[ItemOutcome]]:
    """:meth:`Processor.process_many` on items read back from the spill, with their keys and matches."""
    return processor.process_many(
        [([item for item, _, _ in waiting], topics) for waiting, topics in batches],
        now,
        matched=[[matches for _, _, matches in waiting] for waiting, _ in batches],
        keys=[[keys for _, keys, _ in waiting] for waiting, _ in batches],
    )


def _judge_in_chunks(
    processor: Processor,
    topics: Mapping[int, tuple[str, ...] | None],
    stream: Sequence[int],
    spill: ItemSpill,
    tallies: Mapping[int, Tally],
    now: datetime,
    chunk: int | None = None,
    *,
    clock: bool = False,
) -> None:
    """Judge the items ``stream`` (spill numbers, oldest first), :data:`JUDGE_CHUNK` items per call,
    into their feeds' ``tallies``; ``topics``: by feed number.

    What judging holds for the items it is given at once (the items, identity keys, the seen
    rows read for them, the keys it will write) grows with their number: given a whole big
    cycle, it was most of the cycle's memory. Taking the stream in order of publication a
    chunk at a time, read back from the spill, keeps that bounded and judges every item in
    the same order as one call would. Every chunk is judged at ``now``, as one call would
    judge them all: the seen keys it writes then already carry the time the feeds' windows
    are stamped with (:meth:`~botsvc.store.store.Store.touch_window` rewrites nothing for
    them). ``clock``: judge at the processor's clock instead (the last transaction of a
    batched poll, whose ``now`` is when the poll began, before other writers had their turns).
    """
    chunk = chunk or JUDGE_CHUNK
    at = None if clock else now
    for start in range(0, len(stream), chunk):
        part = stream[start : start + chunk]
        # Only the feeds with items in this chunk: a chunk holds a few of a big cycle's feeds,
        # and handing over every feed each time made the chunks cost feeds x chunks.
        batch: dict[int, list[Waiting]] = {}
        places: dict[int, list[int]] = {}
        for number, waiting in zip(part, spill.read(part), strict=True):
            feed = spill.feed_of(number)
            batch.setdefault(feed, []).append(waiting)
            places.setdefault(feed, []).append(number - spill.first(feed))
        feeds = sorted(batch)  # in feed order: it breaks ties of publication time, as in one call
        found = _process(processor, [(batch[feed], topics[feed]) for feed in feeds], at)
        for feed, feed_outcomes in zip(feeds, found, strict=True):
            tally = tallies[feed]
            for index, outcome in zip(places[feed], feed_outcomes, strict=True):
                tally.add(index, outcome)


def _judge_together(
    store: Store,
    processor: Processor,
    fetched: Sequence[Fetched],
    limits: AlertLimits,
    spill: ItemSpill,
    judged: Judged | None = None,
    every_outcome: bool = False,
) -> list[FeedReport]:
    """Judge the items of every fetched feed in one stream, oldest first, in one transaction.

    Each feed's new fetch state (ETag, seen window, volume) is stored in the same
    transaction as its items, so a stored ETag always has its items stored too. With
    ``judged``, earlier transactions (:func:`_judge_batch`) stored the oldest items already.
    """
    now = judged.now if judged is not None else processor.clock()
    kept = [entry[2] for entry in fetched]
    if judged is None:
        stream: Sequence[int] = spill.order(now, kept)
        tallies = {feed.number: Tally(every_outcome) for feed in kept}
    else:  # copies: a failed try must leave them as they were, for a try of each feed alone
        stream, tallies = judged.remaining, {feed.number: judged.tallies[feed.number].copy() for feed in kept}
    with store.atomic():
        first_polls = _begin_all(store, [target for target, _, _ in fetched])
        topics = {feed.number: target.topics for (target, _, _), feed in zip(fetched, kept, strict=True)}
        _judge_in_chunks(processor, topics, stream, spill, tallies, now, clock=judged is not None)
        reports = [
            _finish(
                store,
                target,
                result,
                feed,
                tallies[feed.number],
                spill,
                limits,
                first_poll=first,
                now=now,
                batched=judged is not None,
            )
            for (target, result, feed), first in zip(fetched, first_polls, strict=True)
        ]
        settle_judging(store, [target.name for target, _, _ in fetched if target.tracked])  # one statement
        return reports


def _judge_batch(
    store: Store,
    processor: Processor,
    fetched: Sequence[tuple[FeedTarget, FetchResult | None, object]],
    batch: list[list[Waiting]],
    now: datetime,
) -> list[list[ItemOutcome]]:
    """One transaction of a big cycle: judge and store ``batch`` (items per feed, read back from the spill),
    hold back the events they open until the last transaction, and note their keys as seen in this poll."""
    try:
        with store.atomic():
            # Only the feeds with items in this batch (a few of a big cycle's), not every feed each time.
            numbers = [number for number, items in enumerate(batch) if items]
            for number in numbers:
                if fetched[number][0].tracked:
                    store.ensure_feed(fetched[number][0].name, fetched[number][0].url)
            found = _process(processor, [(batch[number], fetched[number][0].topics) for number in numbers])
            outcomes: list[list[ItemOutcome]] = [[] for _ in batch]
            for number, feed_outcomes in zip(numbers, found, strict=True):
                outcomes[number] = feed_outcomes
                mark_judging(store, feed_outcomes)
                keys = (key for _, item_keys, _ in batch[number] for key in item_keys)
                store.touch_window(fetched[number][0].name, keys, now, tracked=False)
            return outcomes
    except BaseException:
        processor.events.reload()
        raise


async def _judge_in_turns(
    intake: Intake, fetched: Sequence[Fetched], limits: AlertLimits, spill: ItemSpill, every_outcome: bool = False
) -> list[FeedReport]:
    """Judge a cycle's fetched feeds oldest first, a big cycle in several transactions, each holding the write turn."""
    store, processor = intake.store, intake.processor
    kept = [entry[2] for entry in fetched]
    total = sum(feed.size for feed in kept)
    if total <= BATCH_ITEMS:
        return await intake.write(_judge_or_forget, store, processor, fetched, limits, spill, None, every_outcome)
    now = processor.clock()
    stream = spill.order(now, kept)
    position = {feed.number: place for place, feed in enumerate(kept)}
    judged = Judged(stream, {feed.number: Tally(every_outcome) for feed in kept}, now)
    done = 0
    for start in range(0, total - BATCH_ITEMS, BATCH_ITEMS):
        part = stream[start : start + BATCH_ITEMS]
        batch: list[list[Waiting]] = [[] for _ in fetched]
        places: list[list[int]] = [[] for _ in fetched]
        for number, waiting in zip(part, spill.read(part), strict=True):
            at = spill.feed_of(number)
            batch[position[at]].append(waiting)
            places[position[at]].append(number - spill.first(at))
        found = await intake.write(_judge_batch, store, processor, fetched, batch, now)
        for feed, indexes, outcomes in zip(kept, places, found, strict=True):
            tally = judged.tallies[feed.number]
            for index, outcome in zip(indexes, outcomes, strict=True):
                tally.add(index, outcome)
        done = start + BATCH_ITEMS
    judged.remaining = stream[done:]
    return await intake.write(_judge_or_forget, store, processor, fetched, limits, spill, judged, every_outcome)


def _judge_or_forget(
    store: Store,
    processor: Processor,
    fetched: Sequence[Fetched],
    limits: AlertLimits,
    spill: ItemSpill,
    judged: Judged | None = None,
    every_outcome: bool = False,
) -> list[FeedReport]:
    """:func:`_judge_together`; if it fails, the in-memory index forgets what it rolled back.

    A failure that is not the database's (an item the judging cannot take) must not cost
    the other feeds their poll: each feed is then judged alone, and a feed that still
    fails is recorded as a failed poll (its ETag is not stored, so it is read again, and
    its backoff applies).
    """
    try:
        return _judge_together(store, processor, fetched, limits, spill, judged, every_outcome)
    except BaseException as exc:
        processor.events.reload()
        if len(fetched) == 1 or not isinstance(exc, Exception) or isinstance(exc, errors.DatabaseError):
            raise
    reports = []
    for entry in fetched:
        alone = None
        if judged is not None:
            feed = entry[2].number
            remaining = array("q", (number for number in judged.remaining if spill.feed_of(number) == feed))
            alone = Judged(remaining, {feed: judged.tallies[feed]}, judged.now)
        try:
            reports.extend(_judge_together(store, processor, [entry], limits, spill, alone, every_outcome))
        except errors.DatabaseError:
            processor.events.reload()
            raise
        except Exception as exc:
            processor.events.reload()
            target = entry[0]
            log.exception("feed %s: judging its items failed", target.name)
            error = f"judging failed: {type(exc).__name__}"
            if target.tracked:  # counts as a failed poll: its backoff applies, its ETag stays unstored
                with store.atomic():
                    store.ensure_feed(target.name, target.url)
                    store.record_fetch_error(target.name, error, processor.clock())
            reports.append(FeedReport(target, "error", error=error))
    return reports


def _log_held_back(report: FeedReport) -> None:
    if report.surge is not None:
        log.warning("feed %s: %s", report.target.name, report.surge.describe())
    held = held_back_counts(report.outcomes)
    if held.get("backfill"):
        log.info("feed %s: first poll: %d older event(s) archived without alerts", report.target.name, held["backfill"])
    if held.get("capped"):
        log.warning(
            "feed %s: %d new event(s) this poll over the cap; archived and counted in the digest",
            report.target.name,
            held["capped"],
        )


async def run_cycle(
    store: Store,
    processor: Processor,
    targets: Sequence[FeedTarget],
    policy: FetchPolicy = FetchPolicy(),
    *,
    workers: int | None = None,
    limits: AlertLimits = AlertLimits(),
    intake: Intake | None = None,
    client: FetchClient | None = None,
    every_outcome: bool = False,
) -> CycleReport:
    """Poll ``targets`` once. Never raises for a bad feed: its error is in the report.

    ``limits`` decides which of the events opened are alerted (see :mod:`botsvc.deliver.alert_limits`).
    With ``intake``, ``store`` and ``processor`` must be its own: they are used only in
    its thread, each transaction holding its write turn. ``client``: a fetch client
    the caller keeps open across cycles (a worker's, shared by its poll jobs); without
    one, a client is made for this cycle and closed after it. ``every_outcome``: the report
    lists the outcome of every item, not only of those stored (the others are counted,
    see :func:`listed`): a big cycle's are most of its memory.
    """
    started = processor.clock()
    remote = sum(1 for t in targets if t.url.startswith(("http://", "https://")))
    use_pool = workers != 0 and remote >= POOL_THRESHOLD and (os.cpu_count() or 1) > 1
    pool = None
    reports = []
    spill = ItemSpill()  # the fetched items wait for the judging on disk, not in memory
    try:
        if intake is None:
            validators, every_text = _validators(store, targets), processor.learns_from_examples()
        else:
            validators = await intake.run(_validators, store, targets)
            every_text = await intake.run(processor.learns_from_examples)
        if use_pool:  # the workers parse, and judge relevance beside it (see prejudge)
            rules = prejudge.rules_for_workers(*processor.rules_source())
            pool = ProcessPoolExecutor(
                workers or os.cpu_count(), initializer=prejudge.install, initargs=(rules, every_text)
            )
        parser = pool or (intake.thread if intake is not None else None)
        # A failed feed is recorded as soon as it is in; the unchanged ones (304) all at
        # once when every feed is in; the items of all the others are judged together
        # then, oldest first, so arrival order across feeds does not shape events.
        to_judge: list[Fetched] = []
        unchanged: list[tuple[FeedTarget, FetchResult]] = []
        parse = parse_and_match if pool is not None else None
        workers_now = (workers or os.cpu_count() or 1) if pool is not None else 1
        handed = _fetch_and_parse(targets, validators, policy, parser, client, parse, workers=workers_now)
        async with aclosing(handed) as fetched:
            async for target, result, given in fetched:
                if isinstance(given, PackedFeed):  # parsed, judged and written out by a worker
                    to_judge.append((target, result, spill.keep_packed(given)))
                    continue
                parsed, matches, keys = (
                    (given.parsed, given.matches, given.keys) if isinstance(given, Prejudged) else (given, None, None)
                )
                if result.status == "ok" and isinstance(parsed, ParsedFeed):
                    to_judge.append((target, result, spill.keep(parsed, matches, every_text=every_text, keys=keys)))
                    continue
                if result.status == "not_modified":
                    unchanged.append((target, result))
                    continue
                now = processor.clock()
                if intake is None:
                    reports.append(_unjudged(store, target, result, parsed, now))
                else:
                    reports.append(await intake.write(_unjudged, store, target, result, parsed, now))
        given = parsed = matches = keys = None  # the last feed's items wait in the spill too, not here
        if unchanged:
            now = processor.clock()
            if intake is None:
                reports.extend(_unchanged(store, unchanged, now))
            else:
                reports.extend(await intake.write(_unchanged, store, unchanged, now))
        if to_judge:
            if intake is None:
                processor.prepare()  # outside the judging transaction (the intake's is prepared)
                reports.extend(_judge_or_forget(store, processor, to_judge, limits, spill, None, every_outcome))
            else:
                reports.extend(await _judge_in_turns(intake, to_judge, limits, spill, every_outcome))
        order = {id(target): n for n, target in enumerate(targets)}
        reports.sort(key=lambda report: order.get(id(report.target), len(order)))
        for report in reports:
            if report.status == "error":
                log.warning("feed %s: %s", report.target.name, report.error)
            elif report.warning:
                log.info("feed %s: %s", report.target.name, report.warning)
            _log_held_back(report)
    finally:
        spill.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return CycleReport(reports, started, processor.clock())
