"""What anyone on the internet can send to ``POST /slack/events`` costs little: through
the real slack-bolt app on 127.0.0.1, unsigned, oversized, malformed and replayed
requests are refused with a 4xx, never reach the command handler, and cost at most one
short, escaped log line per interval.

The log is read as an operator would get it: the root logger is set up by
``botsvc.service.logs.setup`` (as ``botsvc run`` does) writing to a string.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slackenv import clear_slack_environment
from slackmock import SlackMock
from test_slack_commands import SECRET, FakeCore, Served, adapter_for, slack_signature, slash_body

from adapters.slack import gate
from adapters.slack.gate import MAX_BODY, WINDOW, ReplayMemory
from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.service import logs
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MB = 1024 * 1024
SHORT_LINE = 200
"""Bytes a refusal's log line may take."""
FORGED = "\n2026-01-01 00:00:00,000 INFO botsvc: forged line"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_environment(monkeypatch)


@pytest.fixture
def slack() -> Iterator[SlackMock]:
    with SlackMock() as mock:
        yield mock


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The service's log at INFO, as text lines in a string."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
    yield stream
    root.handlers[:], root.level = saved


def headers(body: bytes | str, *, timestamp: str | None = None, secret: str | None = SECRET) -> dict[str, str]:
    """Slack's headers for ``body``: signed with ``secret`` (None: no signature header)."""
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    signed = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp}
    if secret is not None:
        raw = body.encode() if isinstance(body, str) else body
        digest = hmac.new(secret.encode(), b"v0:%s:%s" % (timestamp.encode(), raw), hashlib.sha256).hexdigest()
        signed["X-Slack-Signature"] = f"v0={digest}"
    return signed


async def post(server: Served, body: Any, request_headers: dict[str, str]) -> tuple[int, Any]:
    """(status, JSON or text answer); status 0 if the server hung up before answering."""
    try:
        async with server.session.post(server.url, data=body, headers=request_headers) as response:
            raw = await response.text()
            return response.status, json.loads(raw) if response.content_type == "application/json" else raw
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        return 0, None


def serve(slack: SlackMock, core: Any, scenario: Any, **settings: Any) -> Any:
    async def go() -> Any:
        async with Served(adapter_for(slack, core, **settings), slack) as server:
            return await scenario(server)

    return asyncio.run(go())


def refusals(log: io.StringIO) -> list[str]:
    return [line for line in log.getvalue().splitlines() if "adapters.slack.gate" in line]


# --- unsigned requests: cheap ----------------------------------------------------------


def test_a_one_megabyte_unsigned_request_is_refused_and_logged_in_one_short_line(slack, log) -> None:
    core = FakeCore()
    body = ("text=" + FORGED + "x" * MB).encode()

    async def scenario(server: Served) -> list[int]:
        sizes = [len(log.getvalue())]
        answers = []
        for request_headers in (headers(body, secret="wrong"), headers(body, secret=None)):
            status, answer = await post(server, body, request_headers)
            answers.append(status)
            sizes.append(len(log.getvalue()))
        return answers + [b - a for a, b in zip(sizes, sizes[1:])]

    too_large, unsigned, grown, grown_again = serve(slack, core, scenario)
    assert (too_large, unsigned) == (413, 401)
    assert 0 < grown <= SHORT_LINE and grown_again == 0  # the second refusal fell in the same minute
    line, at_stop = refusals(log)
    assert line.endswith("refused a request to /slack/events from 127.0.0.1: body over 64 KiB (HTTP 413)")
    assert at_stop.endswith("1 more refused Slack requests not logged")
    assert "forged" not in log.getvalue() and "xxxx" not in log.getvalue()
    assert core.calls == []


def test_a_body_over_the_cap_is_refused_without_a_content_length_too(slack, log) -> None:
    """Chunked: no length announced, so the gate reads up to the cap and stops there."""
    core = FakeCore()
    body = slash_body(slack, "help").encode() + b"&pad=" + b"x" * MAX_BODY

    async def chunks() -> Any:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    async def scenario(server: Served) -> tuple[int, Any]:
        return await post(server, chunks(), headers(body))  # correctly signed, still too large

    status, answer = serve(slack, core, scenario)
    assert status in (413, 0)  # 0: the server closed before the client finished sending
    assert core.calls == []
    [line] = refusals(log)
    assert "body over 64 KiB (HTTP 413)" in line


def test_many_bad_requests_log_one_line_a_minute_with_a_count_of_the_others(slack, log) -> None:
    core = FakeCore()

    async def scenario(server: Served) -> list[int]:
        statuses = []
        for n in range(150):
            body = slash_body(slack, f"subscribe {n}")
            statuses.append((await post(server, body, headers(body, secret="not-the-secret")))[0])
        assert len(refusals(log)) == 1
        server.adapter._gate.refusals.throttle.interval = 0.1  # what a minute later looks like
        await asyncio.sleep(0.15)
        body = slash_body(slack, "help")
        statuses.append((await post(server, body, headers(body, secret=None)))[0])
        statuses.append((await post(server, body, headers(body, secret=None)))[0])
        return statuses

    assert serve(slack, core, scenario) == [401] * 152
    first, second, at_stop = refusals(log)
    assert first.endswith("from 127.0.0.1: wrong signature (HTTP 401)")
    assert second.endswith("from 127.0.0.1: no signature (HTTP 401) (149 more since the last line like this)")
    assert at_stop.endswith("WARNING adapters.slack.gate: 1 more refused Slack requests not logged")
    assert all(len(line) <= SHORT_LINE for line in refusals(log))
    assert len(log.getvalue().splitlines()) == 3  # nothing else: Bolt never saw them
    assert core.calls == []


@pytest.mark.parametrize(
    "timestamp",
    [
        "nan",
        "1" * 400,
        "",
        "-1",
        "+1700000000",
        "1e9",
        " 1700000000",
        "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",
        "six minutes ahead",
        "six minutes old",
        "0",
    ],
)
def test_a_junk_or_stale_timestamp_is_a_401_without_a_traceback(slack, log, timestamp) -> None:
    core = FakeCore()
    stale = {"six minutes ahead": WINDOW + 60, "six minutes old": -WINDOW - 60}
    if timestamp in stale:
        timestamp = str(int(time.time()) + stale[timestamp])

    async def scenario(server: Served) -> tuple[int, Any]:
        body = slash_body(slack, "subscribe")
        request_headers = headers(body, timestamp="0")  # signed over the junk timestamp below
        request_headers["X-Slack-Signature"] = slack_signature(SECRET, timestamp, body)
        request_headers["X-Slack-Request-Timestamp"] = timestamp
        if not timestamp:
            del request_headers["X-Slack-Request-Timestamp"]
        return await post(server, body.encode(), request_headers)

    status, answer = serve(slack, core, scenario)
    assert (status, answer) == (401, {"error": "invalid request"})
    [line] = refusals(log)
    assert "timestamp" in line and "Traceback" not in log.getvalue() and "ERROR" not in log.getvalue()
    assert core.calls == []


def test_a_body_that_is_not_utf8_is_refused_signed_or_not(slack, log) -> None:
    core = FakeCore()
    body = slash_body(slack, "help").encode() + b"&x=\xff\xfe\xc3("

    async def scenario(server: Served) -> list[tuple[int, Any]]:
        unsigned = await post(server, body, headers(body, secret="wrong"))
        server.adapter._gate.refusals.throttle.interval = 0
        signed = await post(server, body, headers(body))
        return [unsigned, signed]

    unsigned, signed = serve(slack, core, scenario)
    assert unsigned == (401, {"error": "invalid request"})
    assert signed == (400, {"error": "request body is not UTF-8"})
    assert refusals(log)[-1].endswith("body is not UTF-8 (HTTP 400)")
    assert "Traceback" not in log.getvalue() and core.calls == []


def test_a_body_sent_too_slowly_is_dropped(slack, log, monkeypatch) -> None:
    monkeypatch.setattr(gate, "BODY_DEADLINE", 0.3)
    core = FakeCore()

    async def scenario(server: Served) -> bytes:
        body = slash_body(slack, "help").encode()
        port = int(server.url.split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers(body).items())
        writer.write(
            f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body[:10]
        )
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # aiohttp lingers before closing
        writer.close()
        await writer.wait_closed()
        return answer

    answer = serve(slack, core, scenario)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert refusals(log)[0].endswith("body not sent in time (HTTP 408)") and core.calls == []


# --- what reaches Bolt: escaped --------------------------------------------------------


def test_a_newline_in_a_signed_request_cannot_forge_a_log_line(slack, log) -> None:
    """Bolt logs an unhandled command's payload (a multi-line warning of its own): it stays one line."""
    core = FakeCore()

    async def scenario(server: Served) -> tuple[int, Any]:
        body = slash_body(slack, "help").replace("command=%2Fnews", "command=%2Fother" + FORGED.replace("\n", "%0A"))
        return await post(server, body.encode(), headers(body))

    status, _ = serve(slack, core, scenario)
    assert status == 404  # Bolt: no listener for /other…
    lines = log.getvalue().splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")]
    [bolt] = [line for line in lines if "forged line" in line]
    assert "\\n2026-01-01 00:00:00,000 INFO botsvc: forged line" in bolt


# --- replays ---------------------------------------------------------------------------


def test_a_replayed_signed_request_is_not_run_again(slack, log, tmp_path: Path) -> None:
    """The captured ``unsubscribe``, replayed after the channel subscribed again, changes nothing."""
    store = open_store(tmp_path / "bot.db")
    core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
    ran: list[str] = []

    async def counted(text: str, context: Any) -> Any:
        ran.append(text)
        return await core.run(text, context)

    async def scenario(server: Served) -> list[tuple[int, Any]]:
        answers = []
        signed = {}
        for text in ("subscribe", "unsubscribe", "subscribe"):
            body = slash_body(slack, text)
            signed[text] = (body, headers(body))
            answers.append(await post(server, body, signed[text][1]))
        body, request_headers = signed["unsubscribe"]
        answers.append(await post(server, body, request_headers))  # the replay, seconds later
        answers.append(await post(server, body, request_headers))
        return answers

    try:
        answers = serve(slack, counted, scenario, managers=("U1",))
        subscribed = [(s.platform, s.channel) for s in all_subscriptions(store)]
    finally:
        store.close()
    assert [status for status, _ in answers] == [200, 200, 200, 409, 409]
    assert answers[1][1]["text"].startswith("Unsubscribed this channel")
    assert answers[3][1] == {"error": "request already received"}
    assert ran == ["subscribe", "unsubscribe", "subscribe"]
    assert subscribed == [("slack", "C1")]  # still subscribed
    line, at_stop = refusals(log)
    assert line.endswith("replay of a request already received (HTTP 409)")
    assert at_stop.endswith("1 more refused Slack requests not logged")


def test_the_replay_memory_forgets_expired_requests_and_stays_bounded() -> None:
    now = [1000.0]
    memory = ReplayMemory(size=3, clock=lambda: now[0])
    assert [memory.first_time(key, 1300) for key in ("a", "b", "a")] == [True, True, False]
    now[0] = 1301  # "a" and "b" expired: Bolt's five minutes would refuse them anyway
    assert memory.first_time("a", 1601) and len(memory) == 2
    assert memory.first_time("c", 1601) and memory.first_time("d", 1601)  # full: expired "b" goes
    assert len(memory) == 3 and not memory.first_time("c", 1601)
    assert memory.first_time("e", 1601) and len(memory) == 3  # full of valid ones: the oldest ("a") goes
    assert not memory.first_time("d", 1601) and memory.first_time("a", 1601)


def test_bolt_leaves_the_level_of_botsvcs_own_log_alone(slack, log) -> None:
    """Bolt sets its app loggers' level from the root logger's; its app is not named "botsvc"."""
    own = logging.getLogger("botsvc")
    saved = own.level
    own.setLevel(logging.DEBUG)
    try:

        async def scenario(server: Served) -> tuple[int, Any]:
            body = slash_body(slack, "help")
            return await post(server, body, headers(body))

        assert serve(slack, FakeCore(), scenario)[0] == 200
        assert own.level == logging.DEBUG
    finally:
        own.setLevel(saved)
