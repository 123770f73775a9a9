"""Event placement through the real pipeline on both databases: rewrites fold, new developments open events."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botsvc.config import DedupSettings, load_config
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem
from botsvc.service.app import open_app
from botsvc.store.events import EventBook
from botsvc.store.pipeline import Processor
from botsvc.store.rebuild import rebuild_events
from botsvc.store.seed import seed_archive
from botsvc.store.seed_data import load_seed_articles
from botsvc.store.store import open_store

ROOT_CONFIG = Path(__file__).resolve().parents[1] / "feeds.toml"
AUG_22 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)


def item(guid, title, summary="", *, source="Wire", published=AUG_22, body=""):
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower().replace(' ', '')}.example/{guid}",
        title=title,
        summary=summary,
        published=published,
        source=source,
        body=body,
    )


EXPORT_CURBS = item(
    "curbs-1",
    "Japan tightens export controls on chip materials bound for South Korea",
    "Tokyo will require case-by-case licences for fluorinated polyimide, photoresist and hydrogen "
    "fluoride shipped to South Korea from July 4, in a row over wartime labour rulings.",
    published=datetime(2019, 7, 1, 5, 0, tzinfo=timezone.utc),
)
EXPORT_CURBS_REWRITE = item(
    "x-77",
    "Tokyo to curb shipments of photoresist, hydrogen fluoride to Korean chipmakers",
    "South Korean chipmakers face licence checks on three materials as Japan drops fast-track "
    "export treatment from July 4 amid a dispute over forced labour compensation.",
    source="Pacific Desk",
    published=datetime(2019, 7, 1, 9, 30, tzinfo=timezone.utc),
)
WHITE_LIST = item(
    "wl-1",
    "Japan's cabinet removes South Korea from export white list of trusted trade partners",
    "The cabinet approved dropping South Korea from the list of countries granted simplified "
    "export procedures, effective August 28; Seoul vowed to respond.",
    source="Ledger",
    published=datetime(2019, 8, 2, 2, 0, tzinfo=timezone.utc),
)


@pytest.fixture
def processor(db_at):
    config = load_config(ROOT_CONFIG)
    store = open_store(db_at("events.db"))
    proc = Processor(store, Relevance(config.topics), EventBook(store, config.dedup))
    yield proc
    store.close()


def judge(proc, *items):
    with proc.store.atomic():
        return proc.process(list(items))


def test_a_reworded_rewrite_by_another_outlet_joins_the_event(processor):
    [first] = judge(processor, EXPORT_CURBS)
    [rewrite] = judge(processor, EXPORT_CURBS_REWRITE)
    assert first.decision == "new"
    assert rewrite.decision == "duplicate" and rewrite.event_id == first.event_id
    assert rewrite.duplicate_of == first.article_id and 0.2 <= rewrite.similarity < 1
    event = processor.store.event(first.event_id)
    assert event["member_count"] == 2 and event["outlets"] == ["Wire", "Pacific Desk"]
    assert event["first_published"].startswith("2019-07-01T05:00")


def test_rewrites_in_one_feed_batch_fold_into_one_event(processor):
    outcomes = judge(processor, EXPORT_CURBS_REWRITE, EXPORT_CURBS)
    assert [o.decision for o in outcomes] == ["duplicate", "new"]  # the earlier report opens the event
    assert outcomes[0].event_id == outcomes[1].event_id


def test_same_topic_but_a_different_development_opens_a_new_event(processor):
    [curbs] = judge(processor, EXPORT_CURBS)
    [white_list] = judge(processor, WHITE_LIST)
    assert white_list.decision == "new" and white_list.event_id != curbs.event_id


def test_a_repeat_after_the_span_opens_a_new_event(processor):
    span = processor.events.settings.span_days
    [first] = judge(processor, EXPORT_CURBS)
    later = replace(EXPORT_CURBS_REWRITE, published=EXPORT_CURBS.published + timedelta(days=span + 1))
    [again] = judge(processor, later)
    assert again.decision == "new" and again.event_id != first.event_id
    assert "days earlier (span" in again.reason


def test_the_span_runs_from_the_events_first_report_so_events_do_not_creep(processor):
    span = processor.events.settings.span_days
    step = timedelta(days=span * 0.8)
    first = judge(processor, EXPORT_CURBS)[0]
    second = judge(processor, replace(EXPORT_CURBS_REWRITE, published=EXPORT_CURBS.published + step))[0]
    third = judge(
        processor,
        replace(
            EXPORT_CURBS_REWRITE,
            guid="x-78",
            source="Third",
            feed="Third",
            link="https://third.example/x-78",
            published=EXPORT_CURBS.published + 2 * step,
            # Its own report (another figure), not a re-dated copy of the second one.
            summary=EXPORT_CURBS_REWRITE.summary + " Exporters expect delays of 90 days.",
        ),
    )[0]
    assert second.event_id == first.event_id != third.event_id
    assert third.decision == "new" and "days earlier (span" in third.reason


def test_the_index_is_rebuilt_from_sqlite_after_a_restart(db_at):
    path = db_at("restart.db")
    config = load_config(ROOT_CONFIG)
    store = open_store(path)
    first = judge(Processor(store, Relevance(config.topics), EventBook(store, config.dedup)), EXPORT_CURBS)[0]
    store.close()

    store = open_store(path)
    again = Processor(store, Relevance(config.topics), EventBook(store, config.dedup))
    [rewrite] = judge(again, EXPORT_CURBS_REWRITE)
    assert rewrite.decision == "duplicate" and rewrite.event_id == first.event_id
    store.close()


def test_articles_stored_without_fingerprints_are_backfilled(processor):
    judge(processor, EXPORT_CURBS)
    processor.store.db.execute("UPDATE articles SET fingerprint = NULL")
    book = EventBook(processor.store, processor.events.settings)
    assert processor.store.db.execute("SELECT count(*) FROM articles WHERE fingerprint IS NULL").fetchone()[0] == 0
    found = book.place(EXPORT_CURBS_REWRITE, AUG_22)
    assert found.event_id is not None


def test_a_rolled_back_feed_leaves_nothing_in_the_index(processor):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with processor.store.atomic():
            processor.process([EXPORT_CURBS])
            raise Boom
    processor.events.reload()
    assert processor.store.counts()["articles"] == 0
    [again] = judge(processor, EXPORT_CURBS_REWRITE)
    assert again.decision == "new"


@pytest.mark.parametrize("leave_own_text_out", [False, True], ids=["full archive", "own report left out"])
def test_each_seeded_report_as_headline_and_lead_is_a_duplicate_of_the_seeded_event(tmp_path, leave_own_text_out):
    # One database per seed: a judgement test, on SQLite only (the store contract is covered above).
    config = load_config(ROOT_CONFIG)
    seeds = load_seed_articles()
    for n, seed in enumerate(seeds):
        store = open_store(tmp_path / f"seed-{leave_own_text_out}-{n}.db")
        book = EventBook(store, config.dedup)
        archive = [s for s in seeds if s is not seed] if leave_own_text_out else seeds
        seed_archive(store, book, archive)
        proc = Processor(store, Relevance(config.topics), book)
        syndicated = FeedItem(
            feed="aggregator",
            guid=f"agg-{n}",
            link=f"https://aggregator.example/{n}",
            title=seed.title,
            summary=seed.lead,
            published=seed.published,
            source="Aggregator",
        )
        [outcome] = judge(proc, syndicated)
        assert outcome.decision == "duplicate", (seed.title, outcome.reason)
        assert outcome.event_id == store.seeded_event_id()
        store.close()


def test_rebuild_events_regroups_without_losing_articles(db_at):
    config = load_config(ROOT_CONFIG)
    strict = replace(config.dedup, threshold=0.99)
    store = open_store(db_at("rebuild.db"))
    proc = Processor(store, Relevance(config.topics), EventBook(store, strict))
    seed_archive(store, proc.events)
    judge(proc, EXPORT_CURBS, EXPORT_CURBS_REWRITE, WHITE_LIST)
    articles = store.counts()["articles"]
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == 4  # seeded + 3

    report = rebuild_events(store, config.dedup)
    assert report.articles == articles == store.counts()["articles"]
    assert report.events_before == 4 and report.events_after == 3 and report.moved == 1
    rows = store.query("SELECT guid, event_id, duplicate_of, similarity FROM articles WHERE feed != 'seed'")
    by_guid = {r["guid"]: r for r in rows}
    assert by_guid["x-77"]["event_id"] == by_guid["curbs-1"]["event_id"] != by_guid["wl-1"]["event_id"]
    event = store.event(by_guid["curbs-1"]["event_id"])
    assert event["member_count"] == 2 and event["outlets"] == ["Wire", "Pacific Desk"]
    assert store.event(store.seeded_event_id())["member_count"] == 5

    again = rebuild_events(store, config.dedup)
    assert again.moved == 0 and again.events_after == 3
    store.close()


def test_open_app_uses_the_configured_dedup_settings(db_at):
    config = load_config(ROOT_CONFIG)
    config = replace(config, dedup=DedupSettings(threshold=0.9, span_days=2, lead_hours=5))
    app = open_app(ROOT_CONFIG, db_at("app.db"), config=config)
    assert app.events.assigner.threshold == 0.9 and app.events.assigner.span == timedelta(days=2)
    assert app.events.assigner.lead == timedelta(hours=5)
    app.close()


DOKDO_EN = item(
    "dokdo-en",
    "Japan demands South Korea halt military drills around disputed islets",
    "Japan's foreign ministry protested South Korea's navy exercise around the islets Seoul calls Dokdo "
    "and Tokyo calls Takeshima, calling the drills unacceptable.",
    source="Wire",
    published=datetime(2019, 8, 25, 3, 0, tzinfo=timezone.utc),
)
DOKDO_KO = item(
    "dokdo-ko",
    "일본 정부, 한국 해군 독도 방어훈련에 항의",
    "한국 해군이 독도 방어훈련을 시작하자 일본 외무성은 훈련 중단을 요구하며 항의했다.",
    source="서울신문",
    published=datetime(2019, 8, 25, 6, 0, tzinfo=timezone.utc),
)
DOKDO_JA = item(
    "dokdo-ja",
    "韓国軍の竹島周辺での訓練に日本政府が抗議",
    "韓国海軍が竹島周辺で防衛訓練を始めたことを受け、外務省は韓国側に抗議し中止を求めた。",
    source="東京新聞",
    published=datetime(2019, 8, 25, 9, 0, tzinfo=timezone.utc),
)


def test_korean_and_japanese_reports_of_an_english_story_join_its_event(processor):
    [english] = judge(processor, DOKDO_EN)
    [korean] = judge(processor, DOKDO_KO)
    [japanese] = judge(processor, DOKDO_JA)
    assert english.decision == "new"
    assert korean.decision == japanese.decision == "duplicate"
    assert korean.event_id == japanese.event_id == english.event_id


def test_an_english_report_joins_the_event_a_korean_report_opened(processor):
    [korean] = judge(processor, DOKDO_KO)
    [english] = judge(processor, DOKDO_EN)
    assert korean.decision == "new" and english.event_id == korean.event_id


def test_the_seeded_event_absorbs_korean_and_japanese_reports(db_at):
    config = load_config(ROOT_CONFIG)
    store = open_store(db_at("seeded.db"))
    proc = Processor(store, Relevance(config.topics), EventBook(store, config.dedup))
    seed_archive(store, proc.events)
    seeded = store.seeded_event_id()
    reports = [
        item(
            "ko-1",
            "청와대, 한일 지소미아 종료 결정",
            "정부는 일본과의 군사정보보호협정(지소미아)을 연장하지 않고 종료하기로 했다고 청와대가 밝혔다.",
            source="한겨레",
            published=AUG_22 + timedelta(hours=1),
        ),
        item(
            "ja-1",
            "韓国、GSOMIA破棄を決定　日本政府は強く抗議",
            "韓国政府は日韓の軍事情報包括保護協定（GSOMIA）を破棄すると発表した。日本の外務省は韓国側に抗議した。",
            source="毎日新聞",
            published=AUG_22 + timedelta(hours=3),
        ),
    ]
    outcomes = judge(proc, *reports)
    assert [o.decision for o in outcomes] == ["duplicate", "duplicate"]
    assert {o.event_id for o in outcomes} == {seeded}
    store.close()


def test_rebuild_events_works_after_a_digest_was_delivered_and_changes_nothing_with_the_same_settings(db_at):
    from botsvc.store.rebuild import rebuild_events as rebuild

    config = load_config(ROOT_CONFIG)
    store = open_store(db_at("delivered.db"))
    proc = Processor(store, Relevance(config.topics), EventBook(store, config.dedup))
    first, second = judge(proc, EXPORT_CURBS, replace(EXPORT_CURBS_REWRITE, published=EXPORT_CURBS.published))
    with store.atomic():
        sub = store.db.execute(
            "INSERT INTO subscriptions (platform, channel, topic, created_at) VALUES ('console', 'c', 'japan-korea', "
            "'2019-01-01T00:00:00+00:00') RETURNING id"
        ).fetchone()[0]
        store.db.execute(
            "INSERT INTO deliveries (subscription_id, event_id, member_count, queued_at) "
            "VALUES (?, ?, 2, '2019-07-01T10:00:00+00:00')",
            (sub, first.event_id),
        )
    before = store.query("SELECT id, event_id, similarity FROM articles ORDER BY id")
    same = rebuild(store, config.dedup)
    assert same.unchanged and same.moved == 0
    assert store.query("SELECT id, event_id, similarity FROM articles ORDER BY id") == before
    # A stricter threshold splits the event; what the channel was told stays with its first report.
    strict = replace(config.dedup, threshold=0.99)
    report = rebuild(store, strict)
    assert not report.unchanged and report.moved >= 1
    kept = store.query("SELECT event_id FROM deliveries WHERE subscription_id = ?", (sub,))
    assert kept == [{"event_id": store.article(first.article_id)["event_id"]}]
    assert rebuild(store, strict).unchanged
    assert rebuild(store, config.dedup).moved >= 1  # and back
    store.close()


def test_an_aggregator_feed_tells_its_outlets_apart_by_the_entry_source():
    from botsvc.ingest.parse import parse_feed

    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Aggregator</title>
    <item><title>A</title><guid>1</guid><source url="https://a.example/rss">Wire A</source></item>
    <item><title>B</title><guid>2</guid><author>desk@b.example (Desk B)</author></item>
    <item><title>C</title><guid>3</guid></item></channel></rss>"""
    items = parse_feed(body, feed="agg").items
    assert [i.byline for i in items] == ["Wire A", "desk@b.example (Desk B)", ""]
    assert items[0].outlet_key != items[1].outlet_key != items[2].outlet_key == "Aggregator"


def test_syndicated_copies_are_fingerprinted_once_and_placed_as_without_the_memo(processor, monkeypatch):
    from botsvc.store import events

    made = []
    real = events.item_fingerprint
    monkeypatch.setattr(events, "item_fingerprint", lambda item: made.append(item.guid) or real(item))
    copies = [
        replace(EXPORT_CURBS, guid=f"wire-{n}", link=f"https://outlet{n}.example/a", source=f"Outlet {n}", feed=f"f{n}")
        for n in range(4)
    ]
    outcomes = judge(processor, EXPORT_CURBS, *copies, EXPORT_CURBS_REWRITE)
    assert made == ["curbs-1", "x-77"]  # one fingerprint per distinct text
    for copy in copies:
        assert processor.events.fingerprint(copy) == real(copy)
    assert [o.decision for o in outcomes] == ["new"] + ["duplicate"] * 5
    assert {o.event_id for o in outcomes} == {outcomes[0].event_id}

    # The same items judged by a book that computes every fingerprint: the same decisions and events.
    fresh = Processor(processor.store, processor.relevance, EventBook(processor.store, processor.events.settings))
    monkeypatch.setattr(events, "FINGERPRINT_MEMO", 0)
    again = [replace(i, guid=i.guid + "-again", link=i.link + "?again") for i in (EXPORT_CURBS, *copies)]
    assert [(o.decision, o.event_id) for o in judge(fresh, *again)] == [("duplicate", outcomes[0].event_id)] * 5

    # Another lexicon in use than the one the remembered fingerprints were made with: not used.
    made.clear()
    processor.events._fingerprinted_with = object()
    processor.events.fingerprint(EXPORT_CURBS)
    assert made == ["curbs-1"]

    # The same words split otherwise between title and lead are another text.
    shifted = replace(
        EXPORT_CURBS, title=EXPORT_CURBS.title + EXPORT_CURBS.summary[:5], summary=EXPORT_CURBS.summary[5:]
    )
    assert processor.events.fingerprint(shifted) == real(shifted)
    assert made == ["curbs-1", "curbs-1"]
