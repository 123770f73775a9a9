"""What a queue worker keeps across its poll jobs: one fetch client, and its placement-lock waits."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from feedserver import FeedServer

from botsvc.ingest.fetch import make_client
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.service.scheduler import Poller
from botsvc.store.placement import LOCK_WAITS, LockWaits, placement_turn
from botsvc.store.store import open_store

CONFIG = Path(__file__).resolve().parents[1] / "feeds.toml"
RSS_BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


def test_cycles_given_a_client_fetch_through_it_and_leave_it_open(feed_server: FeedServer, tmp_path: Path) -> None:
    urls = [feed_server.static(f"/f{n}.xml", RSS_BODY) for n in range(2)]
    app = open_app(CONFIG, tmp_path / "bot.db")
    requested: list[str] = []

    async def go() -> None:
        client = make_client(app.policy)

        async def hook(url: str) -> None:
            requested.append(url)

        client.request_hooks.append(hook)
        try:
            for number, url in enumerate(urls):  # two jobs, one client
                target = FeedTarget(f"feed-{number}", url)
                report = await run_cycle(app.store, app.processor, [target], app.policy, workers=0, client=client)
                assert [feed.status for feed in report.feeds] == ["ok"]
                assert not client.is_closed
        finally:
            await client.aclose()

    try:
        asyncio.run(go())
    finally:
        app.close()
    assert requested == urls


def test_a_pollers_client_is_used_by_each_poll(feed_server: FeedServer, tmp_path: Path) -> None:
    app = open_app(CONFIG, tmp_path / "bot.db")
    feeds = [  # two configured feeds, served on loopback instead
        replace(feed, url=feed_server.static(f"/f{n}.xml", RSS_BODY)) for n, feed in enumerate(app.feeds()[:2])
    ]
    requested: list[str] = []

    async def go() -> None:
        poller = Poller(app, {})
        client = poller.client = make_client(app.policy)

        async def hook(url: str) -> None:
            requested.append(url)

        client.request_hooks.append(hook)
        try:
            for feed in feeds:
                await poller.poll_feed(feed)
            assert not client.is_closed
        finally:
            await client.aclose()

    try:
        asyncio.run(go())
    finally:
        app.close()
    assert requested == [feed.url for feed in feeds]


def test_lock_waits_keep_the_latest_and_give_percentiles() -> None:
    waits = LockWaits(keep=100)
    for n in range(1, 201):
        waits.record(n / 1000)
    assert waits.count == 200
    assert len(waits.seconds) == 100  # 101..200 ms kept
    assert waits.percentile(0.5) == 0.150
    assert waits.percentile(0.99) == 0.199
    assert waits.percentile(1.0) == 0.200
    assert LockWaits().percentile(0.99) == 0.0
    assert "2 wait(s)" in LockWaits(count=2).summary()


def test_the_postgres_placement_turn_records_its_wait(postgres_url: str) -> None:
    store = open_store(postgres_url)
    before = LOCK_WAITS.count
    try:
        with placement_turn(store):
            pass
    finally:
        store.close()
    assert LOCK_WAITS.count == before + 1
    assert LOCK_WAITS.seconds[-1] >= 0


def test_a_poll_job_finds_a_configured_feed_without_a_query(tmp_path: Path) -> None:
    from botsvc.service.jobs import QueueSettings
    from botsvc.service.queueworker import QueueWorker
    from botsvc.store.feedlist import add_feed

    app = open_app(CONFIG, tmp_path / "bot.db")
    try:
        add_feed(app.store, "from chat", "http://127.0.0.1:9/feed.xml", added_by="U1")
        add_feed(app.store, app.config.feeds[0].name, "http://127.0.0.1:9/other.xml", added_by="U1")
        worker = QueueWorker(app, {}, None, QueueSettings(url="postgresql://unused"), None)  # type: ignore[arg-type]
        statements: list[str] = []
        app.store.db.conn.set_trace_callback(statements.append)
        configured = app.config.feeds[0]
        assert worker._feed(configured.name) == configured  # the configuration's, not the chat row of that name
        assert statements == []
        found = worker._feed("from chat")
        assert found is not None and found.url == "http://127.0.0.1:9/feed.xml"
        assert worker._feed("gone") is None
        app.store.db.conn.set_trace_callback(None)
    finally:
        app.close()


def test_a_poll_job_of_a_disabled_feed_finds_nothing(tmp_path: Path) -> None:
    from botsvc.service.jobs import QueueSettings
    from botsvc.service.queueworker import QueueWorker

    app = open_app(CONFIG, tmp_path / "bot.db")
    try:
        first = app.config.feeds[0]
        app.config = replace(app.config, feeds=(replace(first, enabled=False), *app.config.feeds[1:]))
        worker = QueueWorker(app, {}, None, QueueSettings(url="postgresql://unused"), None)  # type: ignore[arg-type]
        assert worker._feed(first.name) is None
        assert worker._feed(app.config.feeds[1].name) == app.config.feeds[1]
    finally:
        app.close()
