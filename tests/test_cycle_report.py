"""A cycle's report lists the outcomes of the items it stored and counts the rest, unless every outcome
is asked for; its items wait for the judging on disk, and the judging decides as one call over all of them."""

import asyncio
import gc
from pathlib import Path

import pytest

from botsvc.ingest.parse import parse_feed
from botsvc.models import FeedItem
from botsvc.service import cycle as cycle_module
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, listed, run_cycle
from botsvc.service.intake import Intake
from botsvc.service.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"
CONFIG = ROOT / "examples" / "feeds.toml"
DECISIONS = ("new", "duplicate", "irrelevant")


def _bodies() -> dict[str, bytes]:
    """The example feeds by name, and the first one again under another name: its items are exact repeats there."""
    paths = sorted(FEEDS.glob("*.xml"))
    return {p.stem: p.read_bytes() for p in paths} | {"again": paths[0].read_bytes()}


def _targets(feed_server) -> list[FeedTarget]:
    return [FeedTarget(name=name, url=feed_server.static(f"/{name}.xml", body)) for name, body in _bodies().items()]


def _poll(path: Path, targets: list[FeedTarget], *, batched: bool = False, **options):
    app = open_app(CONFIG, path)

    async def in_turns():  # as `botsvc run` polls: a big cycle in several transactions
        intake = await Intake.open(app)
        try:
            return await run_cycle(intake.store, intake.processor, targets, app.policy, intake=intake, **options)
        finally:
            await intake.close()

    try:
        if batched:
            report = asyncio.run(in_turns())
        else:
            report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, workers=0, **options))
        metrics = Metrics(app.store)
        metrics.record_cycle(report)
        counted = {d: metrics.registry.get_sample_value("botsvc_items_total", {"decision": d}) for d in DECISIONS}
    finally:
        app.close()
    return report, counted


def _seen(outcomes) -> list[tuple]:
    return [(o.item.feed, o.item.guid, o.decision, o.reason, o.event_id, o.article_id, o.held_back) for o in outcomes]


@pytest.mark.parametrize("batched", [False, True], ids=["one-transaction", "in-turns"])
def test_a_report_lists_the_stored_items_and_counts_the_irrelevant_ones_and_the_repeats(
    tmp_path, feed_server, monkeypatch, batched
):
    monkeypatch.setattr(cycle_module, "BATCH_ITEMS", 10)
    targets = _targets(feed_server)
    default, default_metrics = _poll(tmp_path / "default.db", targets, batched=batched)
    every, every_metrics = _poll(tmp_path / "every.db", targets, batched=batched, every_outcome=True)

    assert every.count("irrelevant") > 0 and any(o.repeat for o in every.outcomes) and every.count("new") > 0
    assert every.items == len(every.outcomes) == default.items
    assert all(o.decision != "irrelevant" and not o.repeat for o in default.outcomes)
    assert len(default.outcomes) < len(every.outcomes)
    for short, whole in zip(default.feeds, every.feeds, strict=True):
        assert _seen(short.outcomes) == _seen(o for o in whole.outcomes if listed(o))
        assert short.counted == {
            d: n for d in DECISIONS if (n := sum(o.decision == d and not listed(o) for o in whole.outcomes))
        }
        assert whole.counted == {}
    for decision in DECISIONS:
        assert default.count(decision) == every.count(decision) == sum(o.decision == decision for o in every.outcomes)
    assert default.new_event_ids == every.new_event_ids
    default.finished = default.started + (every.finished - every.started)
    assert default.summary() == every.summary()
    assert default_metrics == every_metrics == {d: float(every.count(d)) for d in DECISIONS}


def test_waiting_items_are_not_held_in_memory_and_are_judged_as_one_call_would(tmp_path, feed_server, monkeypatch):
    targets = _targets(feed_server)
    alive: list[int] = []
    judge = cycle_module._judge_or_forget

    def items_alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, FeedItem))

    def counted(*args, **kwargs):
        alive.append(items_alive())
        return judge(*args, **kwargs)

    monkeypatch.setattr(cycle_module, "_judge_or_forget", counted)
    monkeypatch.setattr(cycle_module, "JUDGE_CHUNK", 7)  # chunks read back across feeds
    before = items_alive()  # (none of this cycle's)
    report, _ = _poll(tmp_path / "cycle.db", targets, every_outcome=True)
    assert alive == [before]  # every fetched item waited on disk

    # The reference: every item of every feed handed to the judging in one call.
    app = open_app(CONFIG, tmp_path / "one.db")
    try:
        parsed = [parse_feed(_bodies()[t.name], feed=t.name, url=t.url) for t in targets]
        with app.store.atomic():
            found = app.processor.process_many([(feed.items, None) for feed in parsed])
    finally:
        app.close()
    decided = [(o.item.guid, o.decision, o.reason, o.event_id, o.article_id) for feed in found for o in feed]
    assert [(o.item.guid, o.decision, o.reason, o.event_id, o.article_id) for o in report.outcomes] == decided
