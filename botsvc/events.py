"""Placing a relevant article into an event, against everything stored so far.

:class:`EventBook` is the seam between the pipeline and the near-duplicate engine
(:mod:`botsvc.clustering` over :mod:`botsvc.similarity`). It holds the in-memory index
of every stored article, rebuilt from the fingerprints in SQLite when it is created, and
asks it where a new item belongs. The pipeline records each stored article back, so
items later in the same cycle are compared with it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from botsvc.clustering import EventAssigner
from botsvc.config import DedupSettings
from botsvc.fingerprint import Fingerprint, make_fingerprint
from botsvc.models import FeedItem
from botsvc.store import Store, parse_iso


@dataclass(frozen=True)
class Placement:
    event_id: int | None
    """Existing event the item joins, or None to open a new one."""
    duplicate_of: int | None = None
    """The article of that event it is most similar to."""
    similarity: float | None = None
    reason: str = "no earlier report of this story"
    fingerprint: Fingerprint | None = None
    event_time: datetime | None = None
    """The time the event window was measured from (publication, estimate or first seen)."""
    neighbours: list[tuple[int, float]] = field(default_factory=list)
    """Nearest archive articles (id, similarity), best first, whatever their time."""


def item_fingerprint(item: FeedItem) -> Fingerprint:
    return make_fingerprint(item.title, item.summary, item.body)


class EventBook:
    """Decides event membership for relevant articles. One per open store."""

    def __init__(self, store: Store, settings: DedupSettings | None = None) -> None:
        self.store = store
        self.settings = settings or DedupSettings()
        self.assigner = self._load()

    def _load(self) -> EventAssigner:
        assigner = EventAssigner(self.settings.threshold, self.settings.window_days)
        assigner.record_many(
            (row["id"], row["event_id"], row["fingerprint"], parse_iso(row["event_time"]))
            for row in self.store.article_fingerprints(backfill=item_fingerprint_bytes)
        )
        return assigner

    def reload(self) -> None:
        """Forget what is not in the database: call after a rolled-back transaction."""
        self.assigner = self._load()

    def place(self, item: FeedItem, when: datetime) -> Placement:
        """Where ``item`` belongs; ``when`` (first seen) stands in for a missing date."""
        fingerprint = item_fingerprint(item)
        event_time = item.event_time or when
        found = self.assigner.assign(fingerprint, event_time)
        neighbours = [(n.doc_id, round(n.similarity, 4)) for n in found.neighbours]
        if found.event_id is None:
            return Placement(event_id=None, reason=found.reason, fingerprint=fingerprint,
                             event_time=event_time, neighbours=neighbours)
        return Placement(
            event_id=found.event_id, duplicate_of=found.duplicate_of,
            similarity=round(found.similarity, 4), reason=found.reason,
            fingerprint=fingerprint, event_time=event_time, neighbours=neighbours,
        )

    def record(self, article_id: int, event_id: int, fingerprint: Fingerprint, event_time: datetime) -> None:
        """Called after the article row exists, inside the same transaction."""
        self.assigner.record(article_id, event_id, fingerprint, event_time)


def item_fingerprint_bytes(title: str, summary: str, body: str) -> bytes:
    """Fingerprint of a stored article that predates fingerprints (backfilled once)."""
    return make_fingerprint(title, summary, body).to_bytes()
