"""A hung Slack API during delivery: Discord and polls go on.

    .venv/bin/python benchmarks/fault_hung_chat.py

A fresh botsvc database with the sample feeds of ``examples/`` and two subscriptions,
Slack (the real ``SlackAdapter`` against the loopback Slack mock) and Discord (the real
``DiscordAdapter`` against the loopback Discord fake), driven as ``botsvc run`` drives
them: the real ``Poller`` with its intake thread and write turn. One feed is polled, then
a delivery starts while the Slack mock accepts each post and answers only after a minute;
0.2 s into it a second feed is polled. The same is done with a healthy Slack for
comparison. Per-request timeout: the default (``BOTSVC_CHAT_TIMEOUT``, 5 s).

Printed (``name: value``): for a hung and a healthy Slack, when the Discord message was
posted (ms after the delivery began), how long the poll during the delivery took (ms),
how long the whole delivery took (s), Slack posts made, and the Slack message's state.
Targets: Discord within 1,000 ms and the poll unaffected (within 1,000 ms) while Slack hangs;
one Slack post, deferred on its row and looked up before any resend.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from adapters.discord import DiscordAdapter  # noqa: E402
from adapters.slack import SlackAdapter  # noqa: E402
from botsvc.deliver.platforms import SEND_TIMEOUT  # noqa: E402
from botsvc.deliver.subscriptions import parse_mode, subscribe  # noqa: E402
from botsvc.service.app import open_app  # noqa: E402
from botsvc.service.cycle import run_cycle  # noqa: E402
from botsvc.service.intake import Intake  # noqa: E402
from botsvc.service.scheduler import Poller  # noqa: E402
from botsvc.store.store import utcnow  # noqa: E402
from tests.discordfake import DiscordFake  # noqa: E402
from tests.slackmock import SlackMock  # noqa: E402

CONFIG = REPO / "examples" / "feeds.toml"
DISCORD_CHANNEL = "222000000000000001"


def run_case(hang: float) -> dict[str, object]:
    """One delivery with the Slack mock answering after ``hang`` seconds (0: at once)."""
    with tempfile.TemporaryDirectory() as folder, SlackMock() as slack, DiscordFake() as discord:
        slack.hang = hang
        app = open_app(CONFIG, Path(folder) / "hung.db")
        past = utcnow() - timedelta(days=1)
        for platform, channel in (("slack", "C0HUNG"), ("discord", DISCORD_CHANNEL)):
            subscribe(
                app.store, platform=platform, channel=channel, topic="japan-korea", mode=parse_mode(None), now=past
            )
        adapters = {
            "slack": SlackAdapter("xoxb-bench", base_url=slack.base_url, timeout=SEND_TIMEOUT),
            "discord": DiscordAdapter("discord-bench", discord.api_url, timeout=SEND_TIMEOUT),
        }
        first, second = app.targets()[:2]

        async def main() -> tuple[float, float]:
            intake = await Intake.open(app)
            poller = Poller(app, adapters, intake=intake)
            try:
                await run_cycle(
                    intake.store, intake.processor, [first], app.policy, limits=app.config.alerts, intake=intake
                )
                started = time.monotonic()
                delivering = asyncio.create_task(poller.deliver(realtime=True))
                await asyncio.sleep(0.2)
                polled = time.monotonic()
                await run_cycle(
                    intake.store, intake.processor, [second], app.policy, limits=app.config.alerts, intake=intake
                )
                poll_ms = (time.monotonic() - polled) * 1000
                await delivering
                return started, poll_ms
            finally:
                await intake.close()
                for adapter in adapters.values():
                    await adapter.stop()

        began = time.monotonic()
        started, poll_ms = asyncio.run(main())
        delivery_s = time.monotonic() - began
        posted = discord.delivered()
        slack_posts = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
        states = [
            f"{row['status']}{' (in flight, looked up before any resend)' if row['sending_key'] else ''}"
            for row in app.store.query("SELECT status, sending_key FROM outbox WHERE platform = 'slack'")
        ]
        app.close()
    return {
        "discord delivered after ms": round((posted[0].at - started) * 1000, 1) if posted else "never",
        "poll during delivery ms": round(poll_ms, 1),
        "delivery seconds": round(delivery_s, 1),
        "slack posts": len(slack_posts),
        "slack message": ", ".join(states) or "none queued",
    }


def run_hung_chat() -> dict[str, object]:
    """Both cases, by printed name."""
    figures: dict[str, object] = {"hung slack: per-request timeout s": SEND_TIMEOUT}
    for label, hang in (("hung slack", 60.0), ("healthy slack", 0.0)):
        figures.update({f"{label}: {name}": value for name, value in run_case(hang).items()})
    return figures


def main() -> int:
    figures = run_hung_chat()
    for name, value in figures.items():
        print(f"{name}: {value}")
    late = figures["hung slack: discord delivered after ms"]
    ok = isinstance(late, float) and late < 1000 and float(figures["hung slack: poll during delivery ms"]) < 1000  # type: ignore[arg-type]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
