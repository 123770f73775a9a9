"""The parse workers judge relevance beside the parse: same decisions, less work and memory in the main process."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from pathlib import Path

from feedserver import FeedServer

from botsvc.config import load_config
from botsvc.ingest.normalise import identity_keys
from botsvc.ingest.parse import ParsedFeed, parse_feed
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem
from botsvc.service import prejudge
from botsvc.service.app import open_app
from botsvc.service.cycle import POOL_THRESHOLD, FeedTarget, run_cycle
from botsvc.service.spill import ItemSpill

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"
CONFIG = ROOT / "examples" / "feeds.toml"


def _parsed() -> ParsedFeed:
    return parse_feed((FEEDS / "seoul-wire.xml").read_bytes(), feed="Seoul Wire", source="Seoul Wire")


def _item(guid: str, summary: str) -> FeedItem:
    when = datetime(2019, 8, 22, 9, 0, tzinfo=timezone.utc)
    return FeedItem("f", guid, f"https://x.example/{guid}", f"title {guid}", summary, when, "X")


def test_a_worker_drops_the_text_of_unmatched_items_unless_every_text_is_needed():
    relevance = Relevance(load_config(CONFIG).topics)
    parsed = _parsed()
    try:
        prejudge.install(relevance, every_text=False)
        slim = prejudge.prejudged(parsed, None)
        prejudge.install(lambda: relevance, every_text=True)  # a builder works as well as the rules
        whole = prejudge.prejudged(parsed, None)
    finally:
        prejudge.install(None)
    assert isinstance(slim, prejudge.Prejudged) and isinstance(whole, prejudge.Prejudged)
    expected = [relevance.match(item) or prejudge.NO_MATCH for item in parsed.items]
    assert slim.matches == whole.matches == expected
    assert slim.keys == [identity_keys(item) for item in parsed.items]  # found beside the matches
    assert any(expected) and not all(expected)
    for item, kept, found in zip(parsed.items, slim.parsed.items, expected, strict=True):
        assert (kept.summary, kept.body) == ((item.summary, item.body) if found else ("", ""))
        assert (kept.guid, kept.title, kept.link) == (item.guid, item.title, item.link)
    assert whole.parsed.items == parsed.items
    assert prejudge.prejudged(parsed, None) is parsed  # no rules installed: parsed only


def test_the_spill_keeps_matches_and_only_the_text_still_needed():
    items = [_item("a", "matched summary"), _item("b", "unmatched summary"), _item("c", "not judged yet")]
    matches: list[prejudge.Matches] = [[], [], None]
    matches[0] = Relevance(load_config(CONFIG).topics).match(_parsed().items[0]) or []
    spill = ItemSpill()
    try:
        kept = spill.keep(ParsedFeed("Feed", items), matches, every_text=False)
        numbers = range(spill.first(kept.number), spill.first(kept.number) + kept.size)
        assert [item.summary for item, _, _ in spill.read(numbers)] == [
            "matched summary" if matches[0] else "",
            "",
            "not judged yet",
        ]
        assert [list(found) if found is not None else None for _, _, found in spill.read(numbers)] == matches
        again = spill.keep(ParsedFeed("Feed", items), matches)  # every text kept by default
        numbers = range(spill.first(again.number), spill.first(again.number) + again.size)
        assert [item.summary for item, _, _ in spill.read(numbers)] == [i.summary for i in items]
    finally:
        spill.close()


def _outcomes(report) -> list[tuple]:
    return sorted(
        (o.item.feed, o.item.guid, o.decision, tuple(o.topics), o.article_id is not None, o.reason)
        for o in report.outcomes
    )


def test_a_pooled_cycle_judges_relevance_in_its_workers_with_the_same_decisions(tmp_path, monkeypatch):
    main = os.getpid()
    in_main: list[str] = []
    match = Relevance.match

    def counted(self, item, topics=None):
        if os.getpid() == main:
            in_main.append(item.guid)
        return match(self, item, topics)

    monkeypatch.setattr(Relevance, "match", counted)
    bodies = sorted(FEEDS.glob("*.xml"))
    with FeedServer() as server:
        targets = [
            FeedTarget(name=f"feed-{n:02d}", url=server.static(f"/f{n}.xml", bodies[n % len(bodies)].read_bytes()))
            for n in range(POOL_THRESHOLD)
        ]
        reports = {}
        for workers in (2, 0):
            app = open_app(CONFIG, tmp_path / f"w{workers}.db")
            try:
                reports[workers] = asyncio.run(
                    run_cycle(app.store, app.processor, targets, app.policy, workers=workers, every_outcome=True)
                )
            finally:
                app.close()
            if workers == 2:
                assert in_main == []  # every item was judged where it was parsed
    assert in_main  # the cycle without workers judged in the main process
    pooled, alone = reports[2], reports[0]
    assert pooled.count("new") > 0
    assert _outcomes(pooled) == _outcomes(alone)
