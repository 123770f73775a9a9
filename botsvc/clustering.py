"""Folding reports of one story into events.

:class:`EventAssigner` keeps every stored document in a
:class:`~botsvc.similarity.SimilarityIndex` and, per event, its members and
the time span they were published in. For an incoming item it joins the event
of the most similar archive document that

* scores at or above ``threshold``, and
* belongs to an event whose span is within ``window_days`` of the item's time:
  measured from the event's last member (for an item that predates the event,
  from its first member),

or else says "open a new event". Two documents of one story published close
together therefore fold into one event even when they share few words, while a
later development of the same topic (weeks or months after the last report)
opens a new one.

Chosen defaults (``benchmarks/cluster_eval_dev.py`` on the dev feed set, see
its docstring): ``threshold = 0.16`` and ``window_days = 14``. Similarities are
weighted containment (see :mod:`botsvc.similarity`); rewrites of one story by
different outlets typically score 0.2-0.6 and reports of other events inside
the window below 0.1. On the dev set pairwise F1 is >= 0.94 for every
threshold from 0.06 to 0.21, with no seeded-event item re-alerted below 0.26;
windows of 3-30 days give F1 0.97-0.99, 60 days and more merge distinct
developments of one topic.

Pure and in-memory: the caller persists, per article, its fingerprint
(``Fingerprint.to_bytes()``), its event id and its publication time (or, for
an undated item, the time it was first seen); per event nothing else is needed
(members and first/last times follow from the articles). At start-up, call
:meth:`EventAssigner.record` for every stored article.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from botsvc.fingerprint import Fingerprint
from botsvc.similarity import Neighbour, SimilarityIndex

__all__ = ["Assignment", "EventAssigner", "DEFAULT_THRESHOLD", "DEFAULT_WINDOW_DAYS"]

DEFAULT_THRESHOLD = 0.16
DEFAULT_WINDOW_DAYS = 14.0

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
        window_days: float = DEFAULT_WINDOW_DAYS,
        index: SimilarityIndex | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if window_days < 0:
            raise ValueError("window_days must not be negative")
        self.threshold = float(threshold)
        self.window = timedelta(days=float(window_days))
        self.index = index if index is not None else SimilarityIndex()
        self._events: dict[int, _Event] = {}
        self._event_of: dict[int, int] = {}
        # Vectorised view for the time-window test: index position -> event slot -> span.
        self._slot_of_position = _Column(np.int64, -1)
        self._first = _Column(np.float64, np.inf)
        self._last = _Column(np.float64, -np.inf)

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

    def record(self, doc_id: int, event_id: int, fp: Fingerprint, published: datetime | None) -> None:
        """Add a stored document to the index (unless already there) and to its event.

        ``published`` is the publication time, or the time it was seen for an
        undated item (store that time, so that a rebuild gives the same events).
        Recording a document again for the same event only updates the event's span.
        """
        when = _utc(published)
        self._check(doc_id, event_id)
        if doc_id not in self.index:
            self.index.add(doc_id, fp)
        self._join(doc_id, event_id, when)

    def record_many(self, rows: Iterable[tuple[int, int, Fingerprint | bytes, datetime | None]]) -> None:
        """:meth:`record` for many stored articles, e.g. all of them at start-up (the index is built in bulk).

        ``rows``: ``(doc_id, event_id, fingerprint, published)`` in the order the
        articles were stored; the fingerprint may be its persisted bytes
        (fastest: no Python object per token is created).
        """
        rows = [(doc_id, event_id, fp, _utc(published)) for doc_id, event_id, fp, published in rows]
        pending: dict[int, int] = {}
        fresh: dict[int, Fingerprint | bytes] = {}
        for doc_id, event_id, fp, _ in rows:
            self._check(doc_id, event_id)
            earlier = pending.setdefault(doc_id, event_id)
            if earlier != event_id:
                raise ValueError(f"document {doc_id} is listed for events {earlier} and {event_id}")
            if doc_id not in self.index:
                fresh.setdefault(doc_id, fp)
        self.index.add_many(fresh.items())
        for doc_id, event_id, _, when in rows:
            self._join(doc_id, event_id, when)

    def _check(self, doc_id: int, event_id: int) -> None:
        previous = self._event_of.get(doc_id)
        if previous is not None and previous != event_id:
            raise ValueError(f"document {doc_id} already belongs to event {previous}")

    def _join(self, doc_id: int, event_id: int, when: datetime) -> None:
        event = self._events.get(event_id)
        if event is None:
            event = self._events[event_id] = _Event(len(self._events), when, when)
            self._first.set(event.slot, when.timestamp())
            self._last.set(event.slot, when.timestamp())
        elif when < event.first:
            event.first = when
            self._first.set(event.slot, when.timestamp())
        elif when > event.last:
            event.last = when
            self._last.set(event.slot, when.timestamp())
        if doc_id not in self._event_of:
            event.members.append(doc_id)
            self._event_of[doc_id] = event_id
            self._slot_of_position.set(self.index.position(doc_id), event.slot)

    # ------------------------------------------------------------------ deciding
    def _gap(self, event: _Event, when: datetime) -> timedelta:
        """Distance from ``when`` to the event's time span (zero inside it)."""
        if when > event.last:
            return when - event.last
        if when < event.first:
            return event.first - when
        return timedelta(0)

    def in_window(self, event_id: int, when: datetime) -> bool:
        event = self._events.get(event_id)
        return event is not None and self._gap(event, _utc(when)) <= self.window

    def _eligible(self, when: datetime):
        """Vectorised test: which index positions belong to an event inside the window of ``when``."""
        lo = (when - self.window).timestamp()
        hi = (when + self.window).timestamp()

        def allow(positions: np.ndarray) -> np.ndarray:
            slots_all = self._slot_of_position.data
            inside = positions < len(slots_all)
            slots = np.where(inside, slots_all[np.minimum(positions, len(slots_all) - 1)], -1)
            known = slots >= 0
            safe = np.where(known, slots, 0)
            return known & (self._last.data[safe] >= lo) & (self._first.data[safe] <= hi)

        return allow

    def assign(self, fp: Fingerprint, published: datetime | None) -> Assignment:
        """Where an item belongs. ``published``: publication time, or the time it was seen if undated."""
        when = _utc(published)
        neighbours, best = self.index.search(
            fp,
            k=EXPLAIN_NEIGHBOURS,
            allow=self._eligible(when),
            k_within=1,
            min_similarity_within=self.threshold,
        )
        if best:
            nb = best[0]
            event_id = self._event_of[nb.doc_id]
            event = self._events[event_id]
            after = _days(when - event.last)
            if after >= 0:
                where = f"{after:.1f} days after its last member"
            else:
                where = f"{-after:.1f} days before its last member"
            return Assignment(
                event_id=event_id,
                duplicate_of=nb.doc_id,
                similarity=nb.similarity,
                neighbours=neighbours,
                reason=f"similar to article {nb.doc_id} ({nb.similarity:.2f}) of event {event_id}, {where}",
            )
        window = f"{_days(self.window):g} days"
        top = neighbours[0] if neighbours else None
        top_event = self._event_of.get(top.doc_id) if top else None
        if top is not None and top.similarity >= self.threshold and top_event is not None:
            gap = self._gap(self._events[top_event], when)
            reason = (
                f"new event: most similar is article {top.doc_id} ({top.similarity:.2f}) of event {top_event}, "
                f"but that event is {_days(gap):.1f} days away (window {window})"
            )
        elif top is not None:
            reason = (
                f"new event: no archive item at or above {self.threshold:.2f} within {window} "
                f"(nearest: article {top.doc_id}, {top.similarity:.2f})"
            )
        else:
            reason = f"new event: no archive item at or above {self.threshold:.2f} within {window}"
        return Assignment(None, None, None, neighbours, reason)
