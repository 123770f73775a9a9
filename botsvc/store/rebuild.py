"""Re-grouping stored articles into events, e.g. after the ``[dedup]`` settings changed.

Articles are replayed in the order they were published (undated ones by their
estimated or first-seen time) through a fresh :class:`~botsvc.judge.clustering.EventAssigner`
with the current settings. Articles are never deleted: only their event, similarity,
``duplicate_of`` and placement reason change. The seeded reports stay in the seeded
event. An event keeps its id when its earliest report still opens a group, so links
to it stay valid; events left without members are removed, and what channels were
told about them (``deliveries``) moves to the event that now holds their first report,
so nothing already alerted is alerted again. Mutes follow the muted event's reports to
every event now holding one, "not relevant" reports to the event holding the first. An
event merged into another (``merged_into``) keeps its row so its id still answers. The
outbox keeps every sent message as it was.

The settings the events were last grouped with are recorded (``bot_state``); with the
same settings a rebuild changes nothing unless forced, because replaying in publication
order can group differently from the order the reports arrived in. When the concept
lexicon changed (``concepts.local.toml``, an upgrade) every article's fingerprint is first
made again from its text, so stored reports carry the new concepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from botsvc.config import DedupSettings
from botsvc.judge.fingerprint import Fingerprint
from botsvc.store.events import (
    FINGERPRINT_LEXICON,
    grouping_signature,
    item_fingerprint_bytes,
    lexicon_signature,
    new_assigner,
)
from botsvc.store.portable import move_event_rows
from botsvc.store.store import OUTLET_SEPARATOR, Store, inserted_id, parse_iso


@dataclass(frozen=True)
class RebuildReport:
    articles: int
    events_before: int
    events_after: int
    moved: int
    """Articles whose event changed."""
    unchanged: bool = False
    """True when nothing was done: the events were already grouped with these settings."""

    def summary(self) -> str:
        if self.unchanged:
            return (
                f"{self.articles} article(s) in {self.events_before} event(s) are already grouped with "
                "these settings; nothing changed (use --force to re-group anyway)"
            )
        return (
            f"{self.articles} article(s) re-grouped: {self.events_before} event(s) before, "
            f"{self.events_after} after; {self.moved} article(s) changed event"
        )


def rebuild_events(store: Store, settings: DedupSettings, *, force: bool = False) -> RebuildReport:
    """Recompute every article's event with ``settings``, in one transaction."""
    store.article_fingerprints(backfill=item_fingerprint_bytes)
    signature = grouping_signature(settings)
    events_before = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    concepts_changed = store.get_state(FINGERPRINT_LEXICON) != lexicon_signature()
    if concepts_changed:
        store.refresh_fingerprints(item_fingerprint_bytes)
    if not force and not concepts_changed and store.get_state("events_grouped_with") == signature:
        articles = store.db.execute("SELECT count(*) FROM articles WHERE event_id IS NOT NULL").fetchone()[0]
        return RebuildReport(articles, events_before, events_before, 0, unchanged=True)
    rows = store.query(
        "SELECT a.id, a.event_id, a.fingerprint, a.event_time, e.seeded, "
        "CASE WHEN a.byline = '' THEN a.source ELSE a.source || ? || a.byline END AS outlet "
        "FROM articles a JOIN events e ON e.id = a.event_id ORDER BY a.event_time, a.id",
        (OUTLET_SEPARATOR,),
    )
    assigner = new_assigner(settings)
    seeded = [row for row in rows if row["seeded"]]
    assigner.record_many(
        (r["id"], r["event_id"], r["fingerprint"], parse_iso(r["event_time"]), r["outlet"]) for r in seeded
    )

    taken = {row["event_id"] for row in seeded}
    next_temporary = -1
    updates: list[tuple] = []
    for row in rows:
        if row["seeded"]:
            continue
        fingerprint = Fingerprint.from_bytes(row["fingerprint"])
        when = parse_iso(row["event_time"])
        found = assigner.assign(fingerprint, when, outlet=row["outlet"])
        neighbours = json.dumps([(n.doc_id, round(n.similarity, 4)) for n in found.neighbours])
        if found.event_id is not None:
            # An Assignment that joins an event always carries its similarity (clustering.EventAssigner.assign).
            event_id, similarity = found.event_id, round(cast(float, found.similarity), 4)
            for absorbed in found.merges:  # a bridging report: the two groups are one event
                assigner.merge(absorbed, event_id)
                updates = [(*u[:2], event_id if u[2] == absorbed else u[2], *u[3:]) for u in updates]
        else:
            similarity = None
            if row["event_id"] not in taken:
                event_id = row["event_id"]
            else:  # its old event now starts with another report: a new event is made below
                event_id, next_temporary = next_temporary, next_temporary - 1
            taken.add(event_id)
        assigner.record(row["id"], event_id, fingerprint, when, row["outlet"])
        updates.append((row["id"], row["event_id"], event_id, similarity, found.duplicate_of, found.reason, neighbours))

    moved = 0
    with store.atomic():
        real_ids: dict[int, int] = {}
        for article_id, old_event, event_id, similarity, duplicate_of, reason, neighbours in updates:
            if event_id < 0:
                if event_id not in real_ids:
                    # A split-off event stays held back if its old one was: never a late burst.
                    real_ids[event_id] = inserted_id(
                        store.db.execute(
                            "INSERT INTO events (title, topic, first_seen, last_seen, held_back) "
                            "SELECT title, old.topic, first_seen, first_seen, old.held_back "
                            "FROM articles, (SELECT topic, held_back FROM events WHERE id = ?) AS old "
                            "WHERE articles.id = ? RETURNING id",
                            (old_event, article_id),
                        )
                    )
                event_id = real_ids[event_id]
            moved += event_id != old_event
            store.db.execute(
                "UPDATE articles SET event_id = ?, similarity = ?, duplicate_of = ?, placement = ?, "
                "neighbours = ? WHERE id = ?",
                (event_id, similarity, duplicate_of, reason, neighbours, article_id),
            )
        heirs: dict[int, int] = {}
        holders: dict[int, set[int]] = {}
        for _article, old_event, event_id, *_ in updates:
            heirs.setdefault(old_event, real_ids.get(event_id, event_id))
            holders.setdefault(old_event, set()).add(real_ids.get(event_id, event_id))
        _move_deliveries_of_emptied_events(store, heirs)
        _move_feedback(store, heirs, holders)
        for (event_id,) in store.db.execute("SELECT id FROM events").fetchall():
            store.refresh_event(event_id)
        store.set_state("events_grouped_with", signature)
        store.set_state(FINGERPRINT_LEXICON, lexicon_signature())
    events_after = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    return RebuildReport(len(rows), events_before, events_after, moved)


def _move_deliveries_of_emptied_events(store: Store, heirs: dict[int, int]) -> None:
    """Hand what channels were told about an event left without members to the event holding its first report.

    ``heirs``: old event id -> the event its earliest article is in now. Without this the
    emptied event could not be deleted (deliveries refer to it), and the channels would be
    alerted again about reports they have already seen.
    """
    emptied = store.db.execute(
        "SELECT DISTINCT d.event_id FROM deliveries d "
        "WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.event_id = d.event_id)"
    ).fetchall()
    for (old_event,) in emptied:
        heir = heirs.get(old_event)
        if heir is not None:
            # A subscription told about both keeps its row for the heir (OR IGNORE).
            move_event_rows(store.db, "deliveries", heir, old_event)
        store.db.execute("DELETE FROM deliveries WHERE event_id = ?", (old_event,))


def _move_feedback(store: Store, heirs: dict[int, int], holders: dict[int, set[int]]) -> None:
    """Keep what channels said about an event on the events that now hold its reports.

    A mute (or "not relevant" mute) covers every event now holding one of the muted
    event's reports, so a split never brings back what a channel silenced; a "not
    relevant" report goes to the event now holding the earliest of them (``heirs``).
    Events merged away earlier answer with the event that holds their survivor's first report.
    """
    mutes = store.query("SELECT * FROM event_mutes")
    for mute in mutes:
        now_in = holders.get(mute["event_id"])
        if not now_in or now_in == {mute["event_id"]}:
            continue
        for event_id in sorted(now_in):
            store.db.execute(
                "INSERT INTO event_mutes (subscription_id, event_id, reason, muted_by, muted_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (mute["subscription_id"], event_id, mute["reason"], mute["muted_by"], mute["muted_at"]),
            )
        if mute["event_id"] not in now_in:
            store.db.execute(
                "DELETE FROM event_mutes WHERE subscription_id = ? AND event_id = ?",
                (mute["subscription_id"], mute["event_id"]),
            )
    for old_event, heir in heirs.items():
        if old_event == heir:
            continue
        move_event_rows(store.db, "relevance_feedback", heir, old_event)
        if old_event not in holders.get(old_event, set()):
            store.db.execute("DELETE FROM relevance_feedback WHERE event_id = ?", (old_event,))
        if old_event not in holders.get(old_event, set()):
            store.db.execute("UPDATE events SET merged_into = ? WHERE merged_into = ?", (heir, old_event))
            store.db.execute("UPDATE event_merges SET survivor = ? WHERE survivor = ?", (heir, old_event))
