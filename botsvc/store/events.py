"""Placing a relevant article into an event, against everything stored so far.

:class:`EventBook` is the seam between the pipeline and the near-duplicate engine
(:mod:`botsvc.judge.clustering` over :mod:`botsvc.judge.similarity`). It holds the in-memory index
of every stored article, rebuilt from the fingerprints in SQLite when it is created, and
asks it where a new item belongs. The pipeline records each stored article back, so
items later in the same cycle are compared with it too. Other processes on the same
database store articles too: :meth:`EventBook.catch_up` adds what they stored or moved
since the last look (see :mod:`botsvc.store.placement`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from botsvc.config import DedupSettings
from botsvc.judge.clustering import EventAssigner
from botsvc.judge.concepts import Lexicon, default_lexicon
from botsvc.judge.copies import CANDIDATE_SIMILARITY, copy_similarity, copy_text
from botsvc.judge.fingerprint import Fingerprint, make_fingerprint
from botsvc.judge.similarity import Neighbour
from botsvc.models import FeedItem
from botsvc.store import errors
from botsvc.store.placement import Clock, placed_since, placement_clock
from botsvc.store.store import Store, parse_iso

log = logging.getLogger(__name__)


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
    merges: tuple[int, ...] = ()
    """Other open events the item bridges: they merge into ``event_id``."""
    copy_of: dict | None = None
    """The archived article (row) this item is a near-verbatim copy of, whatever its date."""


#: From this many new articles on, a catch-up adds them in bulk.
BULK_CATCH_UP = 64

FINGERPRINT_MEMO = 512
"""Exact texts whose fingerprints an :class:`EventBook` keeps (least recently used dropped first).

Syndicated wire copy brings one report's exact title, lead and body through many feeds in
one cycle; each copy is still placed in full, but its fingerprint is computed once. Kept as
a digest of the text and the fingerprint's bytes: a few kilobytes an entry at most."""

#: Bump when the grouping rules change in a way the [dedup] settings do not show.
GROUPING_RULES = "concepts-v3-kinds"
#: ``bot_state`` key: the signature of the concept lexicon the stored fingerprints were made with.
FINGERPRINT_LEXICON = "fingerprints_made_with"


def lexicon_signature() -> str:
    """The signature of the lexicon judgements use now (shipped, extended by the local file)."""
    return default_lexicon().signature()


def grouping_signature(settings: DedupSettings) -> str:
    """What the stored events were grouped with: the rules' version and the [dedup] settings."""
    return json.dumps(
        {
            "rules": GROUPING_RULES,
            "threshold": settings.threshold,
            "span_days": settings.span_days,
            "lead_hours": settings.lead_hours,
        },
        sort_keys=True,
    )


def new_assigner(settings: DedupSettings) -> EventAssigner:
    """An empty assigner with ``settings`` (the live book and ``rebuild-events`` use the same)."""
    return EventAssigner(settings.threshold, settings.span_days, lead_hours=settings.lead_hours)


def item_fingerprint(item: FeedItem) -> Fingerprint:
    return make_fingerprint(item.title, item.summary, item.body)


class EventBook:
    """Decides event membership for relevant articles. One per open store."""

    def __init__(self, store: Store, settings: DedupSettings | None = None, *, lazy: bool = False) -> None:
        """``lazy``: read the index when it is first needed (see :attr:`assigner`), not now."""
        self.store = store
        self.settings = settings or DedupSettings()
        self._assigner: EventAssigner | None = None
        self._made_with: str | None = None
        """The concepts' signature the stored fingerprints were made with, compared when the index is read."""
        self.clock: Clock | None = None
        """The database's placement clock as of this index's last look."""
        self._fingerprints: dict[bytes, bytes] = {}
        self._fingerprinted_with: Lexicon | None = None
        self._note_grouping()
        if not lazy:
            self._assigner = self._load()

    @property
    def assigner(self) -> EventAssigner:
        """The index of every stored article; a lazy book reads it from the database on first use.

        A poll in which no feed changed never needs it: a warm ``botsvc poll --once`` does
        not pay for loading every fingerprint of the archive. Whoever judges reads it first,
        outside any transaction (:meth:`botsvc.store.pipeline.Processor.prepare`): with a
        large archive that takes seconds, which must not hold the write lock.
        """
        if self._assigner is None:
            self._assigner = self._load()
        return self._assigner

    def _note_grouping(self) -> None:
        """Record the settings a new database groups with; say so when stored events used others."""
        signature = grouping_signature(self.settings)
        try:
            recorded = self.store.get_state("events_grouped_with")
            if recorded is None:
                with self.store.atomic():
                    self.store.set_state("events_grouped_with", signature)
            elif recorded != signature:
                log.info(
                    "stored events were grouped with other [dedup] settings or rules; "
                    "`botsvc rebuild-events` re-groups them"
                )
            made_with = self.store.get_state(FINGERPRINT_LEXICON)
            if made_with is None:
                with self.store.atomic():
                    self.store.set_state(FINGERPRINT_LEXICON, lexicon_signature())
            else:
                self._made_with = made_with  # checked when the concepts are loaded anyway (_load)
        except errors.DatabaseError:  # a read-only or busy database: grouping still works
            pass

    def _note_concepts(self) -> None:
        """Say so when the stored fingerprints were made with other concepts than today's."""
        if self._made_with is not None and self._made_with != lexicon_signature():
            log.info(
                "the concepts changed since the stored articles were fingerprinted; "
                "`botsvc rebuild-events` refreshes them so later reports fold with them"
            )
        self._made_with = None

    def _load(self) -> EventAssigner:
        self._note_concepts()
        # Read before the rows: what is stored meanwhile is read again by catch_up (and skipped).
        self.clock = placement_clock(self.store)
        assigner = new_assigner(self.settings)
        assigner.record_many(
            (row["id"], row["event_id"], row["fingerprint"], parse_iso(row["event_time"]), row["outlet"])
            for row in self.store.article_fingerprints(backfill=item_fingerprint_bytes)
        )
        return assigner

    def reload(self) -> None:
        """Forget what is not in the database: call after a rolled-back transaction (an index
        not read yet has nothing to forget)."""
        if self._assigner is not None:
            self._assigner = self._load()

    def catch_up(self) -> int:
        """Add what other processes stored or moved since this index last looked; returns the rows read.

        One primary-key read when nothing changed. Call inside the placement turn
        (:func:`~botsvc.store.placement.placement_turn`), before :meth:`place`, so no one
        stores between the look and the placement. Articles stored are added; events merged
        elsewhere (all of an event's reports moved to one other event) are merged here too.
        Anything else (``rebuild-events`` re-grouped, fingerprints made again, a clock
        behind this index's after a rollback) reloads the whole index. Articles are never
        deleted (retention forgets only seen keys), so there is nothing to remove.
        """
        now, before = placement_clock(self.store), self.clock
        if now is None or before is None or now == before:
            return 0
        if now.regrouped != before.regrouped or now.seq < before.seq:
            self.reload()
            return len(self.assigner.index)
        rows = placed_since(self.store, before.seq)
        if self._apply(rows):
            self.clock = Clock(max([now.seq, *(row["placed_seq"] for row in rows)]), now.regrouped)
        else:
            self.reload()
        return len(rows)

    def _apply(self, rows: list[dict]) -> bool:
        """Add the new articles among ``rows`` and follow merges; False if the index must be reloaded."""
        assigner = self.assigner
        fresh = []
        moves: dict[int, dict[int, list[int]]] = {}  # event in the index -> its event now -> articles
        for row in rows:
            if row["event_id"] is None or row["fingerprint"] is None:
                continue
            known = assigner.event_of(row["id"])
            if known is None:
                fresh.append(
                    (row["id"], row["event_id"], row["fingerprint"], parse_iso(row["event_time"]), row["outlet"])
                )
            elif known != row["event_id"]:
                moves.setdefault(known, {}).setdefault(row["event_id"], []).append(row["id"])
        if len(fresh) >= BULK_CATCH_UP:
            assigner.record_many(fresh)
        else:  # a few rows (the usual case): without record_many's set-up
            for doc_id, event_id, blob, when, outlet in fresh:
                assigner.record(doc_id, event_id, Fingerprint.from_bytes(blob), when, outlet)
        for absorbed, now_in in moves.items():
            if len(now_in) != 1:
                return False  # an event split: re-grouped
            [(survivor, moved)] = now_in.items()
            if set(moved) != set(assigner.members(absorbed)) or not assigner.members(survivor):
                return False  # not a whole event into a known one: re-grouped
            assigner.merge(absorbed, survivor)
        return True

    def fingerprint(self, item: FeedItem) -> Fingerprint:
        """:func:`item_fingerprint`, computed once per exact text (see :data:`FINGERPRINT_MEMO`).

        A fingerprint depends on the text and the concept lexicon only: the remembered
        ones are dropped when the lexicon in use is another.
        """
        lexicon = default_lexicon()
        if lexicon is not self._fingerprinted_with:
            self._fingerprints.clear()
            self._fingerprinted_with = lexicon
        text = _text_digest(item)
        kept = self._fingerprints.pop(text, None)
        if kept is None:
            fingerprint = item_fingerprint(item)
            kept = fingerprint.to_bytes()
        else:
            fingerprint = Fingerprint.from_bytes(kept)
        self._fingerprints[text] = kept  # now the most recently used
        if len(self._fingerprints) > FINGERPRINT_MEMO:
            del self._fingerprints[next(iter(self._fingerprints))]
        return fingerprint

    def place(self, item: FeedItem, when: datetime) -> Placement:
        """Where ``item`` belongs; ``when`` (first seen) stands in for a missing date."""
        fingerprint = self.fingerprint(item)
        event_time = item.event_time or when
        found = self.assigner.assign(fingerprint, event_time, outlet=item.outlet_key)
        neighbours = [(n.doc_id, round(n.similarity, 4)) for n in found.neighbours]
        if found.event_id is None:
            original = self._original(item, found.neighbours)
            if original is not None:
                row, similarity = original
                return Placement(
                    event_id=self.assigner.event_of(row["id"]),
                    duplicate_of=row["id"],
                    similarity=round(similarity, 4),
                    reason=f"republished copy of article {row['id']} of {_date(row)}",
                    fingerprint=fingerprint,
                    event_time=event_time,
                    neighbours=neighbours,
                    copy_of=row,
                )
            concepts = self.assigner.concepts_of(fingerprint)
            reason = f"{found.reason}; concepts: {', '.join(concepts) or 'none'}"
            return Placement(
                event_id=None, reason=reason, fingerprint=fingerprint, event_time=event_time, neighbours=neighbours
            )
        return Placement(
            event_id=found.event_id,
            duplicate_of=found.duplicate_of,
            # An Assignment that joins an event always carries its similarity (clustering.EventAssigner.assign).
            similarity=round(cast(float, found.similarity), 4),
            reason=found.reason,
            fingerprint=fingerprint,
            event_time=event_time,
            neighbours=neighbours,
            merges=found.merges,
        )

    def _original(self, item: FeedItem, neighbours: list[Neighbour]) -> tuple[dict, float] | None:
        """The archived article ``item`` is a near-verbatim copy of (title and lead), with their text similarity."""
        text = None
        for neighbour in neighbours:
            if neighbour.similarity < CANDIDATE_SIMILARITY:
                break
            row = self.store.article(neighbour.doc_id)
            if row is None or row["event_id"] is None:
                continue
            text = text or copy_text(item.title, item.summary)
            similarity = copy_similarity(text, copy_text(row["title"], row["summary"]))
            if similarity is not None:
                return row, similarity
        return None

    def merge(self, absorbed: int, survivor: int) -> None:
        """Move the absorbed event's members to the survivor in the index (after the store did).

        An index not read yet has nothing to change: it reads the merge from the database.
        """
        if self._assigner is not None:
            self._assigner.merge(absorbed, survivor)

    def record(
        self,
        article_id: int,
        event_id: int,
        fingerprint: Fingerprint,
        event_time: datetime,
        outlet: str | None = None,
        placed_seq: int | None = None,
    ) -> None:
        """Called after the article row exists, inside the same transaction (an index not read
        yet reads the article from the database instead).

        ``placed_seq``: the placement number the article took. When it is the one right after
        this index's clock, the index holds every placement up to it, so the clock moves on to
        it: the next :meth:`catch_up` reads the clock alone, not this process's own article
        back (two queries a placement). Anything placed or moved since (merges) is still read.
        """
        if self._assigner is not None:
            self._assigner.record(article_id, event_id, fingerprint, event_time, outlet)
            clock = self.clock
            if clock is not None and placed_seq is not None and placed_seq == clock.seq + 1:
                self.clock = Clock(placed_seq, clock.regrouped)


def _text_digest(item: FeedItem) -> bytes:
    """A digest of exactly the text a fingerprint is made from (each part's length included)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (item.title, item.summary, item.body):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.digest()


def _date(article: dict) -> str:
    """An article's publication date (or when it was first seen), for a reason line."""
    when = article.get("published") or article.get("event_time") or article.get("first_seen") or ""
    return str(when)[:10] or "an unknown date"


def item_fingerprint_bytes(title: str, summary: str, body: str) -> bytes:
    """Fingerprint of a stored article that predates fingerprints (backfilled once)."""
    return make_fingerprint(title, summary, body).to_bytes()
