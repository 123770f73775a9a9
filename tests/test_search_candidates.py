"""Search on an archive where a word is in more reports than search ranks.

Search ranks only the newest ``CANDIDATES`` matching reports (within since:/until:),
so a common word costs the same on a year of news as on ten. These tests store a little
more than that many reports and check that the answer is still the newest and best.
"""

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from botsvc.models import FeedItem
from botsvc.store import search
from botsvc.store.merges import merge_events
from botsvc.store.migrate import apply_migrations
from botsvc.store.search import search_events
from botsvc.store.store import open_store

START = datetime(2020, 1, 1, tzinfo=timezone.utc)


class Archive:
    """Stores reports through the store's own paths, one event per call, oldest first."""

    def __init__(self, store):
        self.store = store
        self.count = 0

    def event(self, titles: list[str], published: datetime, summary: str = "Officials spoke on Monday.") -> int:
        event_id = 0
        with self.store.atomic():
            for n, title in enumerate(titles):
                self.count += 1
                when = published + timedelta(hours=n)
                item = FeedItem(
                    feed="wire",
                    guid=str(self.count),
                    link=f"https://news.example/{self.count}",
                    title=title,
                    summary=summary,
                    published=when,
                    source=f"outlet{n}",
                )
                if n == 0:
                    event_id = self.store.create_event(
                        title=title, topic="japan-korea", published=when, outlet=item.source, when=when
                    )
                else:
                    self.store.add_event_member(event_id, published=when, outlet=item.source, when=when)
                self.store.insert_article(
                    item, topics=["japan-korea"], keywords=[], event_id=event_id, similarity=None, when=when
                )
        return event_id


@pytest.fixture()
def archive(db_at):
    store = open_store(db_at("search.db"))
    yield Archive(store)
    store.close()


def ids(store, text, **dates):
    return [hit.event_id for hit in search_events(store, text, **dates)]


def test_a_common_word_on_an_archive_bigger_than_the_cap_finds_the_newest_and_best(archive, monkeypatch):
    monkeypatch.setattr(search, "CANDIDATES", 40)
    in_summary = "Officials in Japan spoke on Monday."
    old_big = archive.event(["Japan and Korea sign a pact"] * 5, START)
    filler = [archive.event([f"Talks, round {n}"] * 3, START + timedelta(days=n), in_summary) for n in range(1, 30)]
    headline = archive.event(["Japan lifts export curbs"], START + timedelta(days=40))
    big = archive.event(["Japan and Korea hold a summit"] * 2, START + timedelta(days=41))
    newest = archive.event(["Ministers meet"], START + timedelta(days=42), in_summary)
    assert archive.count > 2 * search.CANDIDATES

    found = ids(archive.store, "Japan")
    # Headline matches first (more matching reports first), then the others, newest first.
    assert found[:4] == [big, headline, filler[-1], filler[-2]]
    # A one-report event without the word in its headline comes after those with three.
    assert newest not in found and newest in ids(archive.store, "Japan", since=date(2020, 2, 12))
    # Only events with a report among the newest 40 matches are ranked: the two headline
    # events (3 reports), the newest (1) and the last 12 filler events (36).
    assert set(found) <= set(filler[-12:]) | {big, headline, newest} and len(found) == 10
    # The old event with more headline matches is beyond the cap, yet found by dates or
    # by a rarer word.
    assert old_big not in found
    assert ids(archive.store, "Japan", until=date(2020, 1, 1)) == [old_big]
    assert ids(archive.store, "Japan pact") == [old_big]


def test_the_real_cap_ranks_the_newest_matches(archive):
    old_big = archive.event(["Japan and Korea, a long story"] * 30, START - timedelta(days=1))
    for n in range(search.CANDIDATES // 25 + 2):
        archive.event([f"Talks, week {n}"] * 25, START + timedelta(days=7 * n), "Seoul and Japan met.")
    best = archive.event(["Japan trade dispute"], START + timedelta(days=900))
    assert archive.count > search.CANDIDATES + 30
    found = ids(archive.store, "Japan")
    assert found[0] == best and old_big not in found
    assert ids(archive.store, "Japan", until=date(2020, 1, 5)) == [old_big, old_big + 1]


def test_since_and_until_keep_events_that_overlap_the_dates(archive):
    spring = archive.event(["Japan export rules, spring"], datetime(2021, 3, 1, tzinfo=timezone.utc))
    # Reported from 30 May to 2 June: it overlaps both May and June.
    straddling = archive.event(
        ["Japan export rules, turn of the month"] * 73, datetime(2021, 5, 30, tzinfo=timezone.utc)
    )
    autumn = archive.event(["Japan export rules, autumn"], datetime(2021, 10, 1, tzinfo=timezone.utc))
    everything = {spring, straddling, autumn}
    assert set(ids(archive.store, "export rules")) == everything
    assert set(ids(archive.store, "export rules", since=date(2021, 6, 2))) == {straddling, autumn}
    assert set(ids(archive.store, "export rules", since=date(2021, 6, 3))) == {autumn}
    assert set(ids(archive.store, "export rules", until=date(2021, 5, 30))) == {spring, straddling}
    assert set(ids(archive.store, "export rules", until=date(2021, 5, 29))) == {spring}
    assert ids(archive.store, "export rules", since=date(2021, 4, 1), until=date(2021, 5, 31)) == [straddling]
    assert ids(archive.store, "export rules", since=date(2021, 11, 1)) == []
    assert ids(archive.store, "export rules", until=date(2020, 12, 31)) == []


def test_dates_apply_before_the_cap(archive, monkeypatch):
    monkeypatch.setattr(search, "CANDIDATES", 5)
    old = archive.event(["Japan pact signed"], START)
    later = [archive.event(["Japan pact review"], START + timedelta(days=30 * n)) for n in range(1, 11)]
    assert old not in ids(archive.store, "Japan pact")
    assert ids(archive.store, "Japan pact", until=date(2020, 1, 15)) == [old]
    # 1 March to 29 June: five reports, all ranked (equal matches, newest event first).
    assert ids(archive.store, "Japan pact", since=date(2020, 3, 1), until=date(2020, 6, 29)) == later[5:0:-1]
    # Six in the dates: the newest five are ranked.
    assert ids(archive.store, "Japan pact", since=date(2020, 3, 1), until=date(2020, 7, 31)) == later[6:1:-1]


def test_reports_moved_into_an_older_event_are_found_by_its_dates(archive):
    """A merge moves a younger event's reports into the older one; until: still finds them."""
    older = archive.event(["Seoul and Tokyo talks open"], datetime(2021, 1, 4, tzinfo=timezone.utc))
    for n in range(1, 6):
        archive.event([f"Unrelated report {n}"], datetime(2021, 1, 4 + n, tzinfo=timezone.utc))
    younger = archive.event(["Talks agree on a hotline"], datetime(2021, 2, 1, tzinfo=timezone.utc))
    with archive.store.atomic():
        merge_events(archive.store, younger, older, None, datetime(2021, 2, 2, tzinfo=timezone.utc))
    assert ids(archive.store, "hotline", until=date(2021, 1, 4)) == [older]
    assert ids(archive.store, "hotline", since=date(2021, 2, 1)) == [older]
    assert ids(archive.store, "hotline", until=date(2021, 1, 3)) == []


def test_events_stored_before_the_date_bounds_existed_are_found_by_date(tmp_path):
    [migration] = (Path(__file__).resolve().parents[1] / "migrations" / "sqlite").glob("*_search_date_bounds.sql")
    path = tmp_path / "older.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=int(migration.name[:4]) - 1)
    for n, day in enumerate(["2019-08-22", "2020-03-01", "2021-06-01"], start=1):
        moment = f"{day}T00:00:00+00:00"
        conn.execute(
            "INSERT INTO events (id, title, first_seen, last_seen, member_count) VALUES (?, 'Pact', ?, ?, 1)",
            (n, moment, moment),
        )
        conn.execute(
            "INSERT INTO articles (feed, guid, url, title, source, event_id, first_seen) "
            "VALUES ('f', ?, 'https://x/', 'Seoul ends the pact', 'Wire', ?, ?)",
            (str(n), n, moment),
        )
    conn.commit()
    conn.close()
    store = open_store(path)
    assert ids(store, "pact", until=date(2019, 8, 22)) == [1]
    assert ids(store, "pact", since=date(2020, 1, 1), until=date(2020, 12, 31)) == [2]
    assert ids(store, "pact", since=date(2021, 6, 1)) == [3]
    store.close()


def test_a_word_longer_than_postgres_allows_is_stored_and_found_on_both(archive):
    """PostgreSQL keeps words of at most 2,046 bytes: longer ones are cut alike in the index and
    in the query, so a pasted monster word neither fails the store nor the search."""
    huge = "gsomia" * 500  # one word of 3,000 bytes
    event = archive.event([f"Seoul {huge} talks", "Another report"], datetime(2021, 5, 1, tzinfo=timezone.utc))
    assert ids(archive.store, huge) == [event]
    assert ids(archive.store, f"seoul {'x' * 3000}") == []
    assert ids(archive.store, "talks") == [event]
