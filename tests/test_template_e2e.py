"""A subscription's template, set from the command line, reaches the Slack mock and the Discord fake
through the real poll, outbox and adapters: only the chosen fields, and the custom header made inert."""

import os
import subprocess
import sys
from pathlib import Path

from tests.discordfake import DiscordFake
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
HEADER = "<!channel> @everyone *Morning* brief"


def botsvc(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_template_applied_on_slack_and_discord_through_the_outbox(tmp_path):
    with SlackMock() as slack, DiscordFake() as discord:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            SLACK_BOT_TOKEN="xoxb-test",
            BOTSVC_SLACK_API_URL=slack.base_url,
            DISCORD_BOT_TOKEN="discord-test",
            BOTSVC_DISCORD_API_URL=discord.api_url,
        )
        db = ["--db", str(tmp_path / "bot.db"), "--config", str(EXAMPLES)]
        assert botsvc("seed", *db, env=env, cwd=tmp_path).returncode == 0
        template = ["--template", f"header={HEADER}", "--template", "fields=outlet,summary"]
        for platform, channel in (("slack", "C0SLACK"), ("discord", "222000000000000001")):
            done = botsvc(
                "subscribe", "--platform", platform, "--channel", channel, *template, *db, env=env, cwd=tmp_path
            )
            assert done.returncode == 0, done.stderr
            assert "template fields outlet,summary; header" in done.stdout
        refused = botsvc(
            "subscribe",
            "--platform",
            "slack",
            "--channel",
            "C0SLACK",
            "--template",
            "fields=outlet,colour",
            *db,
            env=env,
            cwd=tmp_path,
        )
        assert refused.returncode == 2 and "unknown field 'colour'" in refused.stderr

        polled = botsvc("poll", "--once", *db, env=env, cwd=tmp_path)
        assert polled.returncode == 0, polled.stderr
        assert "delivered 2 message(s)" in polled.stderr

    [slack_call] = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    blocks = slack_call.body["blocks"]
    assert blocks[0]["text"]["text"] == "&lt;!channel&gt; @everyone *Morning* brief"  # plain_text: no mrkdwn there
    assert slack_call.body["text"].startswith("&lt;!channel&gt; @everyone ＊Morning＊ brief:")
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections and all("<http" not in s for s in sections)  # link hidden: titles unlinked
    assert all("more source" not in s and " UTC" not in s for s in sections)  # sources and time hidden
    assert any(len(s.split("\n")) == 3 for s in sections)  # title, outlet, summary sentence

    [discord_call] = discord.delivered()
    body = discord_call.json
    assert body["content"].startswith("**<\u200b!channel> @\u200beveryone \\*Morning\\* brief**")
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"] and all("url" not in e and "timestamp" not in e for e in body["embeds"])
    assert all("more source" not in e.get("description", "") for e in body["embeds"])
    assert any(len(e.get("description", "").split("\n")) == 2 for e in body["embeds"])
