"""A poll cycle keeps its items in a temporary file until judged, and the judging still reads all of them whole."""

import asyncio
import gc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from botsvc.ingest.normalise import identity_keys
from botsvc.ingest.parse import ParsedFeed
from botsvc.models import FeedItem
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.service.spill import ItemSpill

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"
WHEN = datetime(2019, 8, 22, 9, 0, tzinfo=timezone.utc)


class Title(str):
    """A str subclass: not what marshal takes."""


def _item(guid: str, summary: str, body: str = "", **fields) -> FeedItem:
    return FeedItem("f", guid, f"https://x.example/{guid}", f"title {guid}", summary, WHEN, "X", body=body, **fields)


def _feed_items() -> list[FeedItem]:
    return [
        _item("a", "Seoul weighs GSOMIA … as Tokyo tightens export controls", "full text\nwith lines", language="en"),
        _item("b", "한국 정부는 지소미아 종료를 검토", "日本政府は輸出管理を強化した", byline="연합뉴스"),
        FeedItem("f", "c", "", "", "", None, "X", estimated_published=WHEN - timedelta(hours=1)),
        FeedItem("f", "d", "https://x.example/d", "undated", "x" * 5000, None, "X", body="é"),
        FeedItem("f", "e", "https://x.example/e", Title("odd"), "", WHEN.astimezone(ZoneInfo("Asia/Seoul")), "X"),
    ]


def _feed_item_count() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, FeedItem))


def test_kept_items_wait_on_disk_and_come_back_whole_in_order_of_publication():
    spill = ItemSpill()
    try:
        alive = _feed_item_count()
        first = spill.keep(ParsedFeed("Feed", _feed_items(), warning="recovered", reader="lxml"))
        second = spill.keep(ParsedFeed("Other", [_item("g", "second feed's summary")]))
        assert (first.number, first.size, first.title, first.warning, first.reader) == (
            0,
            5,
            "Feed",
            "recovered",
            "lxml",
        )
        assert (second.number, second.size, spill.first(second.number)) == (1, 1, 5)
        assert _feed_item_count() == alive  # the spill holds no item in memory

        expected = _feed_items() + [_item("g", "second feed's summary")]
        read = spill.read(range(6))
        assert [item for item, _, _ in read] == expected
        assert [(i.published, i.estimated_published) for i, _, _ in read] == [
            (i.published, i.estimated_published) for i in expected
        ]
        assert str(read[4][0].published.tzinfo) == "Asia/Seoul" and type(read[4][0].title) is Title
        assert [keys for _, keys, _ in read] == [identity_keys(item) for item in expected]
        assert [found for _, _, found in read] == [None] * 6  # not judged where parsed
        assert spill.feed_keys(first) == [key for item in expected[:5] for key in identity_keys(item)]
        assert [item.guid for item, _, _ in spill.read([5, 0, 3])] == ["g", "a", "d"]  # in the order asked

        # Oldest first; undated (d) as of now, ties in the order kept (a, b, e, g share a time).
        now = WHEN + timedelta(days=1)
        assert list(spill.order(now, [first, second])) == [2, 0, 1, 4, 5, 3]
        assert list(spill.order(now, [second])) == [5]

        # Written buffered: what is kept after a read is read back whole too.
        third = spill.keep(ParsedFeed("Third", [_item("h", "kept after a read", "and its body")]))
        item, _, _ = spill.read([spill.first(third.number)])[0]
        assert (item.summary, item.body) == ("kept after a read", "and its body")
    finally:
        spill.close()


def test_a_cycle_judges_whole_items_and_reports_them_without_text(tmp_path, feed_server):
    body = (FEEDS / "seoul-wire.xml").read_bytes()
    url = feed_server.static("/seoul.xml", body)
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "s.db")
    target = FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")
    report = asyncio.run(run_cycle(app.store, app.processor, [target], app.policy, every_outcome=True))
    kept = [o for o in report.outcomes if o.article_id is not None]
    assert kept and len(report.outcomes) == 12
    assert all(o.item.summary == "" and o.item.body == "" for o in report.outcomes)
    stored = {row["guid"]: row["summary"] for row in app.store.query("SELECT guid, summary FROM articles")}
    assert all(stored[o.item.guid] for o in kept)  # the judging and the store had the summaries
    app.close()


def test_a_parse_worker_hands_over_the_records_the_main_process_would_have_written(tmp_path):
    """parse_and_match packs a feed where it is parsed: the spill appends those bytes as they are, and
    reads back the same items, keys and matches as when the main process kept the parsed feed itself."""
    import pickle

    from botsvc.ingest.fetch import FetchResult
    from botsvc.service import prejudge
    from botsvc.service.cycle import parse_and_match, parse_fetched
    from botsvc.service.spill import PackedFeed
    from botsvc.store.seenkeys import key_hash

    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "w.db")
    rules = prejudge.rules_for_workers(*app.processor.rules_source())
    body = (FEEDS / "seoul-wire.xml").read_bytes()
    target = FeedTarget(name="seoul", url="http://127.0.0.1:9/seoul.xml", language="en")
    result = FetchResult(url=target.url, status="ok", body=body, content_type="application/rss+xml")
    prejudge.install(rules, every_text=False)
    try:
        packed = pickle.loads(pickle.dumps(parse_and_match(result, target)))  # as a worker sends it
        given = prejudge.prejudged(parse_fetched(result, target), target.topics)
    finally:
        prejudge.install(None)
    assert isinstance(packed, PackedFeed) and isinstance(given, prejudge.Prejudged)
    assert any(given.matches) and not all(given.matches)  # some items matched a topic, some did not

    from_worker, in_main = ItemSpill(), ItemSpill()
    try:
        kept = from_worker.keep_packed(packed)
        same = in_main.keep(given.parsed, given.matches, every_text=False, keys=given.keys)
        assert (kept.number, kept.size, kept.title) == (same.number, same.size, same.title)
        numbers = list(range(kept.size))
        assert from_worker.read(numbers) == in_main.read(numbers)
        assert from_worker.feed_keys(kept) == in_main.feed_keys(same)
        keys, hashes = from_worker.feed_window(kept)
        assert list(hashes) == [key_hash(key) for key in keys]  # hashed in the worker, as stored
        assert list(from_worker.order(WHEN, [kept])) == list(in_main.order(WHEN, [same]))
    finally:
        from_worker.close()
        in_main.close()
        app.close()
