"""Several web processes behind a load balancer, one database: a replayed Slack request is
refused by every one of them, through the real slack-bolt app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slackenv import clear_slack_environment
from slackmock import SlackMock
from test_slack_commands import Served, adapter_for, slash_body
from test_slack_endpoint import headers, post

from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.service import logs
from botsvc.service.replays import StoredReplays
from botsvc.store import replays
from botsvc.store.store import Store, open_store
from botsvc.store.turn import WriteTurn

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
    """One web process: its own connection, write turn, command core and Slack adapter."""

    def __init__(self, path: Path, slack: SlackMock) -> None:
        self.store = open_store(path)
        core = CommandCore(self.store, load_config(CONFIG))
        self.ran: list[str] = []

        async def counted(text: str, context: Any) -> Any:
            self.ran.append(text)
            return await core.run(text, context)

        self.adapter = adapter_for(slack, counted, managers=("U1",))
        self.adapter.remember_requests(StoredReplays(self.store, WriteTurn()))

    def close(self) -> None:
        self.store.close()


def test_a_request_admitted_by_one_web_process_is_refused_as_a_replay_by_another(slack, tmp_path) -> None:
    path = tmp_path / "bot.db"
    first, second = WebProcess(path, slack), WebProcess(path, slack)

    async def scenario() -> list[int]:
        async with Served(first.adapter, slack) as a, Served(second.adapter, slack) as b:
            body = slash_body(slack, "subscribe")
            signed = headers(body)
            statuses = [(await post(a, body, signed))[0]]
            statuses.append((await post(b, body, signed))[0])  # the captured request, sent to the other
            statuses.append((await post(a, body, signed))[0])
            other = slash_body(slack, "status")
            statuses.append((await post(b, other, headers(other)))[0])  # a new request is welcome anywhere
            return statuses

    try:
        statuses = asyncio.run(scenario())
    finally:
        first.close()
        second.close()
    assert statuses == [200, 409, 409, 200]
    assert first.ran == ["subscribe"] and second.ran == ["status"]


def test_a_restarted_web_process_still_refuses_a_request_admitted_before(slack, tmp_path) -> None:
    path = tmp_path / "bot.db"
    body = slash_body(slack, "subscribe")
    signed = headers(body)

    async def send_once() -> int:
        process = WebProcess(path, slack)
        try:
            async with Served(process.adapter, slack) as server:
                return (await post(server, body, signed))[0]
        finally:
            process.close()

    assert asyncio.run(send_once()) == 200
    assert asyncio.run(send_once()) == 409


def test_when_the_shared_memory_fails_the_process_memory_still_refuses_replays(slack, tmp_path, log) -> None:
    process = WebProcess(tmp_path / "bot.db", slack)

    async def broken(signature: str, expires: int) -> bool:
        raise OSError("disk I/O error")

    process.adapter.remember_requests(broken)

    async def scenario() -> list[int]:
        async with Served(process.adapter, slack) as server:
            body = slash_body(slack, "subscribe")
            signed = headers(body)
            return [(await post(server, body, signed))[0] for _ in range(2)]

    try:
        assert asyncio.run(scenario()) == [200, 409]
    finally:
        process.close()
    lines = [line for line in log.getvalue().splitlines() if "replay memory" in line]
    assert lines == [
        "WARNING adapters.slack.gate: Slack: the shared replay memory failed (OSError); this process's memory decides"
    ]


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
