"""A failing feed rests (exponential backoff with jitter, capped) and resumes after a success."""

import asyncio
import io
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from adapters.console import ConsoleAdapter
from botsvc.chat.commands import CommandCore
from botsvc.cli import cli
from botsvc.config import FeedConfig, load_config
from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.service.backoff import JITTER, MAX_DELAY, retry_delay
from botsvc.service.scheduler import Poller
from botsvc.store.store import parse_iso

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()


def test_delay_doubles_per_failure_within_jitter_and_is_capped():
    rng = random.Random(1)
    for failures in range(1, 8):
        delay = retry_delay(failures, 300, rng=rng)
        expected = min(MAX_DELAY, 300 * 2 ** (failures - 1))
        assert expected * (1 - JITTER) <= delay <= expected * (1 + JITTER)
    assert retry_delay(50, 300, rng=rng) <= MAX_DELAY * (1 + JITTER)
    assert retry_delay(0, 300) == 0
    assert len({round(retry_delay(3, 300), 6) for _ in range(20)}) > 1  # jittered


def test_failing_feed_rests_then_resumes_after_a_success(tmp_path, feed_server):
    calls = {"n": 0}

    def flaky(handler):
        calls["n"] += 1
        if calls["n"] <= 2:
            handler.send(503, b"down for maintenance", content_type="text/plain")
        else:
            handler.send(200, FEED, content_type="application/rss+xml")

    url = feed_server.route("/flaky.xml", flaky)
    feed = FeedConfig(name="Flaky", url=url, interval=60, language=None, topics=())
    config = replace(load_config(ROOT / "feeds.toml"), feeds=(feed,))
    app = open_app(ROOT / "feeds.toml", tmp_path / "b.db", config=config)
    now = [app.processor.clock()]
    app.processor.clock = lambda: now[0]
    poller = Poller(app, {"console": ConsoleAdapter(io.StringIO())})

    async def poll():
        return await poller.poll_feed(feed)

    asyncio.run(poll())
    first = app.store.feed_state("Flaky")
    assert first.consecutive_failures == 1 and first.retry_at
    rest = parse_iso(first.retry_at) - now[0]
    assert (
        timedelta(seconds=60 * (1 - JITTER) - 1) <= rest <= timedelta(seconds=60 * (1 + JITTER) + 1)
    )  # stored to the second

    assert asyncio.run(poll()) is None and calls["n"] == 1  # resting: no request

    # Operators see the failing feed, its error and when it is tried next.
    status = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "b.db")])
    assert status.exit_code == 0
    assert "failing feed: Flaky: 1 failure(s), last error HTTP 503" in status.output
    assert f"next attempt {first.retry_at}" in status.output
    operator = CommandContext(platform="console", channel="-", workspace="-", user="-", can_manage=True)
    feeds = asyncio.run(CommandCore(app.store, config).run("feeds", operator)).as_text()
    assert "Flaky: FAILING (1x)" in feeds and f"next attempt {first.retry_at}" in feeds

    now[0] += timedelta(seconds=80)
    asyncio.run(poll())
    second = app.store.feed_state("Flaky")
    assert calls["n"] == 2 and second.consecutive_failures == 2
    assert parse_iso(second.retry_at) - now[0] >= timedelta(seconds=120 * (1 - JITTER))

    now[0] += timedelta(seconds=200)
    asyncio.run(poll())
    healed = app.store.feed_state("Flaky")
    assert calls["n"] == 3 and healed.consecutive_failures == 0 and healed.retry_at is None
    assert healed.items_seen > 0
    app.close()
