"""Finding past events: full-text search, an event's timeline, the latest events.

Search runs SQLite FTS5 (on PostgreSQL: a tsvector column with a GIN index, filled with
the same words) over article titles, summaries and bodies and answers with events
(best match first). User text never reaches FTS5's query syntax: every word is
quoted as a literal term, so quotes, ``*``, ``NEAR``, ``OR`` or parentheses are just text.
Korean and Japanese words are found inside unspaced text (see :mod:`botsvc.store.searchtext`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from botsvc.store.portable import json_items
from botsvc.store.searchtext import fts_query, pg_tsquery
from botsvc.store.store import Store, iso, parse_iso, parse_iso_required


@dataclass(frozen=True)
class EventHit:
    event_id: int
    title: str
    first_published: datetime | None
    outlets: int
    reports: int
    seeded: bool
    latest: datetime | None = None
    """When its latest report was published (else seen): what ``recent`` sorts by."""

    def record(self) -> dict[str, Any]:
        """The hit as one JSON-ready object (``--json``)."""
        return {
            "event_id": self.event_id,
            "title": self.title,
            "first_published": iso(self.first_published),
            "latest_report": iso(self.latest),
            "outlets": self.outlets,
            "reports": self.reports,
            "seeded": self.seeded,
        }


@dataclass(frozen=True)
class TimelineEntry:
    title: str
    source: str
    link: str
    published: datetime | None
    first_seen: datetime


OUTLETS = "(SELECT count(*) FROM event_outlets o WHERE o.event_id = e.id) AS outlets"
"""How many outlets reported event ``e`` (a column of the hits)."""


def _hit(row: dict) -> EventHit:
    return EventHit(
        row["id"],
        row["title"],
        parse_iso(row["first_published"]),
        row["outlets"],
        row["member_count"],
        bool(row["seeded"]),
        parse_iso(row["last_published"] or row["last_seen"]),
    )


CANDIDATES = 2000
"""Search ranks the newest this many matching reports (by arrival) and their events.

A word in most of the archive ("Japan") would otherwise cost a pass over every match;
the newest 2,000 reports cover months of news, and older events are found with more
words or ``until:``. Date limits apply before the cap, so ``until:`` reaches back in time.
"""


def search_events(
    store: Store, text: str, *, since: date | None = None, until: date | None = None, limit: int = 10
) -> list[EventHit]:
    """Events whose articles match every word of ``text``, best first.

    FTS5 walks the matches newest first and stops after :data:`CANDIDATES` reports of
    events within the dates. Best first: events with a report whose headline has every
    word, then events with more matching reports, then the newest. (bm25 is not used:
    its weights count every match of each word in the archive on each search.)
    """
    if store.dialect == "postgres":
        return _search_postgres(store, text, since=since, until=until, limit=limit)
    query = fts_query(text)
    if query is None:
        return []
    params = {
        "query": query,
        "title": f"{{title}} : ({query})",
        "since": since and since.isoformat(),
        "until": until and _day_after(until),
        "cap": CANDIDATES,
        "limit": limit,
    }
    where = ["articles_fts MATCH :query"]
    where += _date_bounds("articles_fts.rowid", since=since, until=until)
    dated = " JOIN events e ON e.id = a.event_id" if len(where) > 1 else ""
    sql = (
        "WITH c AS MATERIALIZED (SELECT articles_fts.rowid AS id, a.event_id FROM articles_fts "
        f"JOIN articles a ON a.id = articles_fts.rowid{dated} WHERE {' AND '.join(where)} "
        "ORDER BY articles_fts.rowid DESC LIMIT :cap), "
        "t AS MATERIALIZED (SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH :title "
        "AND rowid >= (SELECT min(id) FROM c) AND rowid <= (SELECT max(id) FROM c)), "
        "b AS MATERIALIZED (SELECT event_id, sum(id IN t) > 0 AS headline, count(*) AS reports, "
        "max(id) AS newest FROM c GROUP BY event_id ORDER BY headline DESC, reports DESC, newest DESC "
        "LIMIT :limit) "
        f"SELECT e.*, {OUTLETS} FROM b JOIN events e ON e.id = b.event_id "
        "ORDER BY b.headline DESC, b.reports DESC, b.newest DESC"
    )
    return [_hit(row) for row in store.query(sql, params)]


def _date_bounds(article_id: str, *, since: date | None, until: date | None) -> list[str]:
    """The conditions of ``since:``/``until:`` on a candidate report (``article_id`` names its id
    column): its event's span, and the id range the events in the dates cover (so the index
    scan stops early)."""
    where = []
    if since is not None:
        where.append("coalesce(e.last_published, e.last_seen) >= :since")
        where.append(
            f"{article_id} >= (SELECT coalesce(min(low_article_id), 0) FROM events "
            "WHERE coalesce(last_published, last_seen) >= :since)"
        )
    if until is not None:
        where.append("coalesce(e.first_published, e.first_seen) < :until")
        where.append(
            f"{article_id} <= (SELECT coalesce(max(high_article_id), 0) FROM events "
            "WHERE coalesce(first_published, first_seen) < :until)"
        )
    return where


def _day_after(day: date) -> str:
    """The first moment after ``day`` as stored times compare (``until:`` includes the whole day)."""
    return (day + timedelta(days=1)).isoformat()


def _search_postgres(store: Store, text: str, *, since: date | None, until: date | None, limit: int) -> list[EventHit]:
    """:func:`search_events` on PostgreSQL: the same candidates, order and date limits, over the
    ``articles.search`` tsvector (GIN) with a tsquery made from the same terms as FTS5's."""
    query = pg_tsquery(text)
    if query is None:
        return []
    params = {
        "query": query,
        "title": pg_tsquery(text, title_only=True),
        "since": since and since.isoformat(),
        "until": until and _day_after(until),
        "cap": CANDIDATES,
        "limit": limit,
    }
    where = ["a.search @@ CAST(:query AS tsquery)"]
    where += _date_bounds("a.id", since=since, until=until)
    dated = " JOIN events e ON e.id = a.event_id" if len(where) > 1 else ""
    sql = (
        f"WITH c AS MATERIALIZED (SELECT a.id, a.event_id, a.search FROM articles a{dated} "
        f"WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT :cap), "
        "b AS MATERIALIZED (SELECT event_id, bool_or(search @@ CAST(:title AS tsquery)) AS headline, "
        "count(*) AS reports, max(id) AS newest FROM c GROUP BY event_id "
        "ORDER BY headline DESC, reports DESC, newest DESC LIMIT :limit) "
        f"SELECT e.*, {OUTLETS} FROM b JOIN events e ON e.id = b.event_id "
        "ORDER BY b.headline DESC, b.reports DESC, b.newest DESC"
    )
    return [_hit(row) for row in store.query(sql, params)]


def timeline(articles: list[dict]) -> list[TimelineEntry]:
    """An event's reports in order (``Store.event_articles``): first report, then each later source."""
    return [
        TimelineEntry(
            row["title"],
            row["source"],
            row["url"],
            parse_iso(row["published"]),
            parse_iso_required(row["first_seen"], f"event {row['event_id']}: a report's first_seen"),
        )
        for row in articles
    ]


def recent_events(store: Store, topics: list[str], limit: int) -> list[EventHit]:
    """The latest events (by last report) of ``topics``, newest first; seeded ones included."""
    marks = ",".join("?" * len(topics)) or "''"
    topics_of = json_items(store.dialect, "a.topics", "t")
    sql = (
        f"SELECT e.*, {OUTLETS} FROM events e WHERE EXISTS (SELECT 1 FROM articles a, {topics_of} "
        f"WHERE a.event_id = e.id AND t.value IN ({marks})) "
        "ORDER BY coalesce(e.last_published, e.last_seen) DESC, e.id DESC LIMIT ?"
    )
    return [_hit(row) for row in store.query(sql, [*topics, limit])]
