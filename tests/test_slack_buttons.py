"""An alert's buttons on Slack: rendered as an ``actions`` block per alert, pressed as signed
``block_actions`` requests through the real gate and Bolt app on 127.0.0.1, answered
through the response_url (the loopback Slack mock) by the real command core and store."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slackmock import SlackMock
from test_slack_commands import ROOT, SECRET, Served, _loopback_only, adapter_for, slack, slack_signature, wait_for

from adapters.slack import MAX_BLOCKS, SlackAdapter, render_blocks
from adapters.slack.render import EVENTS_PER_MESSAGE
from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.models import CommandContext, Digest, DigestEvent, DigestStory
from botsvc.store.seed import seed_archive
from botsvc.store.store import Store, open_store

__all__ = ["_loopback_only", "slack"]  # fixtures, used by name

_actions = itertools.count(1)
NOW = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)


def press(slack: SlackMock, command: str, event: str, *, user: str = "U1", channel: str = "C1") -> str:
    """A ``block_actions`` body as Slack posts it when a button of ours is pressed (form-encoded)."""
    n = next(_actions)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": channel},
        "trigger_id": f"{n}.2.3",
        "team": {"id": "T1", "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "news"},
        "message": {"type": "message", "ts": "1700000000.000001", "text": "Japan–South Korea: 1 new event"},
        "state": {"values": {}},
        "response_url": slack.hook_url(f"actions/T1/{channel}/{user}/{n}"),
        "actions": [
            {
                "action_id": f"botsvc_{command}",
                "block_id": f"botsvc-event-{event}",
                "text": {"type": "plain_text", "text": command},
                "value": event,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def post(server: Served, body: str) -> tuple[int, float]:
    """POST one signed interactivity request; (status, seconds until answered)."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SECRET, timestamp, body),
    }
    started = time.monotonic()
    async with server.session.post(server.url, data=body.encode(), headers=headers) as response:
        await response.read()
        return response.status, time.monotonic() - started


def answered(slack: SlackMock) -> list[Any]:
    return [call for call in slack.calls if call.path.startswith("/hooks/actions/")]


def presses(slack: SlackMock, adapter: SlackAdapter, *clicks: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Press each (command, event id, user) in turn; the response_url answer of each."""

    async def go() -> list[dict[str, Any]]:
        answers = []
        async with Served(adapter, slack) as server:
            for n, (command, event, user) in enumerate(clicks, 1):
                status, took = await post(server, press(slack, command, event, user=user))
                assert status == 200 and took < 3.0  # acknowledged within Slack's 3 s
                await wait_for(lambda n=n: len(answered(slack)) == n)
                answers.append(answered(slack)[-1].body)
        return answers

    return asyncio.run(go())


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = open_store(tmp_path / "bot.db")
    assert seed_archive(store) > 0
    yield store
    store.close()


def seeded_event(store: Store) -> str:
    return str(store.query("SELECT id FROM events ORDER BY id LIMIT 1")[0]["id"])


def test_each_button_is_answered_privately_by_the_real_core(slack: SlackMock, store: Store) -> None:
    core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
    adapter = adapter_for(slack, core.run, managers=("UBOSS",))
    event = seeded_event(store)
    boss = CommandContext(platform="slack", channel="C1", workspace="T1", user="UBOSS", can_manage=True)
    assert asyncio.run(core.run("subscribe", boss)).ok
    timeline, refused, muted, reported = presses(
        slack,
        adapter,
        ("timeline", event, "U1"),
        ("mute", event, "U1"),  # not a manager
        ("mute", event, "UBOSS"),
        ("notrelevant", event, "U1"),  # anyone may report
    )
    for answer in (timeline, refused, muted, reported):
        assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert timeline["text"].startswith(f"Archived event #{event}: ")
    assert refused["text"].startswith("Sorry, only people who manage this channel can use")
    assert muted["text"] == f"Muted event #{event}: this channel gets no more updates about it."
    assert reported["text"] == f"Thanks: event #{event} is marked not relevant."
    mutes = store.query("SELECT event_id, reason, muted_by FROM event_mutes")
    assert mutes == [{"event_id": int(event), "reason": "mute", "muted_by": "slack:UBOSS"}]
    reports = store.query("SELECT event_id, platform, workspace, channel, user FROM relevance_feedback")
    assert reports == [{"event_id": int(event), "platform": "slack", "workspace": "T1", "channel": "C1", "user": "U1"}]


def test_a_forged_value_is_never_taken_as_an_event(slack: SlackMock, store: Store) -> None:
    core = CommandCore(store, load_config(ROOT / "examples" / "feeds.toml"))
    adapter = adapter_for(slack, core.run, managers=("U1",))
    [answer] = presses(slack, adapter, ("notrelevant", "1; unsubscribe", "U1"))
    assert answer["text"].startswith("give one event id") and store.query("SELECT * FROM relevance_feedback") == []


def _story(n: int) -> DigestStory:
    return DigestStory(f"Story {n}", "Wire", f"https://wire.example/{n}", NOW)


def test_every_alert_gets_its_buttons_within_slacks_block_limit() -> None:
    events = tuple(DigestEvent(n, _story(n), update=n % 7 == 0) for n in range(1, 46))
    digest = Digest("Japan–South Korea", events, NOW)
    payloads = render_blocks(digest, buttons=True)
    assert len(payloads) == -(-45 // EVENTS_PER_MESSAGE)
    actions = []
    for payload in payloads:
        assert len(payload["blocks"]) <= MAX_BLOCKS
        actions += [block for block in payload["blocks"] if block["type"] == "actions"]
    assert len(actions) == sum(not e.update for e in events)  # update lines get none
    assert [(b["action_id"], b["value"]) for b in actions[0]["elements"]] == [
        ("botsvc_timeline", "1"),
        ("botsvc_mute", "1"),
        ("botsvc_notrelevant", "1"),
    ]
    assert all(block["type"] != "actions" for p in render_blocks(digest) for block in p["blocks"])


def test_digests_carry_buttons_only_where_the_presses_are_received(slack: SlackMock) -> None:
    digest = Digest("Japan–South Korea", (DigestEvent(1, _story(1)),), NOW)
    without = SlackAdapter("xoxb-test", base_url=slack.base_url)
    with_commands = adapter_for(slack, lambda text, context: None)
    assert [b["type"] for b in without.render(digest)[0]["blocks"]] == ["header", "section"]
    assert [b["type"] for b in with_commands.render(digest)[0]["blocks"]] == ["header", "section", "actions"]
