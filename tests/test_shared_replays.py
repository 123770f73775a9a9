"""Several web processes behind a load balancer, one database: a replayed Slack request is
refused by every one of them, through the real slack-bolt app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slackenv import clear_slack_environment
from slackmock import SlackMock
from test_slack_commands import Served, adapter_for, slash_body
from test_slack_endpoint import headers, post

from botsvc.service import logs
from botsvc.service.app import open_app
from botsvc.service.intake import Intake
from botsvc.service.replays import StoredReplays
from botsvc.store import replays
from botsvc.store.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "feeds.toml"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_environment(monkeypatch)


@pytest.fixture
def slack() -> Iterator[SlackMock]:
    with SlackMock() as mock:
        yield mock


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.setup(logging.INFO, "text", "%(levelname)s %(name)s: %(message)s", stream)
    yield stream
    root.handlers[:], root.level = saved


class WebProcess:
    """One ``botsvc run``'s web side: its own connection, intake thread, commands and Slack adapter."""

    def __init__(self, path: Path, slack: SlackMock) -> None:
        self.path = path
        self.slack = slack
        self.ran: list[str] = []

    async def __aenter__(self) -> WebProcess:
        self.app = open_app(CONFIG, self.path)
        self.intake = await Intake.open(self.app)
        self.memory = StoredReplays(self.app.store, self.intake)
        commands = self.app.commands(turn=self.intake.turn)

        async def counted(text: str, context: Any) -> Any:
            self.ran.append(text)
            return await commands.run(text, context)

        self.adapter = adapter_for(self.slack, counted, managers=("U1",))
        self.adapter.remember_requests(self.memory)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.memory.settle()
        await self.intake.close()
        self.app.close()


def test_a_request_admitted_by_one_web_process_is_refused_as_a_replay_by_another(slack, tmp_path) -> None:
    path = tmp_path / "bot.db"
    open_app(CONFIG, path).close()
    first, second = WebProcess(path, slack), WebProcess(path, slack)

    async def scenario() -> list[int]:
        async with first, second, Served(first.adapter, slack) as a, Served(second.adapter, slack) as b:
            body = slash_body(slack, "subscribe")
            signed = headers(body)
            statuses = [(await post(a, body, signed))[0]]
            await first.memory.settle()  # recorded (milliseconds: no poll is being judged)
            statuses.append((await post(b, body, signed))[0])  # the captured request, sent to the other
            statuses.append((await post(a, body, signed))[0])
            other = slash_body(slack, "status")
            statuses.append((await post(b, other, headers(other)))[0])  # a new request is welcome anywhere
            return statuses

    assert asyncio.run(scenario()) == [200, 409, 409, 200]
    assert first.ran == ["subscribe"] and second.ran == ["status"]


def test_a_restarted_web_process_still_refuses_a_request_admitted_before(slack, tmp_path) -> None:
    path = tmp_path / "bot.db"
    open_app(CONFIG, path).close()
    body = slash_body(slack, "subscribe")
    signed = headers(body)

    async def send_once() -> int:
        async with WebProcess(path, slack) as process, Served(process.adapter, slack) as server:
            return (await post(server, body, signed))[0]

    assert asyncio.run(send_once()) == 200
    assert asyncio.run(send_once()) == 409


def test_when_the_shared_memory_fails_the_process_memory_still_refuses_replays(slack, tmp_path, log) -> None:
    async def broken(signature: str, expires: int) -> bool:
        raise OSError("disk I/O error")

    async def scenario() -> list[int]:
        async with WebProcess(tmp_path / "bot.db", slack) as process:
            process.adapter.remember_requests(broken)
            async with Served(process.adapter, slack) as server:
                body = slash_body(slack, "subscribe")
                signed = headers(body)
                return [(await post(server, body, signed))[0] for _ in range(2)]

    assert asyncio.run(scenario()) == [200, 409]
    lines = [line for line in log.getvalue().splitlines() if "replay memory" in line]
    assert lines == [
        "WARNING adapters.slack.gate: Slack: the shared replay memory failed (OSError); this process's memory decides"
    ]


def test_while_a_big_poll_holds_the_write_turn_requests_are_answered_at_once_and_recorded_after(
    slack, tmp_path
) -> None:
    def stored(store: Store) -> list[str]:
        return [row["signature"] for row in store.query("SELECT signature FROM request_replays ORDER BY 1")]

    async def scenario() -> tuple[list[bool], list[str], list[str]]:
        async with WebProcess(tmp_path / "bot.db", slack) as process:
            memory, turn = process.memory, process.intake.turn
            assert await memory("v0=old", int(time.time()) + 300)
            await memory.settle()
            judged = asyncio.Event()

            async def big_poll() -> None:
                async with turn:
                    await judged.wait()

            holder = asyncio.ensure_future(big_poll())
            await asyncio.sleep(0)
            assert turn.locked()
            expires = int(time.time()) + 300
            answers = [await asyncio.wait_for(memory(key, expires), timeout=0.5) for key in ("v0=old", "v0=new")]
            during = stored(process.app.store)
            judged.set()
            await holder
            await memory.settle()
            return answers, during, stored(process.app.store)

    answers, during, after = asyncio.run(scenario())
    assert answers == [False, True]  # neither waited for the turn
    assert during == ["v0=old"] and after == ["v0=new", "v0=old"]


def test_the_stored_replay_memory_forgets_expired_requests(tmp_path) -> None:
    store: Store = open_store(tmp_path / "bot.db")
    try:
        with store.atomic():
            assert replays.first_time(store, "v0=a", 1300, now=1000)
            assert not replays.first_time(store, "v0=a", 1300, now=1100)
            assert replays.first_time(store, "v0=b", 1400, now=1100)
        with store.atomic():
            assert replays.first_time(store, "v0=a", 1601, now=1301)  # expired: Slack's window is over
            rows = store.query("SELECT signature, expires FROM request_replays ORDER BY signature")
        assert rows == [{"signature": "v0=a", "expires": 1601}, {"signature": "v0=b", "expires": 1400}]
        with store.atomic():
            replays.first_time(store, "v0=c", 2000, now=1700)
        assert [r["signature"] for r in store.query("SELECT signature FROM request_replays")] == ["v0=c"]
    finally:
        store.close()
