"""Events with their reports as data: ``botsvc event --json`` and ``botsvc events export``.

One shape for both, so a script reading one reads the other: an event object with its
reports (``members``) earliest first, times in ISO 8601 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from botsvc.store.store import Store

BATCH = 500
"""Events whose reports are read in one query."""

CSV_COLUMNS = (
    "event_id",
    "event_title",
    "event_seeded",
    "event_first_published",
    "event_latest_report",
    "article_id",
    "title",
    "source",
    "link",
    "published",
    "first_seen",
    "language",
    "feed",
    "summary",
)
"""``events export --format csv``: one row per report, its event's columns repeated."""


def member_record(article: dict) -> dict[str, Any]:
    return {
        "article_id": article["id"],
        "title": article["title"],
        "source": article["source"],
        "link": article["url"],
        "published": article["published"],
        "first_seen": article["first_seen"],
        "language": article["language"],
        "feed": article["feed"],
        "summary": article["summary"],
    }


def event_record(event: dict, articles: list[dict]) -> dict[str, Any]:
    """An event row (with its ``outlets``, as :meth:`~botsvc.store.store.Store.event` gives them) and its
    member articles, earliest first."""
    return {
        "event_id": event["id"],
        "title": event["title"],
        "topic": event["topic"],
        "seeded": bool(event["seeded"]),
        "first_published": event["first_published"],
        "latest_report": event["last_published"] or event["last_seen"],
        "first_seen": event["first_seen"],
        "last_seen": event["last_seen"],
        "reports": event["member_count"],
        "outlets": list(event["outlets"]),
        "members": [member_record(article) for article in articles],
    }


def events_since(store: Store, since: date) -> Iterator[dict[str, Any]]:
    """Every event reported on or after ``since`` (its latest report), oldest first, with its members."""
    events = store.query(
        "SELECT * FROM events WHERE coalesce(last_published, last_seen) >= ? "
        "ORDER BY coalesce(first_published, first_seen), id",
        (since.isoformat(),),
    )
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        marks = ",".join("?" * len(batch))
        members: dict[int, list[dict]] = {}
        outlets: dict[int, list[str]] = {}
        for row in store.query(
            f"SELECT event_id, outlet FROM event_outlets WHERE event_id IN ({marks}) "
            "ORDER BY event_id, position, outlet",
            [event["id"] for event in batch],
        ):
            outlets.setdefault(row["event_id"], []).append(row["outlet"])
        for article in store.query(
            f"SELECT * FROM articles WHERE event_id IN ({marks}) ORDER BY coalesce(published, first_seen), id",
            [event["id"] for event in batch],
        ):
            members.setdefault(article["event_id"], []).append(article)
        for event in batch:
            yield event_record({**event, "outlets": outlets.get(event["id"], [])}, members.get(event["id"], []))


def csv_rows(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One CSV row per report of an exported event."""
    for member in record["members"]:
        yield {
            "event_id": record["event_id"],
            "event_title": record["title"],
            "event_seeded": int(record["seeded"]),
            "event_first_published": record["first_published"],
            "event_latest_report": record["latest_report"],
            **{key: member[key] for key in CSV_COLUMNS if key in member},
        }
