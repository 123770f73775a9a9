"""Moments stored while the host's clock ran a year ahead do not stop anything once it is corrected."""

import asyncio
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from adapters.console import ConsoleAdapter
from botsvc.config import FeedConfig, load_config
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import pending
from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.service.backoff import LONGEST_DELAY
from botsvc.service.scheduler import Poller
from botsvc.store.store import iso, parse_iso, utcnow

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()
AHEAD = timedelta(days=365)


def room(channel):
    return CommandContext(platform="console", channel=channel, user="ops", can_manage=True)


def test_a_feed_and_a_channel_written_a_year_ahead_work_again_when_the_clock_is_corrected(tmp_path, feed_server):
    up = {"ok": False}

    def flaky(handler):
        if up["ok"]:
            handler.send(200, FEED, content_type="application/rss+xml")
        else:
            handler.send(503, b"down", content_type="text/plain")

    feed = FeedConfig(name="Wire", url=feed_server.route("/wire.xml", flaky), interval=60, language=None, topics=())
    config = load_config(ROOT / "feeds.toml")
    # The sample stories are from 2019: alert them although this is the feed's first poll.
    config = replace(config, feeds=(feed,), alerts=replace(config.alerts, backfill_max_age=None))
    app = open_app(ROOT / "feeds.toml", tmp_path / "c.db", config=config)
    real = utcnow()
    now = [real + AHEAD]
    app.processor.clock = lambda: now[0]
    out = io.StringIO()
    poller = Poller(app, {"console": ConsoleAdapter(out)})

    # A year ahead: the feed fails and rests, a channel subscribes.
    asyncio.run(poller.poll_feed(feed))
    assert parse_iso(app.store.feed_state("Wire").retry_at) > real + AHEAD
    assert asyncio.run(app.commands().run("subscribe", room("news"))).ok

    # Corrected: the feed is tried at once, and the channel is told what it finds.
    now[0] = real
    up["ok"] = True
    assert asyncio.run(poller.poll_feed(feed)) is not None
    assert len(feed_server.requests_to("/wire.xml")) == 2
    assert app.store.feed_state("Wire").consecutive_failures == 0
    assert "[event " in out.getvalue()
    app.close()


def test_a_failing_feeds_next_attempt_is_never_beyond_the_cap_from_now(tmp_path, feed_server):
    feed = FeedConfig(
        name="Down",
        url=feed_server.route("/down.xml", lambda h: h.send(500, b"x")),
        interval=86400,
        language=None,
        topics=(),
    )
    config = load_config(ROOT / "feeds.toml")
    # The sample stories are from 2019: alert them although this is the feed's first poll.
    config = replace(config, feeds=(feed,), alerts=replace(config.alerts, backfill_max_age=None))
    app = open_app(ROOT / "feeds.toml", tmp_path / "d.db", config=config)
    now = [utcnow()]
    app.processor.clock = lambda: now[0]
    poller = Poller(app, {})
    for _ in range(6):
        asyncio.run(poller.poll_feed(feed))
        state = app.store.feed_state("Down")
        assert parse_iso(state.retry_at) - now[0] <= timedelta(seconds=LONGEST_DELAY)
        now[0] = parse_iso(state.retry_at) + timedelta(seconds=1)
    assert state.consecutive_failures == 6
    app.close()


def test_a_scheduled_digest_and_a_deferred_message_dated_ahead_are_not_skipped(tmp_path):
    app = open_app(ROOT / "feeds.toml", tmp_path / "s.db")
    real = utcnow().replace(minute=30, second=0, microsecond=0)
    app.processor.clock = lambda: real + AHEAD
    assert asyncio.run(app.commands().run("subscribe hourly", room("hourly"))).ok
    assert queue_digests(app.store, app.config, real + AHEAD + timedelta(hours=1)) == []  # nothing to tell yet
    [row] = app.store.query("SELECT last_digest_at FROM subscriptions")
    assert parse_iso(row["last_digest_at"]) > real + AHEAD

    # Corrected clock: the next hour's digest comes, and a message deferred a year is sent.
    app.processor.clock = lambda: real
    from tests.test_delivery import CURBS, story

    with app.store.atomic():
        app.processor.process([replace(story("a", CURBS), published=real)])
    assert queue_digests(app.store, app.config, real) == []  # not due before the hour
    [queued] = queue_digests(app.store, app.config, real + timedelta(hours=1))
    app.store.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", (iso(real + AHEAD), queued))
    out = io.StringIO()
    app.processor.clock = lambda: real + timedelta(hours=1)
    report = asyncio.run(app.deliver({"console": ConsoleAdapter(out)}, realtime=False))
    assert report.delivered == 1 and CURBS in out.getvalue() and pending(app.store) == []
    app.close()
