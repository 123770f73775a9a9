"""Build platform-neutral digests from stored events."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime
from typing import cast

from botsvc.deliver.templates import lead_sentence, template_from_data
from botsvc.models import Digest, DigestEvent, DigestMore, DigestStory, Template, ThreadReply
from botsvc.store.digests import newest_reports
from botsvc.store.store import Store, iso, parse_iso, utcnow


def _story(row: dict) -> DigestStory:
    return DigestStory(title=row["title"], source=row["source"], link=row["url"], published=parse_iso(row["published"]))


def digest_event(
    store: Store, event_id: int, *, update: bool = False, summary: bool = False, hidden: Collection[str] = ()
) -> DigestEvent | None:
    """One event as a digest entry: the earliest report leads, one story per other outlet follows.

    ``summary``: carry the lead report's first sentence (only templates that show it need it).
    ``hidden``: feeds whose reports this channel may not see (another tenant's); None when
    every report is of those.
    """
    members = [row for row in store.event_articles(event_id) if row["feed"] not in hidden]
    if not members:
        return None
    lead, *rest = members
    others: list[DigestStory] = []
    outlets = {lead["source"]}
    for row in rest:
        if row["source"] not in outlets:
            outlets.add(row["source"])
            others.append(_story(row))
    headline = _story(lead)
    if summary and lead.get("summary"):
        headline = replace(headline, summary=lead_sentence(lead["summary"]))
    return DigestEvent(event_id=event_id, headline=headline, others=tuple(others), update=update)


def build_digest(
    store: Store,
    event_ids: Iterable[int],
    *,
    title: str,
    now: datetime | None = None,
    updates: Iterable[int] = (),
    zone: str = "UTC",
    more: Iterable[DigestMore] = (),
    template: Template | None = None,
    hidden: Collection[str] = (),
) -> Digest:
    """A digest of the given events, newest lead story first; seeded (archive) events never appear.

    ``updates`` are events told before that have grown since: they follow as update lines.
    ``more`` counts new events over the caps, shown as one line per feed at the end.
    ``template`` is the subscription's choice of fields and header (default: all but the summary).
    ``hidden``: feeds whose reports are left out (another tenant's, :mod:`botsvc.store.tenants`).
    """
    template = template or Template()
    entries = []
    for event_ids_, update in ((event_ids, False), (updates, True)):
        for event_id in event_ids_:
            event = store.event(event_id)
            if event is None or event["seeded"]:
                continue
            entry = digest_event(store, event_id, update=update, summary=template.shows("summary"), hidden=hidden)
            if entry is not None:
                entries.append(entry)
    epoch = datetime.min.replace(tzinfo=utcnow().tzinfo)
    entries.sort(key=lambda e: (not e.update, e.headline.published or epoch), reverse=True)
    return Digest(
        title=title,
        events=tuple(entries),
        generated_at=now or utcnow(),
        zone=zone,
        more=tuple(more),
        template=template,
    )


def _story_json(story: DigestStory) -> dict:
    data = {"title": story.title, "source": story.source, "link": story.link, "published": iso(story.published)}
    if story.summary:
        data["summary"] = story.summary
    return data


def _story_from(data: dict) -> DigestStory:
    return DigestStory(
        data["title"], data["source"], data["link"], parse_iso(data["published"]), data.get("summary", "")
    )


def digest_to_json(digest: Digest) -> str:
    """The neutral digest as JSON, as the outbox keeps it until it is sent."""
    return json.dumps(
        {
            "title": digest.title,
            "generated_at": iso(digest.generated_at),
            "zone": digest.zone,
            "events": [
                {
                    "event_id": e.event_id,
                    "update": e.update,
                    "headline": _story_json(e.headline),
                    "others": [_story_json(o) for o in e.others],
                }
                for e in digest.events
            ],
            "more": [{"count": m.count, "feed": m.feed} for m in digest.more],
            "template": {"fields": sorted(digest.template.fields), "header": digest.template.header},
            "thread": (
                None
                if digest.thread is None
                else {
                    "event_id": digest.thread.event_id,
                    "sources": digest.thread.sources,
                    "first_title": digest.thread.first_title,
                }
            ),
        },
        ensure_ascii=False,
    )


def digest_from_json(text: str) -> Digest:
    data = json.loads(text)
    return Digest(
        # digest_to_json always writes it (a Digest's generated_at is a datetime); adapters never read it.
        title=data["title"],
        generated_at=cast(datetime, parse_iso(data["generated_at"])),
        events=tuple(
            DigestEvent(
                e["event_id"], _story_from(e["headline"]), tuple(_story_from(o) for o in e["others"]), e["update"]
            )
            for e in data["events"]
        ),
        zone=data.get("zone", "UTC"),  # messages queued before zones were kept
        more=tuple(DigestMore(m["count"], m["feed"]) for m in data.get("more", ())),
        template=template_from_data(data.get("template", {})),  # messages queued before templates: the default
        thread=ThreadReply(**data["thread"]) if data.get("thread") else None,
    )


def thread_digest(
    store: Store,
    event_id: int,
    told_members: int,
    *,
    title: str,
    zone: str,
    now: datetime,
    hidden: Collection[str] = (),
) -> Digest | None:
    """An event's reports added since ``told_members`` were told, as a digest for its alert's thread.

    The newest report leads; None when the event has no new member (or is gone), or only
    reports of ``hidden`` feeds.
    """
    event, first = store.event(event_id), digest_event(store, event_id, hidden=hidden)
    if event is None or first is None:
        return None
    added = [  # the reports added since: the newest by when they were stored
        row
        for row in newest_reports(store, event_id, max(0, event["member_count"] - told_members))
        if row["feed"] not in hidden
    ]
    if not added:
        return None
    newest, *rest = (_story(row) for row in added)
    reply = ThreadReply(event_id, 1 + len(first.others), first.headline.title)
    entry = DigestEvent(event_id=event_id, headline=newest, others=tuple(rest), update=True)
    return Digest(title=title, events=(entry,), generated_at=now, zone=zone, thread=reply)
