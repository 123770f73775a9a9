"""A poll cycle keeps its items' text in a temporary file until judged, and the judging still reads all of it."""

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from botsvc.ingest.parse import ParsedFeed
from botsvc.models import FeedItem
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.service.spill import TextSpill

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"


def _item(guid: str, summary: str, body: str = "") -> FeedItem:
    when = datetime(2019, 8, 22, 9, 0, tzinfo=timezone.utc)
    return FeedItem("f", guid, f"https://x.example/{guid}", f"title {guid}", summary, when, "X", body=body)


def test_kept_items_lose_their_text_and_get_it_back_whole():
    items = [
        _item("a", "Seoul weighs GSOMIA … as Tokyo tightens export controls", "full text\nwith lines"),
        _item("b", "한국 정부는 지소미아 종료를 검토", "日本政府は輸出管理を強化した"),
        _item("c", ""),  # nothing to keep: the item stays as it is
        _item("d", "x" * 5000, "é"),
    ]
    spill = TextSpill()
    try:
        first = spill.keep(ParsedFeed("Feed", items, warning="recovered", reader="lxml"))
        second = spill.keep(ParsedFeed("Other", [_item("e", "second feed's summary")]))
        assert first.title == "Feed" and first.warning == "recovered" and first.reader == "lxml"
        assert [(i.summary, i.body) for i in first.items + second.items] == [("", "")] * 5
        assert [(i.guid, i.title, i.link) for i in first.items] == [(i.guid, i.title, i.link) for i in items]
        assert [spill.whole(i) for i in first.items] == items
        assert spill.whole(second.items[0]).summary == "second feed's summary"
        stranger = _item("z", "never kept")
        assert spill.whole(stranger) is stranger
        # Written buffered: what is kept after a read is read back whole too.
        third = spill.keep(ParsedFeed("Third", [_item("f", "kept after a read", "and its body")]))
        assert (spill.whole(third.items[0]).summary, spill.whole(third.items[0]).body) == (
            "kept after a read",
            "and its body",
        )
    finally:
        spill.close()


def test_a_cycle_judges_whole_items_and_reports_them_without_text(tmp_path, feed_server):
    body = (FEEDS / "seoul-wire.xml").read_bytes()
    url = feed_server.static("/seoul.xml", body)
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "s.db")
    report = asyncio.run(
        run_cycle(app.store, app.processor, [FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")], app.policy)
    )
    kept = [o for o in report.outcomes if o.article_id is not None]
    assert kept and len(report.outcomes) == 12
    assert all(o.item.summary == "" and o.item.body == "" for o in report.outcomes)
    stored = {row["guid"]: row["summary"] for row in app.store.query("SELECT guid, summary FROM articles")}
    assert all(stored[o.item.guid] for o in kept)  # the judging and the store had the summaries
    app.close()
