"""A hung chat API delays only its own channels' messages, and never a poll.

Delivery reads what is due, sends each channel's messages in a lane of its own (lanes run
at the same time) and takes the write turn only for each short write, never across a
request; one request waits at most the adapter's short timeout, and a send that timed out
is deferred on its row (backoff, looked up before any resend), not retried in the flush.
Through the real Poller, intake thread and write turn, the real adapters, a Slack mock that
accepts the post and then hangs, and the Discord fake, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from discordfake import DiscordFake
from outboxworld import digest, queue, subscribed
from slackmock import SlackMock

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from botsvc.deliver.outbox import Courier, outbox_key_prefix
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.service.intake import Intake
from botsvc.service.scheduler import Poller

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DISCORD_CHANNEL = "222000000000000001"
TIMEOUT = 1.5


def test_a_hung_slack_delays_neither_discord_nor_a_poll(tmp_path, feed_server):
    app = open_app(EXAMPLES / "feeds.toml", tmp_path / "hung.db")
    slack_id = queue(app.store, subscribed(app.store, "slack", "C1"), "slack", "C1", digest("Slack first"))
    other_slack = queue(app.store, subscribed(app.store, "slack", "C2"), "slack", "C2", digest("Slack second"))
    discord_id = queue(
        app.store, subscribed(app.store, "discord", DISCORD_CHANNEL), "discord", DISCORD_CHANNEL, digest("Discord")
    )
    url = feed_server.static("/seoul.xml", (EXAMPLES / "feeds" / "seoul-wire.xml").read_bytes())
    with SlackMock() as slack, DiscordFake() as discord:
        slack.hang = 60.0  # posts, then answers after a minute
        adapters = {
            "slack": SlackAdapter("xoxb-test", base_url=slack.base_url, timeout=TIMEOUT),
            "discord": DiscordAdapter("discord-test", discord.api_url, timeout=TIMEOUT),
        }

        async def main() -> tuple[float, float, float, bool]:
            intake = await Intake.open(app)
            poller = Poller(app, adapters, intake=intake)
            try:
                started = time.monotonic()
                delivering = asyncio.create_task(poller.deliver(realtime=True))
                await asyncio.sleep(0.2)  # the Slack post is hanging now
                polled_at = time.monotonic()
                report = await run_cycle(
                    intake.store, intake.processor, [FeedTarget(name="Seoul", url=url)], app.policy, intake=intake
                )
                poll_took = time.monotonic() - polled_at
                still_sending = not delivering.done()
                await delivering
                return started, poll_took, time.monotonic() - started, still_sending and report.feeds[0].status == "ok"
            finally:
                await intake.close()
                for adapter in adapters.values():
                    await adapter.stop()

        started, poll_took, delivery_took, polled_while_sending = asyncio.run(main())
        [discord_post] = discord.delivered()
        posts = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    assert discord_post.at - started < 1.0  # not after Slack's timeout, let alone its retries
    assert polled_while_sending and poll_took < 1.0
    # One attempt: the retry is the row's, and Slack's other channel waits for the next delivery.
    assert delivery_took < TIMEOUT + 1.0 and len(posts) == 1
    [row] = app.store.query("SELECT * FROM outbox WHERE id = ?", (slack_id,))
    assert (
        row["status"] == "pending"
        and row["sending_key"] == f"{outbox_key_prefix(app.store)}{slack_id}-0"
        and row["attempts"] == 1
    )
    assert datetime.fromisoformat(row["next_attempt_at"]) > datetime.now(timezone.utc)  # backoff on the row
    assert app.store.query("SELECT status FROM outbox WHERE id = ?", (discord_id,))[0]["status"] == "delivered"
    [waiting] = app.store.query("SELECT * FROM outbox WHERE id = ?", (other_slack,))
    assert waiting["status"] == "pending" and waiting["attempts"] == 0 and waiting["sending_key"] is None
    app.close()


def test_a_send_that_timed_out_is_looked_up_and_not_posted_again(tmp_path):
    app = open_app(EXAMPLES / "feeds.toml", tmp_path / "late.db")
    first = queue(app.store, subscribed(app.store, "slack", "C1"), "slack", "C1", digest("Export controls"))
    with SlackMock() as slack:
        slack.hang_first = 1  # the first post is accepted, its answer never comes

        def flush(when: datetime) -> None:
            adapter = SlackAdapter("xoxb-test", base_url=slack.base_url, timeout=0.5)

            async def go() -> None:
                try:
                    await Courier(app.store, {"slack": adapter}, clock=lambda: when).flush()
                finally:
                    await adapter.stop()

            asyncio.run(go())

        now = datetime.now(timezone.utc)
        flush(now)
        flush(now + timedelta(minutes=30))  # past the row's backoff
        posts = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
        [ts] = slack.messages
    [row] = app.store.query("SELECT * FROM outbox WHERE id = ?", (first,))
    assert len(posts) == 1 and row["status"] == "delivered" and json.loads(row["message_ids"]) == [ts]
    app.close()


def test_the_per_request_timeout_is_short_by_default_and_configurable(caplog):
    from botsvc.deliver.platforms import available_adapters

    tokens = {"SLACK_BOT_TOKEN": "xoxb-test", "DISCORD_BOT_TOKEN": "discord-test"}
    default = available_adapters(tokens)
    assert {name: getattr(a, "timeout", None) for name, a in default.items() if name != "console"} == {
        "slack": 5.0,
        "slack-webhook": 5.0,
        "discord": 5.0,
        "discord-webhook": 5.0,
    }
    assert available_adapters({**tokens, "BOTSVC_CHAT_TIMEOUT": "2.5"})["slack"].timeout == 2.5  # type: ignore[attr-defined]
    assert available_adapters({**tokens, "BOTSVC_CHAT_TIMEOUT": "soon"})["discord"].timeout == 5.0  # type: ignore[attr-defined]
    assert "BOTSVC_CHAT_TIMEOUT='soon' is not a number of seconds" in caplog.text
