"""Build platform-neutral digests from stored events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from botsvc.models import Digest, DigestEvent, DigestStory
from botsvc.store import Store, parse_iso, utcnow


def _story(row: dict) -> DigestStory:
    return DigestStory(
        title=row["title"], source=row["source"], link=row["url"], published=parse_iso(row["published"])
    )


def digest_event(store: Store, event_id: int, *, update: bool = False) -> DigestEvent | None:
    """One event as a digest entry: the earliest report leads, one story per other outlet follows."""
    members = store.event_articles(event_id)
    if not members:
        return None
    lead, *rest = members
    others: list[DigestStory] = []
    outlets = {lead["source"]}
    for row in rest:
        if row["source"] not in outlets:
            outlets.add(row["source"])
            others.append(_story(row))
    return DigestEvent(event_id=event_id, headline=_story(lead), others=tuple(others), update=update)


def build_digest(
    store: Store, event_ids: Iterable[int], *, title: str, now: datetime | None = None
) -> Digest:
    """A digest of the given events, newest lead story first; seeded (archive) events never appear."""
    entries = []
    for event_id in event_ids:
        event = store.event(event_id)
        if event is None or event["seeded"]:
            continue
        entry = digest_event(store, event_id)
        if entry is not None:
            entries.append(entry)
    epoch = datetime.min.replace(tzinfo=utcnow().tzinfo)
    entries.sort(key=lambda e: e.headline.published or epoch, reverse=True)
    return Digest(title=title, events=tuple(entries), generated_at=now or utcnow())
