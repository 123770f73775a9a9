"""What the archive says about the concept lexicon: recent reports to mine for new names,
and how many stored articles a new concept's spellings touch (whether a rebuild is advised)."""

from __future__ import annotations

from datetime import datetime

from botsvc.judge.concepts import Lexicon
from botsvc.judge.name_suggestions import Report, script_language
from botsvc.store.events import FINGERPRINT_LEXICON
from botsvc.store.store import Store, iso

__all__ = ["articles_mentioning", "note_fingerprint_lexicon", "recent_reports"]


def recent_reports(store: Store, since: datetime) -> list[Report]:
    """Every report of the events that took a report since ``since`` (the seeded sample left out)."""
    rows = store.db.execute(
        "SELECT a.event_id, a.language, a.title, a.summary, a.body FROM articles a "
        "JOIN events e ON e.id = a.event_id WHERE e.seeded = 0 AND e.last_seen >= ? ORDER BY a.id",
        (iso(since),),
    ).fetchall()
    reports = []
    for event_id, declared, title, summary, body in rows:
        text = f"{title}.\n{summary}\n{body}"
        reports.append(Report(event_id, script_language(text, declared), text))
    return reports


def articles_mentioning(store: Store, lexicon: Lexicon) -> int:
    """Grouped articles whose text names a concept of ``lexicon`` (e.g. one just added)."""
    count, last = 0, 0
    while True:
        rows = store.db.execute(
            "SELECT id, title, summary, body FROM articles WHERE event_id IS NOT NULL AND id > ? ORDER BY id LIMIT 500",
            (last,),
        ).fetchall()
        if not rows:
            return count
        count += sum(1 for _, title, summary, body in rows if lexicon.find(f"{title}\n{summary}\n{body}"))
        last = rows[-1][0]


def note_fingerprint_lexicon(store: Store, signature: str) -> None:
    """Record the lexicon the stored fingerprints were made with, unless already known.

    Called before the lexicon changes, so a database that never recorded it still tells
    ``rebuild-events`` that its fingerprints predate the change.
    """
    if store.get_state(FINGERPRINT_LEXICON) is None:
        with store.atomic():
            store.set_state(FINGERPRINT_LEXICON, signature)
