"""The bundled sample feeds, polled by the CLI, reach the Slack mock and the Discord fake."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.discordfake import DiscordFake
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


@pytest.fixture
def servers():
    with SlackMock() as slack, DiscordFake() as discord:
        yield slack, discord


def botsvc(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_poll_once_delivers_one_digest_to_slack_and_discord(tmp_path, servers):
    slack, discord = servers
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        BOTSVC_SLACK_API_URL=slack.base_url,
        DISCORD_BOT_TOKEN="discord-test",
        BOTSVC_DISCORD_API_URL=discord.api_url,
    )
    db = ["--db", str(tmp_path / "bot.db"), "--config", str(EXAMPLES)]
    assert botsvc("seed", *db, env=env, cwd=tmp_path).returncode == 0  # subscribe needs the database
    assert (
        botsvc("subscribe", "--platform", "slack", "--channel", "C0SLACK", *db, env=env, cwd=tmp_path).returncode == 0
    )
    assert (
        botsvc(
            "subscribe", "--platform", "discord", "--channel", "222000000000000001", *db, env=env, cwd=tmp_path
        ).returncode
        == 0
    )

    events = [
        json.loads(line) for line in botsvc("poll", "--once", "--json", *db, env=env, cwd=tmp_path).stdout.splitlines()
    ]
    new_titles = [e["title"] for e in events if e["decision"] == "new"]
    assert new_titles

    polled = botsvc("poll", "--once", *db, env=env, cwd=tmp_path)
    assert polled.returncode == 0, polled.stderr
    assert "delivered 2 message(s)" in polled.stderr

    [slack_call] = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    assert slack_call.headers["authorization"] == "Bearer xoxb-test"
    assert slack_call.body["channel"] == "C0SLACK"
    sections = [b["text"]["text"] for b in slack_call.body["blocks"] if b["type"] == "section"]
    assert len(sections) == len(new_titles)
    assert any("more source" in s for s in sections)

    [discord_call] = discord.delivered()
    assert discord_call.path.endswith("/channels/222000000000000001/messages")
    assert discord_call.headers["authorization"] == "Bot discord-test"
    assert discord_call.json["allowed_mentions"] == {"parse": []}
    assert len(discord_call.json["embeds"]) == len(new_titles)

    again = botsvc("poll", "--once", *db, env=env, cwd=tmp_path)
    assert again.returncode == 0 and "delivered 0 message(s)" in again.stderr
    assert len([c for c in slack.calls if c.path.endswith("chat.postMessage")]) == 1
    assert len(discord.delivered()) == 1
    status = botsvc("status", *db, env=env, cwd=tmp_path)
    assert "2 delivered, 0 pending, 0 held" in status.stdout


def test_a_slack_channel_that_is_gone_pauses_its_subscription(tmp_path, servers):
    slack, _ = servers
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(SLACK_BOT_TOKEN="xoxb-test", BOTSVC_SLACK_API_URL=slack.base_url)
    db = ["--db", str(tmp_path / "bot.db"), "--config", str(EXAMPLES)]
    assert botsvc("seed", *db, env=env, cwd=tmp_path).returncode == 0
    botsvc("subscribe", "--platform", "slack", "--channel", "C0GONE", *db, env=env, cwd=tmp_path)
    slack.script((200, {}, {"ok": False, "error": "channel_not_found"}))
    polled = botsvc("poll", "--once", *db, env=env, cwd=tmp_path)
    assert polled.returncode == 0 and "Traceback" not in polled.stderr
    assert "1 held" in polled.stderr and "channel_not_found" in polled.stderr
    listing = botsvc("subscriptions", *db, env=env, cwd=tmp_path).stdout
    assert "PAUSED" in listing and "channel_not_found" in listing
    assert "1 held" in botsvc("status", *db, env=env, cwd=tmp_path).stdout
