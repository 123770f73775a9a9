"""Merging two events of one story, and finding an event again after it was merged.

A report that joins two open events (see :meth:`botsvc.judge.clustering.EventAssigner.assign`)
shows they are one story. The older event (the first opened, so the first alerted)
survives; the other's reports, what channels were told about it (their alert stays the
thread parent of later reports), its mutes and its "not relevant" reports move to the
survivor. The absorbed row stays with ``merged_into`` set, so its id keeps answering and
is never handed to another story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botsvc.store.portable import move_event_rows
from botsvc.store.store import Store, iso, parse_iso


@dataclass(frozen=True)
class Merge:
    absorbed: int
    survivor: int
    article_id: int | None
    absorbed_title: str
    merged_at: datetime | None

    def describe(self) -> str:
        when = self.merged_at.date().isoformat() if self.merged_at else "an unknown date"
        via = f" via article {self.article_id}" if self.article_id is not None else ""
        return f"merged event {self.absorbed} into {self.survivor} on {when}{via}"


def merge_events(store: Store, absorbed: int, survivor: int, article_id: int | None, when: datetime) -> None:
    """Fold event ``absorbed`` into ``survivor`` (call inside the caller's transaction)."""
    if absorbed == survivor:
        return
    row = store.db.execute("SELECT title FROM events WHERE id = ?", (absorbed,)).fetchone()
    title = row[0] if row else ""
    db = store.db
    db.execute("UPDATE articles SET event_id = ? WHERE event_id = ?", (survivor, absorbed))
    # A channel told about both keeps the survivor's alert (the first) and has seen the
    # absorbed event's reports too; one told only about the absorbed event keeps its alert.
    db.execute(
        "UPDATE deliveries SET member_count = member_count + coalesce((SELECT a.member_count FROM deliveries a "
        "WHERE a.event_id = ? AND a.subscription_id = deliveries.subscription_id), 0) WHERE event_id = ?",
        (absorbed, survivor),
    )
    move_event_rows(db, "deliveries", survivor, absorbed)
    db.execute("DELETE FROM deliveries WHERE event_id = ?", (absorbed,))
    move_event_rows(db, "event_mutes", survivor, absorbed)
    db.execute("DELETE FROM event_mutes WHERE event_id = ?", (absorbed,))
    move_event_rows(db, "relevance_feedback", survivor, absorbed)
    db.execute("DELETE FROM relevance_feedback WHERE event_id = ?", (absorbed,))
    # Events merged into the absorbed one earlier now answer with the survivor.
    db.execute("UPDATE events SET merged_into = ? WHERE merged_into = ?", (survivor, absorbed))
    db.execute("UPDATE event_merges SET survivor = ? WHERE survivor = ?", (survivor, absorbed))
    db.execute(
        "UPDATE events SET merged_into = ?, member_count = 0 WHERE id = ?",
        (survivor, absorbed),
    )
    db.execute(
        "INSERT INTO event_merges (absorbed, survivor, article_id, absorbed_title, merged_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (absorbed) DO UPDATE SET survivor = excluded.survivor, "
        "article_id = excluded.article_id, absorbed_title = excluded.absorbed_title, merged_at = excluded.merged_at",
        (absorbed, survivor, article_id, title, iso(when)),
    )
    store.refresh_event(survivor)


def current_event(store: Store, event_id: int) -> int:
    """The event that now holds ``event_id``'s reports (itself unless it was merged)."""
    row = store.db.execute("SELECT merged_into FROM events WHERE id = ?", (event_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else event_id


def merges_into(store: Store, event_id: int) -> list[Merge]:
    """Every merge that folded another event into ``event_id``, oldest first."""
    return [
        Merge(row["absorbed"], row["survivor"], row["article_id"], row["absorbed_title"], parse_iso(row["merged_at"]))
        for row in store.query(
            "SELECT * FROM event_merges WHERE survivor = ? ORDER BY merged_at, absorbed", (event_id,)
        )
    ]


def merge_of(store: Store, absorbed: int) -> Merge | None:
    """How ``absorbed`` was merged away, if it was."""
    rows = store.query("SELECT * FROM event_merges WHERE absorbed = ?", (absorbed,))
    if not rows:
        return None
    row = rows[0]
    return Merge(
        row["absorbed"], row["survivor"], row["article_id"], row["absorbed_title"], parse_iso(row["merged_at"])
    )
