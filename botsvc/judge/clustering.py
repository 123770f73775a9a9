"""Folding reports of one story into events.

:class:`EventAssigner` keeps every stored document in a
:class:`~botsvc.judge.similarity.SimilarityIndex` and, per event, its members and the time
its first report was published. For an incoming item it joins the event of the most
similar archive document that

* scores at or above ``threshold`` (the index's score: weighted word containment
  for reports in one language, weighted concept containment across languages);
* belongs to an event that had begun when the item was published, allowing
  ``lead_hours`` for clock and time-zone noise (an item published well before an
  event began is background, not a report of it);
* belongs to an event whose first report is at most ``span_days`` before the item,
  measured from the *first* report so an event cannot creep from member to member.
  Both documents naming a concept of a long-running story (a boycott; see
  :mod:`botsvc.judge.concepts`) lets the event run for that concept's span instead;
* is not a different report by the same outlet within :data:`SAME_OUTLET_HOURS`,
  unless the two are nearly identical (:data:`NEAR_IDENTICAL`): one newsroom's two
  stories of one morning are two stories, and a newsroom does not re-report itself;

or else says "open a new event".

Pure and in-memory: the caller persists, per article, its fingerprint
(``Fingerprint.to_bytes()``), its event id, its publication time (or, for an undated
item, the time it was first seen) and its outlet. At start-up, call
:meth:`EventAssigner.record_many` with every stored article.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from botsvc.judge.concepts import default_lexicon
from botsvc.judge.fingerprint import CROSS_LANGUAGE_BIT, Fingerprint, raw_parts, token_hash
from botsvc.judge.similarity import Neighbour, SimilarityIndex

__all__ = ["Assignment", "EventAssigner", "DEFAULT_LEAD_HOURS", "DEFAULT_SPAN_DAYS", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.2
#: An event takes new reports for this many days after its first one.
DEFAULT_SPAN_DAYS = 3.5
#: An item may predate an event's first report by this much: a date without a time (taken as noon)
#: in a time zone up to 14 hours away is off by up to a day and a half.
DEFAULT_LEAD_HOURS = 36.0
#: Two reports of one outlet this close in time are one story only when nearly identical.
SAME_OUTLET_HOURS = 12.0
NEAR_IDENTICAL = 0.8
#: A report bridges two events only when it is about as close to the second as to the first:
#: its similarity to the second is at least this share of its similarity to the best.
BRIDGE_RATIO = 0.7
#: Eligible candidates examined per assignment (the best that passes every rule wins).
CANDIDATES = 8

#: How many nearest documents an assignment reports (for ``botsvc explain``).
EXPLAIN_NEIGHBOURS = 5


@dataclass(frozen=True)
class Assignment:
    event_id: int | None
    """Existing event the item joins; None: open a new event."""
    duplicate_of: int | None
    """Doc id of the most similar member of the chosen event (None for a new event)."""
    similarity: float | None
    """Similarity to ``duplicate_of`` (None for a new event)."""
    neighbours: list[Neighbour]
    """Nearest archive documents whatever their time, best first (their events: ``EventAssigner.event_of``)."""
    reason: str
    merges: tuple[int, ...] = ()
    """Other open events the item also joins (a bridge): they merge into ``event_id``."""

    @property
    def is_new(self) -> bool:
        return self.event_id is None


@dataclass
class _Event:
    slot: int  # row in the assigner's span arrays
    first: datetime
    last: datetime
    members: list[int] = field(default_factory=list)


def _utc(when: datetime | None) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC; None is now."""
    if when is None:
        return datetime.now(timezone.utc)
    if when.tzinfo is None or when.utcoffset() is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400.0


class _Column:
    """A growable numpy column (doubling), filled with ``fill``."""

    __slots__ = ("data", "fill")

    def __init__(self, dtype, fill) -> None:
        self.fill = fill
        self.data = np.full(256, fill, dtype=dtype)

    def set(self, i: int, value) -> None:
        if i >= len(self.data):
            bigger = np.full(max(i + 1, 2 * len(self.data)), self.fill, dtype=self.data.dtype)
            bigger[: len(self.data)] = self.data
            self.data = bigger
        self.data[i] = value


class EventAssigner:
    """Decides which event an item belongs to; see the module docstring."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        span_days: float = DEFAULT_SPAN_DAYS,
        index: SimilarityIndex | None = None,
        lead_hours: float = DEFAULT_LEAD_HOURS,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if span_days < 0:
            raise ValueError("span_days must not be negative")
        if lead_hours < 0:
            raise ValueError("lead_hours must not be negative")
        self.threshold = float(threshold)
        self.span = timedelta(days=float(span_days))
        self.lead = timedelta(hours=float(lead_hours))
        self.index = index if index is not None else SimilarityIndex()
        self._events: dict[int, _Event] = {}
        self._slots = 0  # span-array rows handed out (a merged event's row is never reused)
        self._event_of: dict[int, int] = {}
        self._time: dict[int, datetime] = {}
        self._outlet: dict[int, str] = {}
        # Long-running-story concepts: token hash -> span; and which documents carry them.
        self._long_spans = {
            token_hash(tok): timedelta(days=days) for tok, days in default_lexicon().long_spans().items()
        }
        self._longest = max([self.span, *self._long_spans.values()])
        self._long_of: dict[int, frozenset[int]] = {}
        self._concept_names = {token_hash(c.token): c.name for c in default_lexicon().concepts.values()}
        # Vectorised view for the time test: index position -> event slot -> first report time.
        self._slot_of_position = _Column(np.int64, -1)
        self._first = _Column(np.float64, np.inf)

    # ------------------------------------------------------------------ state
    def event_of(self, doc_id: int) -> int | None:
        return self._event_of.get(doc_id)

    def members(self, event_id: int) -> list[int]:
        event = self._events.get(event_id)
        return list(event.members) if event else []

    def first_published(self, event_id: int) -> datetime | None:
        event = self._events.get(event_id)
        return event.first if event else None

    def last_published(self, event_id: int) -> datetime | None:
        event = self._events.get(event_id)
        return event.last if event else None

    def __len__(self) -> int:
        """Number of events."""
        return len(self._events)

    def record(
        self, doc_id: int, event_id: int, fp: Fingerprint, published: datetime | None, outlet: str | None = None
    ) -> None:
        """Add a stored document to the index (unless already there) and to its event.

        ``published`` is the publication time, or the time it was seen for an
        undated item (store that time, so that a rebuild gives the same events).
        Recording a document again for the same event only updates the event's span.
        """
        when = _utc(published)
        self._check(doc_id, event_id)
        if doc_id not in self.index:
            self.index.add(doc_id, fp)
        self._remember(doc_id, fp.hashes, outlet)
        self._join(doc_id, event_id, when)

    def record_many(self, rows: Iterable[tuple]) -> None:
        """:meth:`record` for many stored articles, e.g. all of them at start-up (the index is built in bulk).

        ``rows``: ``(doc_id, event_id, fingerprint, published[, outlet])`` in the order the
        articles were stored; the fingerprint may be its persisted bytes
        (fastest: no Python object per token is created).
        """
        rows = [(row[0], row[1], row[2], _utc(row[3]), row[4] if len(row) > 4 else None) for row in rows]
        pending: dict[int, int] = {}
        fresh: dict[int, Fingerprint | bytes] = {}
        for doc_id, event_id, fp, _, _ in rows:
            self._check(doc_id, event_id)
            earlier = pending.setdefault(doc_id, event_id)
            if earlier != event_id:
                raise ValueError(f"document {doc_id} is listed for events {earlier} and {event_id}")
            if doc_id not in self.index:
                fresh.setdefault(doc_id, fp)
        self.index.add_many(fresh.items())
        long_hashes = np.fromiter(self._long_spans, dtype=np.uint64, count=len(self._long_spans))
        for doc_id, event_id, fp, when, outlet in rows:
            if isinstance(fp, Fingerprint):
                hashes = fp.hashes
            else:
                raw, _, _ = raw_parts(fp)
                found = np.frombuffer(raw, dtype="<u8")
                hashes = found[np.isin(found, long_hashes)].tolist() if len(long_hashes) else ()
            self._remember(doc_id, hashes, outlet)
            self._join(doc_id, event_id, when)

    def _remember(self, doc_id: int, hashes, outlet: str | None) -> None:
        if outlet:
            self._outlet[doc_id] = outlet
        long = frozenset(h for h in hashes if h in self._long_spans)
        if long:
            self._long_of[doc_id] = long

    def _check(self, doc_id: int, event_id: int) -> None:
        previous = self._event_of.get(doc_id)
        if previous is not None and previous != event_id:
            raise ValueError(f"document {doc_id} already belongs to event {previous}")

    def _join(self, doc_id: int, event_id: int, when: datetime) -> None:
        event = self._events.get(event_id)
        if event is None:
            event = self._events[event_id] = _Event(self._slots, when, when)
            self._slots += 1
            self._first.set(event.slot, when.timestamp())
        elif when < event.first:
            event.first = when
            self._first.set(event.slot, when.timestamp())
        elif when > event.last:
            event.last = when
        if doc_id not in self._event_of:
            event.members.append(doc_id)
            self._event_of[doc_id] = event_id
            self._time[doc_id] = when
            self._slot_of_position.set(self.index.position(doc_id), event.slot)

    # ------------------------------------------------------------------ deciding
    def span_for(self, event_id: int, doc_id: int, fp: Fingerprint) -> timedelta:
        """How long after its first report ``event_id`` takes an item like ``fp`` through member ``doc_id``."""
        long = self._long_of.get(doc_id)
        if not long:  # most documents name no long-running story: no set of the item's hashes to build
            return self.span
        return max([self.span, *(self._long_spans[h] for h in long.intersection(fp.hashes))])

    def concepts_of(self, fp: Fingerprint) -> list[str]:
        """Names of the lexicon concepts in a fingerprint."""
        return sorted(self._concept_names[h] for h in fp.hashes if h in self._concept_names)

    def evidence(self, fp: Fingerprint, doc_id: int) -> str:
        """What an item shares with archive document ``doc_id``: concepts by name, and how many words and figures."""
        shared = self.index.shared_hashes(fp, doc_id)
        concept_names = self._concept_names
        names = sorted([concept_names[h] for h in shared if h in concept_names])
        cross = sum([h >= CROSS_LANGUAGE_BIT for h in shared])  # the top bit marks a cross-language token
        figures = cross - len(names)
        words = len(shared) - cross
        parts = [f"concepts {', '.join(names)}" if names else "no concepts", f"{words} word(s)"]
        if figures:
            parts.append(f"{figures} figure(s)")
        return "shares " + ", ".join(parts)

    def in_window(self, event_id: int, when: datetime) -> bool:
        """Whether an item at ``when`` is inside the event's default span (lead tolerance included)."""
        event = self._events.get(event_id)
        when = _utc(when)
        return event is not None and event.first - self.lead <= when <= event.first + self.span

    def _eligible(self, when: datetime):
        """Vectorised first cut: documents of events begun at most the longest span before ``when``."""
        lo = (when - self._longest).timestamp()
        hi = (when + self.lead).timestamp()

        def allow(positions: np.ndarray) -> np.ndarray:
            slots_all = self._slot_of_position.data
            if not len(positions) or positions.max() < len(slots_all):  # every indexed document has a slot row
                slots = slots_all[positions]
            else:
                inside = positions < len(slots_all)
                slots = np.where(inside, slots_all[np.minimum(positions, len(slots_all) - 1)], -1)
            known = slots >= 0
            safe = np.where(known, slots, 0)
            first = self._first.data[safe]
            return known & (first >= lo) & (first <= hi)

        return allow

    def _refusal(self, nb: Neighbour, fp: Fingerprint, when: datetime, outlet: str | None) -> str | None:
        """Why the candidate ``nb`` may not take the item (None: it may)."""
        event_id = self._event_of[nb.doc_id]
        event = self._events[event_id]
        if when < event.first - self.lead:
            return f"event {event_id} began {_days(event.first - when):.1f} days after this item"
        span = self.span_for(event_id, nb.doc_id, fp)
        if when > event.first + span:
            return f"event {event_id} began {_days(when - event.first):.1f} days earlier (span {_days(span):g} days)"
        if event.last - when > span + self.lead:
            return f"event {event_id} would span {_days(event.last - when):.1f} days (span {_days(span):g} days)"
        if (
            outlet
            and self._outlet.get(nb.doc_id) == outlet
            and nb.similarity < NEAR_IDENTICAL
            and abs(when - self._time[nb.doc_id]) <= timedelta(hours=SAME_OUTLET_HOURS)
        ):
            return f"article {nb.doc_id} is another story of the same outlet ({outlet}) that day"
        return None

    def _bridged(self, accepted: dict[int, Neighbour], fp: Fingerprint, when: datetime) -> list[int]:
        """The accepted events that become one with the best: each added while the whole stays within a span.

        An item that passes the threshold with two open events of one story, within both
        their spans, and is about as close to both (:data:`BRIDGE_RATIO`), shows they are
        one story reported twice (e.g. told first in different languages); the merged event
        must still fit one event's span, so a bridge never chains two happenings days apart.
        """
        events = list(accepted)
        best = accepted[events[0]].similarity
        chosen = [events[0]]
        first = min(self._events[events[0]].first, when)
        last = max(self._events[events[0]].last, when)
        for event_id in events[1:]:
            if accepted[event_id].similarity < BRIDGE_RATIO * best:
                continue  # mainly a report of the best event that shares some of the other's words
            event = self._events[event_id]
            span = max(self.span_for(e, accepted[e].doc_id, fp) for e in (*chosen, event_id))
            lo, hi = min(first, event.first), max(last, event.last)
            if hi - lo <= span + self.lead:
                chosen.append(event_id)
                first, last = lo, hi
        return chosen

    def merge(self, absorbed: int, survivor: int) -> None:
        """Move every member of event ``absorbed`` into event ``survivor`` (both known)."""
        if absorbed == survivor:
            return
        gone = self._events.pop(absorbed, None)
        target = self._events.get(survivor)
        if gone is None or target is None:
            raise ValueError(f"cannot merge event {absorbed} into {survivor}: unknown event")
        for doc_id in gone.members:
            self._event_of[doc_id] = survivor
            target.members.append(doc_id)
            self._slot_of_position.set(self.index.position(doc_id), target.slot)
        self._first.set(gone.slot, np.inf)
        if gone.first < target.first:
            target.first = gone.first
            self._first.set(target.slot, gone.first.timestamp())
        target.last = max(target.last, gone.last)

    def assign(self, fp: Fingerprint, published: datetime | None, outlet: str | None = None) -> Assignment:
        """Where an item belongs. ``published``: publication time, or the time it was seen if undated."""
        when = _utc(published)
        neighbours, candidates = self.index.search(
            fp,
            k=EXPLAIN_NEIGHBOURS,
            allow=self._eligible(when),
            k_within=CANDIDATES,
            min_similarity_within=self.threshold,
        )
        refused: list[str] = []
        accepted: dict[int, Neighbour] = {}  # event -> its best candidate, best event first
        for nb in candidates:  # best first
            if accepted and nb.similarity < BRIDGE_RATIO * next(iter(accepted.values())).similarity:
                break  # too far below the best to bridge: nothing after it matters
            why = self._refusal(nb, fp, when, outlet)
            if why is not None:
                refused.append(why)
                continue
            accepted.setdefault(self._event_of[nb.doc_id], nb)
        if accepted:
            best_event, nb = next(iter(accepted.items()))
            after = _days(when - self._events[best_event].first)
            where = (
                f"{after:.1f} days after its first report"
                if after >= 0
                else f"{-after:.1f} days before its first report"
            )
            reason = (
                f"similar to article {nb.doc_id} ({nb.similarity:.2f}) of event {best_event}, {where}; "
                f"{self.evidence(fp, nb.doc_id)}"
            )
            bridged = self._bridged(accepted, fp, when)
            survivor = min(bridged, key=lambda e: self._events[e].slot)  # the first opened (first alerted)
            merges = tuple(sorted(e for e in bridged if e != survivor))
            if merges:
                also = ", ".join(
                    f"article {accepted[e].doc_id} ({accepted[e].similarity:.2f}) of event {e}"
                    for e in bridged
                    if e != best_event
                )
                reason += (
                    f"; also similar to {also}: event(s) {', '.join(map(str, merges))} merged into event {survivor}"
                )
            return Assignment(
                event_id=survivor,
                duplicate_of=nb.doc_id,
                similarity=nb.similarity,
                neighbours=neighbours,
                reason=reason,
                merges=merges,
            )
        if refused:
            reason = f"new event: the similar reports belong elsewhere ({refused[0]})"
        else:
            top = neighbours[0] if neighbours else None
            top_event = self._event_of.get(top.doc_id) if top else None
            if top is not None and top.similarity >= self.threshold and top_event is not None:
                first = self._events[top_event].first
                reason = (
                    f"new event: most similar is article {top.doc_id} ({top.similarity:.2f}) of event {top_event}, "
                    f"which began {_days(abs(when - first)):.1f} days {'before' if first <= when else 'after'} "
                    f"this item (span {_days(self.span):g} days)"
                )
            elif top is not None:
                reason = (
                    f"new event: no archive item at or above {self.threshold:.2f} in an event of the time "
                    f"(nearest: article {top.doc_id}, {top.similarity:.2f})"
                )
            else:
                reason = f"new event: no archive item at or above {self.threshold:.2f} in an event of the time"
        return Assignment(None, None, None, neighbours, reason)
