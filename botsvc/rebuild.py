"""Re-grouping stored articles into events, e.g. after the ``[dedup]`` settings changed.

Articles are replayed in the order they were published (undated ones by their
estimated or first-seen time) through a fresh :class:`~botsvc.clustering.EventAssigner`
with the current settings. Articles are never deleted: only their event, similarity,
``duplicate_of`` and placement reason change. The seeded reports stay in the seeded
event. An event keeps its id when its earliest report still opens a group, so links
to it stay valid; events left without members are removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botsvc.clustering import EventAssigner
from botsvc.config import DedupSettings
from botsvc.events import item_fingerprint_bytes
from botsvc.fingerprint import Fingerprint
from botsvc.store import Store, parse_iso


@dataclass(frozen=True)
class RebuildReport:
    articles: int
    events_before: int
    events_after: int
    moved: int
    """Articles whose event changed."""

    def summary(self) -> str:
        return (f"{self.articles} article(s) re-grouped: {self.events_before} event(s) before, "
                f"{self.events_after} after; {self.moved} article(s) changed event")


def rebuild_events(store: Store, settings: DedupSettings) -> RebuildReport:
    """Recompute every article's event with ``settings``, in one transaction."""
    store.article_fingerprints(backfill=item_fingerprint_bytes)
    rows = store.query(
        "SELECT a.id, a.event_id, a.fingerprint, a.event_time, e.seeded FROM articles a "
        "JOIN events e ON e.id = a.event_id ORDER BY a.event_time, a.id"
    )
    events_before = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    assigner = EventAssigner(settings.threshold, settings.window_days)
    seeded = [row for row in rows if row["seeded"]]
    assigner.record_many((r["id"], r["event_id"], r["fingerprint"], parse_iso(r["event_time"])) for r in seeded)

    taken = {row["event_id"] for row in seeded}
    next_temporary = -1
    updates: list[tuple] = []
    for row in rows:
        if row["seeded"]:
            continue
        fingerprint = Fingerprint.from_bytes(row["fingerprint"])
        when = parse_iso(row["event_time"])
        found = assigner.assign(fingerprint, when)
        neighbours = json.dumps([(n.doc_id, round(n.similarity, 4)) for n in found.neighbours])
        if found.event_id is not None:
            event_id, similarity = found.event_id, round(found.similarity, 4)
        else:
            similarity = None
            if row["event_id"] not in taken:
                event_id = row["event_id"]
            else:  # its old event now starts with another report: a new event is made below
                event_id, next_temporary = next_temporary, next_temporary - 1
            taken.add(event_id)
        assigner.record(row["id"], event_id, fingerprint, when)
        updates.append((row["id"], row["event_id"], event_id, similarity, found.duplicate_of, found.reason, neighbours))

    moved = 0
    with store.atomic():
        real_ids: dict[int, int] = {}
        for article_id, old_event, event_id, similarity, duplicate_of, reason, neighbours in updates:
            if event_id < 0:
                if event_id not in real_ids:
                    # A split-off event stays held back if its old one was: never a late burst.
                    real_ids[event_id] = store.db.execute(
                        "INSERT INTO events (title, topic, first_seen, last_seen, held_back) "
                        "SELECT title, old.topic, first_seen, first_seen, old.held_back "
                        "FROM articles, (SELECT topic, held_back FROM events WHERE id = ?) AS old "
                        "WHERE articles.id = ?", (old_event, article_id),
                    ).lastrowid
                event_id = real_ids[event_id]
            moved += event_id != old_event
            store.db.execute(
                "UPDATE articles SET event_id = ?, similarity = ?, duplicate_of = ?, placement = ?, "
                "neighbours = ? WHERE id = ?",
                (event_id, similarity, duplicate_of, reason, neighbours, article_id),
            )
        for (event_id,) in store.db.execute("SELECT id FROM events").fetchall():
            store.refresh_event(event_id)
    events_after = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    return RebuildReport(len(rows), events_before, events_after, moved)
