"""``/news`` through the real slack-bolt app: signed slash-command requests over HTTP on
127.0.0.1, acks and slow replies, who may manage, reply rendering, and Socket Mode.

Requests are signed here exactly as Slack signs them (HMAC-SHA256 of ``v0:{ts}:{body}``),
without Bolt's verifier, so the tests show that the two agree. Web API calls (auth.test,
users.info) and response_url posts go to the loopback Slack mock (tests/slackmock.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from slackenv import clear_slack_environment
from slackmock import SlackMock

from adapters.slack import MAX_BLOCKS, MAX_TEXT, WORKING, SlackAdapter, render_reply
from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store.seed import seed_archive
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_environment(monkeypatch)


@pytest.fixture
def slack() -> Iterator[SlackMock]:
    with SlackMock() as mock:
        yield mock


class FakeCore:
    """Stands in for CommandCore.run: records what it was given, answers ``reply``."""

    def __init__(
        self, reply: CommandReply | None = None, *, delay: float = 0.0, error: Exception | None = None
    ) -> None:
        self.reply = reply or CommandReply("Done.", (ReplyLine("one line"),))
        self.delay = delay
        self.error = error
        self.calls: list[tuple[str, CommandContext]] = []

    async def __call__(self, text: str, context: CommandContext) -> CommandReply:
        self.calls.append((text, context))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.reply


def adapter_for(slack: SlackMock, handler: Any, **settings: Any) -> SlackAdapter:
    settings.setdefault("signing_secret", SECRET)
    adapter = SlackAdapter(TOKEN, base_url=slack.base_url, **settings)
    adapter.attach_commands(handler)
    return adapter


TRIGGERS = itertools.count(1)


def slash_body(slack: SlackMock, text: str, *, user: str = "U1", channel: str = "C1", team: str = "T1") -> str:
    """A slash-command request body as Slack sends it (form-encoded), with a new trigger_id
    each time as Slack's (two bodies are never the same, even within one second)."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "news",
            "user_id": user,
            "user_name": "someone",
            "command": "/news",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": slack.hook_url(f"commands/{team}/{channel}/{user}"),
            "trigger_id": f"{next(TRIGGERS)}.2.3",
        }
    )


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature, computed independently of slack_sdk."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


class Served:
    """The adapter started, with its http_routes() on an aiohttp server at 127.0.0.1:<random>."""

    def __init__(self, adapter: SlackAdapter, slack: SlackMock) -> None:
        self.adapter = adapter
        self.slack = slack
        self.url = ""

    async def __aenter__(self) -> Served:
        await self.adapter.start()
        app = web.Application()
        for method, path, handler in self.adapter.http_routes():
            app.router.add_route(method, path, handler)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/slack/events"
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.session.close()
        await self.runner.cleanup()
        await self.adapter.stop()

    async def command(self, text: str, *, age: float = 0, secret: str = SECRET, **fields: str) -> tuple[int, Any]:
        """POST one signed slash command; (status, JSON body or text)."""
        body = slash_body(self.slack, text, **fields)
        timestamp = str(int(time.time() - age))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(secret, timestamp, body),
        }
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            raw = await response.text()
            if response.content_type == "application/json":
                return response.status, json.loads(raw)
            return response.status, raw


def exchange(slack: SlackMock, adapter: SlackAdapter, *texts: str, **fields: str) -> list[tuple[int, Any]]:
    """Serve ``adapter`` and send each command text in turn."""

    async def go() -> list[tuple[int, Any]]:
        async with Served(adapter, slack) as server:
            return [await server.command(text, **fields) for text in texts]

    return asyncio.run(go())


def texts(payload: dict[str, Any]) -> list[str]:
    return [payload["text"]] + [block["text"]["text"] for block in payload.get("blocks", [])]


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --- HTTP mode: verification, context, reply ------------------------------------------


def test_a_signed_command_is_answered_in_the_ack_with_the_callers_context(slack: SlackMock) -> None:
    core = FakeCore(CommandReply("Events matching 'gsomia':", (ReplyLine("#1 Pact ends · 22 Aug 2019"),)))
    [(status, body)] = exchange(slack, adapter_for(slack, core), "search gsomia", user="U7", channel="C42", team="T9")

    assert status == 200
    assert body == {
        "response_type": "ephemeral",
        "text": "Events matching 'gsomia':",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Events matching 'gsomia':*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "#1 Pact ends · 22 Aug 2019"}},
        ],
    }
    [(text, context)] = core.calls
    assert text == "search gsomia"
    assert (context.platform, context.channel, context.workspace, context.user) == ("slack", "C42", "T9", "U7")
    # Bolt's own Web API calls went to the configured base URL with the bot token.
    [auth] = [call for call in slack.calls if call.path == "/api/auth.test"]
    assert auth.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_wrong_signature_is_refused_with_401_and_never_reaches_the_handler(slack: SlackMock) -> None:
    core = FakeCore()

    async def go() -> list[tuple[int, Any]]:
        async with Served(adapter_for(slack, core), slack) as server:
            return [
                await server.command("help", secret="not-the-secret"),
                await server.command("help", secret=SECRET[:-1] + "x"),
            ]

    assert [status for status, _ in asyncio.run(go())] == [401, 401]
    assert core.calls == []


def test_a_timestamp_six_minutes_old_is_refused_even_when_correctly_signed(slack: SlackMock) -> None:
    core = FakeCore()

    async def go() -> list[tuple[int, Any]]:
        async with Served(adapter_for(slack, core), slack) as server:
            return [await server.command("help", age=6 * 60), await server.command("help", age=4 * 60)]

    (old, _), (recent, _) = asyncio.run(go())
    assert (old, recent) == (401, 200)
    assert [text for text, _ in core.calls] == ["help"]  # only the recent one


def test_with_managers_only_the_listed_users_manage_and_nobody_else(slack: SlackMock) -> None:
    slack.users.update({"U2": {"is_admin": True, "is_owner": False, "is_primary_owner": False}})
    core = FakeCore()
    adapter = adapter_for(slack, core, managers=("U1", "U3"), managers_only=True)
    exchange(slack, adapter, "subscribe", user="U1")
    exchange(slack, adapter, "subscribe", user="U2")
    assert [(ctx.user, ctx.can_manage) for _, ctx in core.calls] == [("U1", True), ("U2", False)]
    assert not [call for call in slack.calls if call.path == "/api/users.info"]  # the list decides alone


def test_listed_managers_add_to_the_workspace_admins(slack: SlackMock) -> None:
    slack.users.update(
        {
            "UADMIN": {"is_admin": True, "is_owner": False, "is_primary_owner": False},
            "UPLAIN": {"is_admin": False, "is_owner": False, "is_primary_owner": False},
        }
    )
    core = FakeCore()
    adapter = adapter_for(slack, core, managers=("U1",))
    for user in ("U1", "UADMIN", "UPLAIN"):
        exchange(slack, adapter, "subscribe", user=user)
    exchange(slack, adapter, "search gsomia", user="UPLAIN")
    assert [(ctx.user, ctx.can_manage) for _, ctx in core.calls] == [
        ("U1", True),
        ("UADMIN", True),
        ("UPLAIN", False),
        ("UPLAIN", False),
    ]
    asked = [call.body["user"] for call in slack.calls if call.path == "/api/users.info"]
    assert asked == ["UADMIN", "UPLAIN"]  # a listed user and a read command cost no lookup


def test_without_a_list_workspace_admins_and_owners_manage_asked_of_users_info(slack: SlackMock) -> None:
    slack.users.update(
        {
            "UADMIN": {"is_admin": True, "is_owner": False, "is_primary_owner": False},
            "UOWNER": {"is_admin": False, "is_owner": True, "is_primary_owner": False},
            "UPLAIN": {"is_admin": False, "is_owner": False, "is_primary_owner": False},
        }
    )
    core = FakeCore()
    adapter = adapter_for(slack, core)  # managers=None: admins and owners

    async def go() -> None:
        async with Served(adapter, slack) as server:
            for user in ("UADMIN", "UOWNER", "UPLAIN", "UGONE", "UADMIN"):
                await server.command("subscribe", user=user)

    asyncio.run(go())
    assert [(ctx.user, ctx.can_manage) for _, ctx in core.calls] == [
        ("UADMIN", True),
        ("UOWNER", True),
        ("UPLAIN", False),
        ("UGONE", False),
        ("UADMIN", True),
    ]
    asked = [call.body["user"] for call in slack.calls if call.path == "/api/users.info"]
    assert asked == ["UADMIN", "UOWNER", "UPLAIN", "UGONE"]  # the second UADMIN came from the cache
    assert all(
        call.headers["authorization"] == f"Bearer {TOKEN}" for call in slack.calls if call.path == "/api/users.info"
    )


def test_a_slow_answer_is_acked_at_once_and_posted_to_the_response_url(slack: SlackMock) -> None:
    core = FakeCore(
        CommandReply("Added feed 'Wire <!here>'", (ReplyLine("polled from now on"),), ephemeral=False), delay=2.5
    )
    adapter = adapter_for(slack, core, managers=("U1",))

    async def go() -> tuple[int, Any, float]:
        async with Served(adapter, slack) as server:
            started = time.monotonic()
            status, body = await server.command("feed add https://example.com/feed.xml")
            acked = time.monotonic() - started
            await wait_for(lambda: any(call.path.startswith("/hooks/") for call in slack.calls))
            return status, body, acked

    status, body, acked = asyncio.run(go())
    assert status == 200 and acked < 2.5  # answered before the handler finished (Slack allows 3 s)
    assert body["response_type"] == "ephemeral" and WORKING in body["text"] and "Working on it" in body["text"]
    [posted] = [call for call in slack.calls if call.path.startswith("/hooks/")]
    assert posted.path == "/hooks/commands/T1/C1/U1"  # the request's own response_url
    assert posted.body["response_type"] == "in_channel"
    assert posted.body["text"] == "Added feed 'Wire &lt;!here&gt;'"
    assert posted.body["blocks"][1]["text"]["text"] == "polled from now on"


def test_an_answer_ready_within_two_seconds_goes_in_the_ack_itself(slack: SlackMock) -> None:
    core = FakeCore(CommandReply("Quick."), delay=0.3)
    [(status, body)] = exchange(slack, adapter_for(slack, core), "help")
    assert status == 200 and body["text"] == "Quick." and WORKING not in json.dumps(body)
    assert not [call for call in slack.calls if call.path.startswith("/hooks/")]


def test_untrusted_text_in_a_reply_is_escaped(slack: SlackMock) -> None:
    core = FakeCore(
        CommandReply(
            "<!channel> *x* wins",
            (
                ReplyLine("<@U123> _y_ `z` ~w~ <https://evil.example|click>", "https://example.com/a|b>c"),
                ReplyLine("> quoted"),
            ),
        )
    )
    [(status, body)] = exchange(slack, adapter_for(slack, core), "search x")
    assert status == 200
    everything = "\n".join(texts(body))
    for raw in ("<!channel>", "<@U123>", "*x*", "_y_", "`z`", "~w~", "<https://evil", "b>c"):
        assert raw not in everything
    assert body["text"] == "&lt;!channel&gt; ＊x＊ wins"
    assert body["blocks"][0]["text"]["text"] == "*&lt;!channel&gt; ＊x＊ wins*"
    linked, quoted = body["blocks"][1]["text"]["text"].split("\n")
    assert linked == (
        "<https://example.com/a%7Cb%3Ec|&lt;@U123&gt; ＿y＿ ｀z｀ ～w～ &lt;https://evil.example|click&gt;>"
    )
    assert quoted == "＞ quoted"  # not a block quote


def test_a_shared_answer_is_shown_to_the_channel(slack: SlackMock) -> None:
    core = FakeCore(CommandReply("Latest events (world):", (ReplyLine("#1 x"),), ephemeral=False))
    [(status, body)] = exchange(slack, adapter_for(slack, core), "recent share")
    assert status == 200 and body["response_type"] == "in_channel"
    assert core.calls[0][0] == "recent share"


def test_a_failing_handler_gets_an_apology_not_a_traceback(slack: SlackMock) -> None:
    core = FakeCore(error=RuntimeError("database is locked at /srv/secret/path"))
    [(status, body)] = exchange(slack, adapter_for(slack, core), "recent")
    assert status == 200 and body["response_type"] == "ephemeral"
    assert body["text"].startswith("Sorry, that failed on our side")
    assert "Traceback" not in json.dumps(body) and "secret" not in json.dumps(body)


def test_the_real_command_core_answers_search_gsomia_with_the_seeded_event(slack: SlackMock, tmp_path: Path) -> None:
    store = open_store(tmp_path / "bot.db")
    try:
        assert seed_archive(store) > 0
        core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
        adapter = adapter_for(slack, core.run, managers=("UBOSS",))
        (status, found), (_, shared), (_, refused) = exchange(
            slack, adapter, "search gsomia", "search gsomia share", "feed remove Anything"
        )
    finally:
        store.close()
    assert status == 200 and found["response_type"] == "ephemeral"
    assert found["text"].startswith("Events matching 'gsomia'")
    [line] = [text for text in texts(found)[2:] if "GSOMIA" in text]
    assert line.startswith("#") and "archive" in line
    assert shared["response_type"] == "in_channel" and "GSOMIA" in json.dumps(shared)
    assert refused["text"].startswith("Sorry, only people who manage this channel")  # U1 is not UBOSS


def test_channel_controls_through_slack_and_the_real_core(slack: SlackMock, tmp_path: Path) -> None:
    store = open_store(tmp_path / "bot.db")
    try:
        core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
        boss = adapter_for(slack, core.run, managers=("UBOSS",))
        exchange(slack, boss, "subscribe", user="UBOSS")
        [(_, filtered), (_, bad)] = exchange(slack, boss, "filter add gsomia -boycott", "filter add 日", user="UBOSS")
        [(_, refused)] = exchange(slack, boss, "pause")  # U1 does not manage the channel
        [sub] = all_subscriptions(store)
        words = store.query("SELECT word, kind FROM subscription_filters ORDER BY word")
    finally:
        store.close()
    assert filtered["response_type"] == "ephemeral" and filtered["text"].startswith("Added gsomia -boycott.")
    assert refused["text"].startswith("Sorry, only people who manage this channel")
    assert bad["text"].startswith("'日' is a single character")
    assert not sub.muted and [(w["word"], w["kind"]) for w in words] == [("boycott", "exclude"), ("gsomia", "include")]


# --- when routes exist -----------------------------------------------------------------


def test_routes_only_with_commands_attached_and_a_signing_secret(slack: SlackMock) -> None:
    plain = SlackAdapter(TOKEN, base_url=slack.base_url, signing_secret=SECRET)
    assert plain.http_routes() == []  # no handler attached
    plain.attach_commands(FakeCore())
    [(method, path, _)] = plain.http_routes()
    assert (method, path) == ("POST", "/slack/events")
    for settings in ({}, {"app_token": "xapp-1-test"}):
        adapter = SlackAdapter(TOKEN, base_url=slack.base_url, **settings)
        adapter.attach_commands(FakeCore())
        assert adapter.http_routes() == []


# --- rendering limits ------------------------------------------------------------------


def test_a_long_reply_fits_slacks_limits_and_says_how_many_more() -> None:
    lines = tuple(ReplyLine(f"#{n} " + "word " * 300, f"https://example.com/{n}") for n in range(400))
    payload = render_reply(CommandReply("T" * 5000, lines))
    assert len(payload["blocks"]) <= MAX_BLOCKS
    assert all(len(text) <= MAX_TEXT for text in texts(payload))
    shown = [line for block in payload["blocks"][1:] for line in block["text"]["text"].split("\n")]
    *kept, last = shown
    assert last.startswith("…and ") and last.endswith(" more")
    assert len(kept) + int(last.split()[1]) == 400  # nothing silently dropped
    assert kept[0].startswith("<https://example.com/0|#0 word")


def test_a_link_that_is_not_http_is_shown_inert_on_its_own_line() -> None:
    payload = render_reply(CommandReply("t", (ReplyLine("see", "javascript:alert(1)<x>"),)))
    assert payload["blocks"][1]["text"]["text"] == "see\njavascript:alert(1)&lt;x&gt;"


# --- Socket Mode -----------------------------------------------------------------------


def test_socket_mode_takes_a_command_without_a_signing_secret(slack: SlackMock) -> None:
    core = FakeCore(CommandReply("Over the socket."))
    adapter = adapter_for(slack, core, signing_secret=None, app_token="xapp-1-test", managers=("U1",))
    assert adapter.http_routes() == []
    envelope = {
        "envelope_id": "env-1",
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "command": "/news",
            "text": "help",
            "response_url": slack.hook_url("commands/x"),
            "trigger_id": "1.2.3",
        },
    }

    async def go() -> None:
        await adapter.start()
        try:
            await wait_for(lambda: slack.socket_clients == 1)
            slack.push(envelope)
            await wait_for(lambda: any(m.get("envelope_id") == "env-1" for m in slack.socket_received))
        finally:
            await adapter.stop()

    asyncio.run(go())
    [opened] = [call for call in slack.calls if call.path == "/api/apps.connections.open"]
    assert opened.headers["authorization"] == "Bearer xapp-1-test"
    [answer] = [m for m in slack.socket_received if m.get("envelope_id") == "env-1"]
    assert answer["payload"]["response_type"] == "ephemeral" and answer["payload"]["text"] == "Over the socket."
    [(text, context)] = core.calls
    assert text == "help" and context.can_manage and context.channel == "C1"


# --- command text as Slack sends it ----------------------------------------------------


def test_feed_add_through_slack_stores_the_url_the_user_typed_and_a_clean_name(
    slack: SlackMock, tmp_path: Path, feed_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    feed = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()
    url = feed_server.static("/rss.xml", feed) + "?section=world&lang=en"
    second = feed_server.static("/two.xml", feed) + "?a=1&b=2"
    store = open_store(tmp_path / "bot.db")
    try:
        core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
        adapter = adapter_for(slack, core.run, managers=("U1",))
        escaped = url.replace("&", "&amp;")
        (_, added), (_, labelled), (_, look_alike) = exchange(
            slack,
            adapter,
            f"feed add <{escaped}> Pacific\u200b  Wire\u202e",  # Slack wraps the link and escapes the &
            f"feed add <{second.replace('&', '&amp;')}|two.xml> R&amp;D &lt;Daily&gt;",
            f"feed add <{escaped.replace('rss.xml', 'rss.xml#x')}> Pacific Wire\u200b",
        )
        rows = {row["name"]: row["url"] for row in store.query("SELECT name, url FROM feeds WHERE origin = 'chat'")}
    finally:
        store.close()
    assert added["text"].startswith("Added feed 'Pacific Wire'"), added["text"]
    assert labelled["text"].startswith("Added feed 'R&amp;D &lt;Daily&gt;'")  # escaped again for display
    assert rows["Pacific Wire"] == url and rows["R&D <Daily>"] == second
    assert "is taken" in look_alike["text"]  # the same name with a zero-width space is the same name
