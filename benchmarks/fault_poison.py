"""A poison message among 100 good ones: all 100 are delivered, the poison fails alone.

    .venv/bin/python benchmarks/fault_poison.py

A fresh botsvc database gets four subscriptions (two Slack channels through the real
``SlackAdapter`` against the loopback Slack mock, two Discord channels through the real
``DiscordAdapter`` against the loopback Discord fake) and 101 digests in the real outbox,
interleaved across the channels. Every post of the 51st message is answered ``200`` with
an HTML page instead of JSON (what a captive proxy does; slack_sdk used to raise
AttributeError out of the flush, leaving every later message unsent); between its tries the
channel's history is looked up (it may have been posted). One real ``Courier.flush`` then
runs.

Printed (``name: value``): good messages, delivered, failed permanently, blocked (good
messages still not delivered), posts made to the platforms (the poison included), whether a token appeared in
the logs, and the flush time.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from adapters.discord import DiscordAdapter  # noqa: E402
from adapters.slack import SlackAdapter  # noqa: E402
from botsvc.deliver.outbox import Courier, RetryPolicy, enqueue  # noqa: E402
from botsvc.deliver.subscriptions import parse_mode, subscribe  # noqa: E402
from botsvc.models import ChannelAddress, Digest, DigestEvent, DigestStory  # noqa: E402
from botsvc.store.store import open_store, utcnow  # noqa: E402
from tests.discordfake import DiscordFake  # noqa: E402
from tests.slackmock import SlackMock  # noqa: E402

GOOD = 100
POISON_AT = 51  # the poison is the 51st message queued (1-based)
SLACK_TOKEN = "xoxb-bench-0000-sekrit"
DISCORD_TOKEN = "discord-bench-sekrit"
CHANNELS = [
    ("slack", "C0BENCH1"),
    ("discord", "222000000000000001"),
    ("slack", "C0BENCH2"),
    ("discord", "222000000000000002"),
]


def _digest(number: int) -> Digest:
    now = utcnow()
    story = DigestStory(f"Story {number}: export controls talks resume", "Wire", f"https://news.example/{number}", now)
    return Digest("Japan–South Korea", (DigestEvent(number, story),), now)


def run_poison() -> dict[str, object]:
    """Queue 100 good messages and one poison, flush once, and count what happened."""
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logging.getLogger().addHandler(handler)
    with tempfile.TemporaryDirectory() as folder, SlackMock() as slack, DiscordFake() as discord:
        store = open_store(Path(folder) / "poison.db")
        try:
            now = utcnow()
            subscriptions = [
                subscribe(
                    store, platform=platform, channel=channel, topic="japan-korea", mode=parse_mode("realtime"), now=now
                )[0].id
                for platform, channel in CHANNELS
            ]
            before_poison = 0
            with store.atomic():
                for number in range(1, GOOD + 2):
                    index = (number - 1) % len(CHANNELS)
                    platform, channel = CHANNELS[index]
                    if number < POISON_AT and index == (POISON_AT - 1) % len(CHANNELS):
                        before_poison += 1
                    enqueue(
                        store,
                        ChannelAddress(platform, channel),
                        _digest(number),
                        subscription_id=subscriptions[index],
                        now=now,
                    )
            platform, poisoned = CHANNELS[(POISON_AT - 1) % len(CHANNELS)]
            assert platform == "slack"
            # Every try of the poison (four in a flush) is answered with a page; each is looked up first.
            page = (200, {}, "<html><body>Sign in to continue</body></html>")
            slack.script_for(poisoned, *[page] * RetryPolicy().tries_per_flush, after=before_poison)

            adapters = {
                "slack": SlackAdapter(SLACK_TOKEN, base_url=slack.base_url),
                "discord": DiscordAdapter(DISCORD_TOKEN, discord.api_url),
            }

            async def deliver():
                try:
                    return await Courier(store, adapters).flush()
                finally:
                    for adapter in adapters.values():
                        await adapter.stop()

            started = time.perf_counter()
            report = asyncio.run(deliver())
            elapsed = time.perf_counter() - started
            rows = store.query("SELECT id, status FROM outbox ORDER BY id")
        finally:
            store.close()
        slack_posts = len([c for c in slack.calls if c.path.endswith("chat.postMessage")])
        discord_posts = len(discord.delivered())
    logging.getLogger().removeHandler(handler)
    good = [row for row in rows if row["id"] != POISON_AT]
    text = logs.getvalue()
    return {
        "poison: good messages": len(good),
        "poison: delivered": sum(row["status"] == "delivered" for row in good),
        "poison: failed permanently": sum(row["status"] == "failed" for row in rows),
        "poison: poison marked failed": rows[POISON_AT - 1]["status"] == "failed",
        "poison: blocked": sum(row["status"] != "delivered" for row in good),
        "poison: posts made (slack + discord)": slack_posts + discord_posts,
        "poison: tokens in logs": sum(token in text for token in (SLACK_TOKEN, DISCORD_TOKEN)),
        "poison: flush seconds": round(elapsed, 2),
        "poison: flush report": f"{report.delivered} delivered, {report.failed} failed, "
        f"{report.waiting} waiting, {report.held} held",
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="log: %(message)s", stream=sys.stderr)
    for name, value in run_poison().items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
