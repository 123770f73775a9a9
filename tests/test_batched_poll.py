"""`botsvc run` stores a big feed in batches (botsvc/service/cycle.py), giving the write turn
back between them, with the same outcome as one transaction and nothing lost when stopped half-way."""

import asyncio
import time
from pathlib import Path

import pytest
from bigfeed import gsomia_feed, item_count

from botsvc.ingest.normalise import identity_keys
from botsvc.ingest.parse import parse_feed
from botsvc.service import cycle
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, _judge_batch, run_cycle
from botsvc.service.intake import Intake

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"
BATCH = 25
FEED = gsomia_feed(80_000)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(cycle, "BATCH_ITEMS", BATCH)


def held_back(app):
    rows = app.store.query("SELECT coalesce(held_back, 'alerted') AS h, count(*) AS n FROM events GROUP BY h")
    return {row["h"]: row["n"] for row in rows}


def decisions(report):
    return [(o.item.guid, o.decision, o.held_back) for o in report.outcomes]


def poll_in_one_transaction(url, directory):
    app = open_app(EXAMPLES, directory / "one.db")
    report = asyncio.run(run_cycle(app.store, app.processor, [FeedTarget("Big", url)], app.policy, every_outcome=True))
    try:
        return decisions(report), held_back(app)
    finally:
        app.close()


def test_a_big_feed_gives_the_turn_back_between_batches_and_ends_as_one_transaction_would(
    tmp_path, feed_server, small_batches
):
    url = feed_server.static("/big.xml", FEED)
    app = open_app(EXAMPLES, tmp_path / "b.db")

    async def main():
        intake = await Intake.open(app)
        try:
            target = [FeedTarget("Big", url)]
            polling = asyncio.create_task(
                run_cycle(intake.store, intake.processor, target, app.policy, intake=intake, every_outcome=True)
            )
            waits, judging = [], 0
            while not polling.done():
                started = time.monotonic()
                async with intake.turn:  # another writer, between two batches
                    waits.append(time.monotonic() - started)
                    judging = max(judging, held_back(app).get("judging", 0))
                await asyncio.sleep(0.005)
            return polling.result(), waits, judging
        finally:
            await intake.close()

    report, waits, judging = asyncio.run(main())
    assert len(report.outcomes) == item_count(FEED) > 3 * BATCH
    assert len(waits) >= 3 and judging > 0  # writers got in while earlier batches were stored
    assert app.store.feed_state("Big").last_success_at is not None
    assert "judging" not in held_back(app)
    assert (decisions(report), held_back(app)) == poll_in_one_transaction(url, tmp_path)
    app.close()


def test_a_poll_stopped_half_way_is_judged_again_and_its_held_events_are_counted(tmp_path, feed_server, small_batches):
    url = feed_server.static("/big.xml", FEED)
    app = open_app(EXAMPLES, tmp_path / "s.db")
    target = FeedTarget("Big", url)
    parsed = parse_feed(FEED, feed="Big", url=url)
    batch = [(item, identity_keys(item), None) for item in parsed.items[-BATCH:]]
    first = _judge_batch(app.store, app.processor, [(target, None, parsed)], [batch], app.processor.clock())[0]
    opened = [o.event_id for o in first if o.decision == "new"]
    assert opened and held_back(app) == {"judging": len(opened)}
    assert app.store.feed_state("Big").last_success_at is None  # no ETag: the next poll fetches it whole

    report = asyncio.run(run_cycle(app.store, app.processor, [target], app.policy))
    assert report.count("duplicate") >= BATCH  # the stored ones are seen
    assert "judging" not in held_back(app)
    rows = app.store.query(f"SELECT held_back FROM events WHERE id IN ({','.join('?' * len(opened))})", opened)
    assert {row["held_back"] for row in rows} == {"capped"}  # counted in the next digest, not lost
    app.close()
