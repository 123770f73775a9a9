"""What a subscriber reads: times in its zone, honest console headers, clipped feed text."""

import asyncio
import io
import json
from datetime import timedelta

import pytest
from test_delivery import CONFIG, CURBS, T0, story

from adapters.console import ConsoleAdapter
from adapters.discord import render_embeds
from adapters.slack import render_blocks
from botsvc.deliver.channel_controls import set_updates
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.digest import digest_from_json
from botsvc.deliver.outbox import Courier
from botsvc.deliver.subscriptions import parse_mode, subscribe
from botsvc.service.app import open_app


@pytest.fixture
def app(tmp_path):
    application = open_app(CONFIG, tmp_path / "v.db")
    application.processor.clock = lambda: T0
    yield application
    application.close()


def judge(app, *items):
    with app.store.atomic():
        app.processor.process(list(items))


def deliver(app, now):
    out = io.StringIO()
    queued = queue_digests(app.store, app.config, now)
    asyncio.run(Courier(app.store, {"console": ConsoleAdapter(out)}, clock=lambda: now).flush())
    return queued, out.getvalue()


def test_a_seoul_subscriber_reads_times_in_seoul_on_every_platform(app):
    subscribe(
        app.store,
        platform="console",
        channel="seoul",
        topic="japan-korea",
        mode=parse_mode("daily 09:00 Asia/Seoul"),
        now=T0 - timedelta(hours=1),
    )
    judge(app, story("a", CURBS))  # published 10:00 UTC = 19:00 in Seoul
    [queued], text = deliver(app, T0 + timedelta(hours=15))  # 09:00 the next morning in Seoul
    assert "22 Aug 2019 19:00 KST" in text and "UTC" not in text
    [row] = app.store.query("SELECT digest FROM outbox WHERE id = ?", (queued,))
    digest = digest_from_json(row["digest"])  # the zone travels in the outbox with the message
    assert json.loads(row["digest"])["zone"] == "Asia/Seoul"
    assert "22 Aug 2019 19:00 KST" in json.dumps(render_blocks(digest), ensure_ascii=False)
    assert "22 Aug 2019 19:00 KST" in render_embeds(digest)[0].embeds[0].description


def test_a_console_digest_of_updates_only_says_so(app):
    subscription, _ = subscribe(
        app.store,
        platform="console",
        channel="stdout",
        topic="japan-korea",
        mode=parse_mode("realtime"),
        now=T0 - timedelta(hours=1),
    )
    set_updates(app.store, [subscription], "channel")  # updates as lines in the channel's digest
    judge(app, story("a", CURBS))
    _, first = deliver(app, T0)
    assert ": 1 new event ==" in first
    judge(app, story("b", CURBS + " amid feud", source="Other", minutes=30))  # a rewrite: the event grows
    _, second = deliver(app, T0)
    assert ": 1 update ==" in second and "new event" not in second and "UPDATE [event" in second


def test_a_console_digest_clips_a_huge_title(app):
    subscribe(
        app.store,
        platform="console",
        channel="stdout",
        topic="japan-korea",
        mode=parse_mode("realtime"),
        now=T0 - timedelta(hours=1),
    )
    huge = CURBS + " " + "x" * 1_000_000
    judge(app, story("a", huge))
    _, text = deliver(app, T0)
    assert "[event " in text and len(text) < 2000
    assert max(map(len, text.splitlines())) <= 320 and "…" in text
