"""Several processes on one database: reports of one story land in one event.

Each worker here is a whole bot (``open_app``: its own SQLite connection, its own
in-memory index built when it opened), as separate worker processes would be. The reports
are real ones of one story from the labelled set (tests/fixtures/dev-real): an English
wire report, a Korean report, an English rewrite and a Japanese report.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botsvc.ingest.parse import parse_feed
from botsvc.models import FeedItem
from botsvc.service.app import App, open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.store.events import item_fingerprint_bytes
from botsvc.store.merges import current_event
from botsvc.store.placement import placement_clock, placement_turn
from botsvc.store.seed import SEED_FEED

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
LABELLED = ROOT / "tests" / "fixtures" / "dev-real"
STORY = "forced-labor-fund-2023-03"


def reports_of(event: str) -> list[FeedItem]:
    """The labelled reports of ``event``, earliest first."""
    labels = json.loads((LABELLED / "labels.json").read_text(encoding="utf-8"))["items"]
    found = []
    for label in labels:
        if label.get("event") != event:
            continue
        name = label["feed"].removesuffix(".xml")
        parsed = parse_feed((LABELLED / "feeds" / label["feed"]).read_bytes(), feed=name, source=name)
        found += [item for item in parsed.items if item.guid == label["guid"]]
    return sorted(found, key=lambda item: item.event_time or datetime.min.replace(tzinfo=timezone.utc))


def judge(app: App, item: FeedItem):
    with app.store.atomic():
        [outcome] = app.processor.process([item])
    return outcome


def events_holding(app: App, items: list[FeedItem]) -> set[int]:
    """The (current) events the stored reports of ``items`` are in."""
    guids = [item.guid for item in items]
    rows = app.store.query(
        f"SELECT event_id FROM articles WHERE guid IN ({','.join('?' * len(guids))})",
        guids,
    )
    assert len(rows) == len(items), "every report is stored once"
    return {current_event(app.store, row["event_id"]) for row in rows}


@pytest.fixture
def workers(tmp_path):
    """Two bots on one database file, each index built before either stored anything."""
    path = tmp_path / "shared.db"
    first = open_app(CONFIG, path)
    second = open_app(CONFIG, path)
    yield first, second
    first.close()
    second.close()


def test_the_story_and_reports_of_it_in_other_languages_stored_by_another_worker_join_its_event(workers):
    a, b = workers
    wire, korean, rewrite, japanese = reports_of(STORY)
    assert (wire.language, korean.language, rewrite.language, japanese.language) == ("en", "ko", "en", "ja")

    opened = judge(a, wire)
    assert opened.decision == "new"
    # b's index was built before a stored the wire report: it must read it before placing.
    for item in (korean, rewrite, japanese):
        outcome = judge(b, item)
        assert outcome.decision == "duplicate", outcome.reason
        assert outcome.event_id == opened.event_id
    assert events_holding(a, [wire, korean, rewrite, japanese]) == {opened.event_id}
    assert a.store.query("SELECT count(*) AS n FROM events WHERE seeded = 0")[0]["n"] == 1

    # And back: a reads what b stored (a later English rewrite joins too).
    late = replace(rewrite, feed="desk", source="Desk", guid="late", link="https://desk.example/late")
    assert judge(a, late).event_id == opened.event_id


def test_two_workers_placing_rewrites_of_one_story_at_the_same_moment_open_one_event(tmp_path):
    """Two threads, each with its own bot on one database, judge reports of one story at once, twice over."""
    path = tmp_path / "shared.db"
    open_app(CONFIG, path).close()  # migrated and seeded before the race
    wire, korean, rewrite, japanese = reports_of(STORY)
    shares = [[wire, japanese], [rewrite, korean]]
    start = threading.Barrier(2)
    outcomes: list[list] = [[], []]
    failures: list[BaseException] = []

    def work(number: int) -> None:
        app = open_app(CONFIG, path)  # a connection of this thread; its index is built now
        try:
            start.wait(timeout=30)
            for item in shares[number]:
                start.wait(timeout=30)  # both place one report at the same moment
                outcomes[number].append(judge(app, item))
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            start.abort()
        finally:
            app.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    decisions = sorted(o.decision for found in outcomes for o in found)
    assert decisions == ["duplicate", "duplicate", "duplicate", "new"], [o.reason for f in outcomes for o in f]
    reader = open_app(CONFIG, path)
    try:
        assert len(events_holding(reader, [wire, korean, rewrite, japanese])) == 1
        assert reader.store.query("SELECT count(*) AS n FROM events WHERE seeded = 0")[0]["n"] == 1
    finally:
        reader.close()


def grouping(app: App) -> set[frozenset[str]]:
    """The stored reports (by feed and GUID) grouped as their events now group them."""
    events: dict[int, set[str]] = {}
    for row in app.store.query("SELECT feed, guid, event_id FROM articles WHERE feed <> ?", (SEED_FEED,)):
        events.setdefault(current_event(app.store, row["event_id"]), set()).add(f"{row['feed']} {row['guid']}")
    return {frozenset(members) for members in events.values()}


def test_two_workers_polling_at_the_same_moment_group_reports_as_one_process_would(tmp_path, feed_server):
    """Whole poll cycles over loopback HTTP, started together: one worker polls the English
    feeds, the other the Korean and Japanese ones of the labelled set. Whichever gets the
    database first, the events are those one process makes when the cycles come in that
    order: each report of a story the first worker stored joins its event."""
    halves = [("korea-english", "tokyo-english"), ("hangul", "nihongo")]
    targets = [
        [
            FeedTarget(
                name=name,
                url=feed_server.static(f"/{name}.xml", (LABELLED / "feeds" / f"{name}.xml").read_bytes()),
                source=name,
            )
            for name in half
        ]
        for half in halves
    ]
    path = tmp_path / "shared.db"
    open_app(CONFIG, path).close()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(number: int) -> None:
        app = open_app(CONFIG, path)
        try:
            start.wait(timeout=30)
            report = asyncio.run(run_cycle(app.store, app.processor, targets[number], app.policy, workers=0))
            assert all(feed.status == "ok" for feed in report.feeds), report
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            start.abort()
        finally:
            app.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    shared = open_app(CONFIG, path)
    one = open_app(CONFIG, tmp_path / "one.db")
    try:
        first = shared.store.query("SELECT feed FROM articles WHERE feed <> ? ORDER BY id LIMIT 1", (SEED_FEED,))
        order = [0, 1] if first[0]["feed"] in halves[0] else [1, 0]
        for number in order:
            asyncio.run(run_cycle(one.store, one.processor, targets[number], one.policy, workers=0))
        together = grouping(shared)
        assert together == grouping(one)
        stories = [reports_of(story) for story in (STORY, "radar-lockon-2018-12")]
        assert all({item.language for item in reports} >= {"en", "ko", "ja"} for reports in stories)
        assert len(events_holding(shared, stories[1])) == 1  # in either order
    finally:
        shared.close()
        one.close()


T0 = datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)


def _story(guid: str, title: str, summary: str, source: str, hours: float = 0) -> FeedItem:
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower()}.example/{guid}",
        title=title,
        summary=summary,
        published=T0 + timedelta(hours=hours),
        source=source,
    )


# One story told first in two languages (two events), then by a report carrying both (a merge).
ENGLISH = _story(
    "en",
    "Japan and South Korea defence ministers agree radar incident prevention steps",
    "Kihara and Shin Won-sik met at the Shangri-La Dialogue in Singapore and settled the 2018 radar lock-on dispute.",
    "Wire",
)
KOREAN = _story(
    "ko",
    "신원식, 기하라 日 방위상과 회담…초계기 문제 매듭",
    "신원식 국방부 장관이 기하라 미노루 일본 방위상과 회담하고 초계기 문제를 매듭지었다.",
    "Hangul",
    hours=1,
)
BRIDGE = _story(
    "both",
    "Japan, South Korea defence chiefs end radar row: 신원식, 기하라와 초계기 문제 매듭",
    "Kihara and Shin Won-sik settled the 2018 radar lock-on dispute in Singapore; 초계기 문제를 매듭지었다.",
    "Third",
    hours=3,
)
KOREAN_AGAIN = _story(
    "ko2",
    "신원식·기하라 국방장관 회담…초계기 갈등 매듭",
    "신원식 국방부 장관과 기하라 미노루 일본 방위상이 회담해 초계기 문제를 매듭지었다.",
    "Yonhap",
    hours=4,
)


def test_a_merge_made_by_another_worker_is_followed_so_later_reports_join_the_survivor(workers):
    a, b = workers
    english = judge(a, ENGLISH)
    korean = judge(b, KOREAN)
    assert english.decision == korean.decision == "new" and english.event_id != korean.event_id
    bridge = judge(a, BRIDGE)
    assert bridge.event_id == english.event_id and f"merged into event {english.event_id}" in bridge.reason
    # b's index still had the Korean report in the absorbed event: it must follow the merge.
    again = judge(b, KOREAN_AGAIN)
    assert again.decision == "duplicate" and again.event_id == english.event_id, again.reason
    assert b.processor.events.assigner.event_of(korean.article_id) == english.event_id
    assert b.store.event(korean.event_id)["member_count"] == 0


def test_catching_up_reads_nothing_when_nothing_changed_and_reloads_after_fingerprints_are_made_again(workers):
    a, b = workers
    book = b.processor.events
    assert book.assigner is not None  # a worker that judges has read its index (Processor.prepare)
    assert book.catch_up() == 0
    judge(a, ENGLISH)
    assert book.catch_up() == 1 and book.catch_up() == 0
    assert book.assigner.event_of(a.store.query("SELECT id FROM articles WHERE guid = 'en'")[0]["id"]) is not None

    before = book.assigner
    with a.store.atomic():  # new concepts: a's fingerprints are made again
        a.store.db.execute(
            "UPDATE articles SET fingerprint = ? WHERE guid = 'en'", (item_fingerprint_bytes("x", "", ""),)
        )
    book.catch_up()
    assert book.assigner is not before, "a re-fingerprinted archive is read again in full"
    assert book.clock == placement_clock(b.store)


def test_a_worker_does_not_read_back_what_it_placed_itself_but_still_reads_the_others(workers, monkeypatch):
    import botsvc.store.events as events_module

    a, b = workers
    reads: list[int] = []
    since = events_module.placed_since
    monkeypatch.setattr(events_module, "placed_since", lambda store, seq: reads.append(seq) or since(store, seq))
    wire, korean, rewrite, japanese = reports_of(STORY)
    judge(a, wire)
    judge(a, korean)
    assert reads == [], "its own placements move its clock: nothing to read back"
    assert a.processor.events.clock == placement_clock(a.store)
    judge(b, rewrite)  # another worker places one
    third = judge(a, japanese)
    assert len(reads) == 1 and a.processor.events.assigner.event_of(third.article_id) is not None
    assert events_holding(a, [wire, korean, rewrite, japanese]) == {third.event_id}


def test_the_placement_turn_opens_a_write_transaction_when_none_is_open(workers):
    a, b = workers
    with placement_turn(a.store):
        assert a.store.db.conn.in_transaction
        a.store.set_state("placement-test", "1")
    assert not a.store.db.conn.in_transaction
    assert b.store.get_state("placement-test") == "1"


def test_a_stored_report_takes_its_placement_number_without_its_row_being_written_twice(workers):
    a, b = workers
    assert b.processor.events.assigner is not None  # b has read its index before a stores
    a.store.db.execute("CREATE TEMP TABLE rewrites (id INTEGER)")
    a.store.db.execute(
        "CREATE TEMP TRIGGER count_rewrites AFTER UPDATE ON articles BEGIN INSERT INTO rewrites VALUES (new.id); END"
    )
    wire, korean, _, _ = reports_of(STORY)
    judge(a, wire)
    judge(a, korean)
    assert a.store.query("SELECT count(*) AS n FROM rewrites")[0]["n"] == 0, "each new row is written once"
    stored = a.store.query("SELECT placed_seq FROM articles WHERE guid IN (?, ?) ORDER BY id", (wire.guid, korean.guid))
    clock = placement_clock(a.store)
    assert clock is not None and [row["placed_seq"] for row in stored] == [clock.seq - 1, clock.seq]
    assert b.processor.events.catch_up() == 2  # the other worker reads both

    # A row written without its number (by hand, a copy) is numbered by the trigger, as before.
    with a.store.atomic():
        a.store.db.execute(
            "INSERT INTO articles (feed, guid, url, title, source, first_seen, event_id, fingerprint, event_time) "
            "SELECT feed, 'by-hand', url, title, source, first_seen, event_id, fingerprint, event_time FROM articles "
            "WHERE guid = ?",
            (wire.guid,),
        )
    [row] = a.store.query("SELECT placed_seq FROM articles WHERE guid = 'by-hand'")
    assert row["placed_seq"] == clock.seq + 1 == placement_clock(a.store).seq
    assert b.processor.events.catch_up() == 1
