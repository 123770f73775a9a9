"""Event threads: later reports of an event go under its alert, which shows the running count.

Through the real command core (subscribe, quiet, updates), the real store and queue_digests,
and the real outbox Courier with the real Slack and Discord adapters against
tests/slackmock.py and tests/discordfake.py on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from botsvc.deliver.adapter import Adapter
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import Courier, RetryPolicy
from botsvc.models import CommandContext, FeedItem
from botsvc.service.app import App, open_app
from tests.discordfake import DiscordFake
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
T0 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)  # 19:00 in Seoul
CURBS = "Japan tightens export controls on chip materials bound for South Korea"
REWRITE = CURBS + " amid feud"
THIRD = CURBS + " as talks stall"
HOSTILE = CURBS + " <!channel> @everyone *now*"
DISCORD_CHANNEL = "123456789012345678"


def story(guid: str, title: str, source: str, minutes: int = 0) -> FeedItem:
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower()}.example/{guid}",
        title=title,
        summary="",
        published=T0 + timedelta(minutes=minutes),
        source=source,
    )


@dataclass
class Platform:
    """One platform's adapter against its loopback server, and how to read what it was sent."""

    name: str
    channel: str
    server: Any

    def adapter(self) -> Adapter:
        if self.name == "slack":
            return SlackAdapter("xoxb-test", base_url=self.server.base_url)
        return DiscordAdapter("test-token", self.server.api_url)

    def top_level(self) -> list[tuple[str, str]]:
        """(message id, its text) of each message in the channel itself, in order."""
        if self.name == "slack":
            return [(ts, _text(m)) for ts, m in self.server.messages.items() if not m["thread_ts"]]
        return [(i, _text(m)) for i, m in self.server.messages.items() if not m.get("message_reference")]

    def thread(self, parent: str) -> list[str]:
        if self.name == "slack":
            return [_text(m) for m in self.server.thread(parent)]
        return [_text(m) for m in self.server.replies_to(parent)]

    def text_of(self, message_id: str) -> str:
        return _text(self.server.messages[message_id])

    def delete(self, message_id: str) -> None:
        if self.name == "slack":
            self.server.delete(message_id)
        else:
            self.server.delete_message(message_id)


def _text(message: dict[str, Any]) -> str:
    """Everything a message shows (Slack blocks, or Discord content and embeds) as one string."""
    return json.dumps(
        [message.get("text"), message.get("blocks"), message.get("content"), message.get("embeds")],
        ensure_ascii=False,
    )


@pytest.fixture(params=["slack", "discord"])
def platform(request):
    server = SlackMock() if request.param == "slack" else DiscordFake()
    with server:
        yield Platform(request.param, "C0THREADS" if request.param == "slack" else DISCORD_CHANNEL, server)


class World:
    """A bot on one database: reopened on the same file to stand for a restart."""

    def __init__(self, db: Path, platform: Platform) -> None:
        self.db = db
        self.platform = platform
        self.clock = [T0]
        self.app = self._open()

    def _open(self) -> App:
        app = open_app(CONFIG, self.db)
        app.processor.clock = lambda: self.clock[0]
        return app

    def restart(self) -> None:
        self.app.close()
        self.app = self._open()

    def run(self, text: str, manager: bool = True):
        context = CommandContext(
            platform=self.platform.name, channel=self.platform.channel, workspace="T1", user="U1", can_manage=manager
        )
        return asyncio.run(self.app.commands().run(text, context))

    def judge(self, *items: FeedItem) -> None:
        with self.app.store.atomic():
            self.app.processor.process(list(items))

    def deliver(self, *, realtime: bool = True):
        """One delivery as the service runs it: queue what is due, flush with a fresh adapter."""
        queue_digests(self.app.store, self.app.config, self.clock[0], realtime=realtime)
        adapter = self.platform.adapter()

        async def go():
            try:
                courier = Courier(
                    self.app.store,
                    {self.platform.name: adapter},
                    policy=RetryPolicy(base_delay=0, tries_per_flush=2),
                    clock=lambda: self.clock[0],
                    sleep=lambda seconds: asyncio.sleep(0),
                )
                return await courier.flush()
            finally:
                await adapter.stop()

        return asyncio.run(go())

    def statuses(self) -> list[str]:
        return [row["status"] for row in self.app.store.query("SELECT status FROM outbox ORDER BY id")]


@pytest.fixture
def world(db_at, platform):
    world = World(db_at("d.db"), platform)
    assert world.run("subscribe").ok
    yield world
    world.app.close()


def alerted(world: World) -> str:
    """Deliver the first report of the event; the id of its one alert."""
    world.judge(story("a", CURBS, "Wire"))
    assert world.deliver().delivered == 1
    [(parent, text)] = world.platform.top_level()
    assert CURBS in text
    return parent


def test_a_later_report_goes_in_the_alerts_thread_and_the_alert_shows_the_count(world):
    assert world.run("quiet 03:00-04:00 Asia/Seoul").ok  # the channel's zone: times show in KST
    parent = alerted(world)
    assert "19:00 KST" in world.platform.text_of(parent)

    world.judge(story("b", REWRITE, "Other", minutes=30))
    report = world.deliver()
    assert report.delivered == 1 and report.failed == 0
    [reply] = world.platform.thread(parent)
    assert REWRITE in reply and "Other" in reply and "19:30 KST" in reply and "https://other.example/b" in reply
    assert "now 2 sources" in reply
    assert len(world.platform.top_level()) == 1  # nothing new at the top of the channel
    assert "+1 more source" in world.platform.text_of(parent)  # the alert was edited

    world.judge(story("c", THIRD, "Third", minutes=45))
    world.deliver()
    replies = world.platform.thread(parent)
    assert len(replies) == 2 and THIRD in replies[1] and "Third" in replies[1]
    assert "+2 more sources" in world.platform.text_of(parent)
    assert world.statuses() == ["delivered"] * 3


def test_a_thread_message_is_as_inert_as_an_alert(world):
    parent = alerted(world)
    world.judge(story("b", HOSTILE, "Other", minutes=30))
    world.deliver()
    [reply] = world.platform.thread(parent)
    if world.platform.name == "slack":
        assert "<!channel>" not in reply and "&lt;!channel&gt;" in reply and "＊now＊" in reply
        [call] = [c for c in world.platform.server.calls if c.body.get("thread_ts") == parent]
        assert call.body["unfurl_links"] in (False, "0", "false")
    else:
        assert "@\u200beveryone" in reply
        [call] = [c for c in world.platform.server.calls_to("message") if c.json.get("message_reference")]
        assert call.json["allowed_mentions"] == {"parse": []}
        assert call.json["message_reference"]["message_id"] == parent


def test_the_thread_still_works_after_a_restart(world):
    parent = alerted(world)
    world.restart()  # a new app (and a new adapter) on the same database
    world.judge(story("b", REWRITE, "Other", minutes=30))
    world.deliver()
    assert [REWRITE in text for text in world.platform.thread(parent)] == [True]
    assert "+1 more source" in world.platform.text_of(parent)


def test_updates_channel_posts_an_update_line_in_the_channel(world):
    parent = alerted(world)
    reply = world.run("updates channel")
    assert reply.ok and reply.ephemeral and "channel" in reply.title
    world.judge(story("b", REWRITE, "Other", minutes=30))
    world.deliver()
    assert world.platform.thread(parent) == []
    [_, (_, update)] = world.platform.top_level()
    assert "Update" in update and "2 sources" in update
    assert "+1 more source" not in world.platform.text_of(parent)  # not edited


def test_updates_none_sends_nothing_about_a_grown_event(world):
    parent = alerted(world)
    assert world.run("updates none").ok
    world.judge(story("b", REWRITE, "Other", minutes=30))
    report = world.deliver()
    assert report.delivered == 0 and world.platform.thread(parent) == [] and len(world.platform.top_level()) == 1
    assert world.run("updates thread").ok  # what was not sent does not come later
    assert world.deliver().delivered == 0


def test_a_deleted_alert_sends_the_update_in_the_channel_once(world, caplog):
    parent = alerted(world)
    world.platform.delete(parent)
    world.judge(story("b", REWRITE, "Other", minutes=30))
    with caplog.at_level(logging.INFO):
        report = world.deliver()
    assert report.delivered == 1 and report.failed == 0 and world.statuses() == ["delivered", "delivered"]
    [(_, update)] = world.platform.top_level()
    assert REWRITE in update and "first reported as" in update and CURBS in update
    assert world.deliver().delivered == 0  # never posted twice
    assert len(world.platform.top_level()) == 1
    if world.platform.name == "discord":  # the post in the channel carries a nonce of its own
        nonces = [c.json["nonce"] for c in world.platform.server.calls_to("message")]
        assert len(nonces) == len(set(nonces)) == 3


def test_an_edit_that_fails_never_holds_up_the_update(world, caplog):
    parent = alerted(world)
    if world.platform.name == "slack":
        world.platform.server.update_down = (500, {}, {"ok": False, "error": "internal_error"})
    else:
        world.platform.server.script("edit", (403, {}, {"message": "Missing Access", "code": 50001}))
    world.judge(story("b", REWRITE, "Other", minutes=30))
    with caplog.at_level(logging.WARNING):
        report = world.deliver()
    assert report.delivered == 1 and world.statuses() == ["delivered", "delivered"]
    assert [REWRITE in text for text in world.platform.thread(parent)] == [True]
    lines = [r.getMessage() for r in caplog.records if "could not edit the alert" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "+1 more source" not in world.platform.text_of(parent)


def test_a_digest_subscription_keeps_folding_updates_into_its_digest(world):
    assert world.run("subscribe hourly").ok
    world.judge(story("a", CURBS, "Wire"))
    world.clock[0] = T0 + timedelta(hours=1, minutes=1)
    assert world.deliver(realtime=False).delivered == 1
    world.judge(story("b", REWRITE, "Other", minutes=70))
    world.clock[0] = T0 + timedelta(hours=2, minutes=1)
    assert world.deliver(realtime=False).delivered == 1
    [(first, _), (_, second)] = world.platform.top_level()
    assert world.platform.thread(first) == [] and "Update" in second and "2 sources" in second


def test_the_updates_command_checks_its_words_and_who_asks(world):
    assert "thread" in world.run("updates").title  # the default
    before = world.app.store.query("SELECT id, updates FROM subscriptions")
    bad = world.run("updates sometimes")
    assert not bad.ok and "thread, channel, none" in bad.title and "updates thread" in bad.lines[0].text
    assert not world.run("updates thread channel").ok
    refused = world.run("updates none", manager=False)
    assert not refused.ok and "manage" in refused.title
    assert world.app.store.query("SELECT id, updates FROM subscriptions") == before
    assert world.run("updates CHANNEL").ok
    assert "(updates: channel)" in world.run("subscriptions").lines[0].text
    assert any("updates thread" in line.text for line in world.run("help").lines)


def test_the_console_has_no_threads_so_an_update_names_its_event(tmp_path):
    from io import StringIO

    from adapters.console import ConsoleAdapter
    from botsvc.deliver.subscriptions import parse_mode, subscribe

    app = open_app(CONFIG, tmp_path / "d.db")
    app.processor.clock = lambda: T0
    try:
        subscribe(app.store, platform="console", channel="stdout", topic="japan-korea", mode=parse_mode(None), now=T0)
        out = StringIO()
        for item in (story("a", CURBS, "Wire"), story("b", REWRITE, "Other", minutes=30)):
            with app.store.atomic():
                app.processor.process([item])
            queue_digests(app.store, app.config, T0)
            asyncio.run(Courier(app.store, {"console": ConsoleAdapter(out)}).flush())
        second = out.getvalue().split("UPDATE", 1)[1]
        assert "now 2 sources, first reported as: " + CURBS in second
        assert f"new: {REWRITE}" in second and "Other · 22 Aug 2019 10:30 UTC" in second
        assert "https://other.example/b" in second
    finally:
        app.close()
