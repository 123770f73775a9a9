"""A 10 MB flood feed: alerts capped, nothing lost, the feed flagged.

    .venv/bin/python benchmarks/fault_flood.py                  # 16,371 items, about 9.9 MB
    .venv/bin/python benchmarks/fault_flood.py --items 2000

The real ``botsvc poll --once`` runs as a subprocess against a loopback feed server
(tests/feedserver.py), a loopback Slack Web API mock and a loopback Discord API fake,
with one Slack and one Discord subscription and the default ``[alerts]`` limits.
"Flood Wire" first behaves (three polls of a few new items each), then serves one
feed of ``--items`` distinct stories that all mention GSOMIA, all published in the last
day; then the same stories again under new GUIDs and links, as a misbehaving CMS does
on every request.

Printed (``name: value``): items in feed, feed bytes, items stored, alerts posted per
channel and messages per channel for the flood poll, whether the digest's summary line
is present on each platform, poll seconds, whether ``botsvc feeds`` flags the surge,
and the alerts posted by the repeat poll (should be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.discordfake import DiscordFake  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.slackmock import SlackMock  # noqa: E402

FEED = "Flood Wire"
ITEMS = 16_371
WORDS_PER_SUMMARY = 52  # with ITEMS, about 9.9 MB: under the default 10 MiB body cap
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3))


def flood_items(
    count: int, *, now: datetime, seed: int | str = 1, tag: str = "a", words: int = WORDS_PER_SUMMARY
) -> list[dict[str, object]]:
    """``count`` distinct relevant stories (made-up words around "GSOMIA"), newest first.

    Each has its own words, so no two are near-duplicates: every one opens an event.
    ``tag`` goes into GUIDs and links, so a second call with another tag serves the
    same stories under new identities.
    """
    rng = random.Random(seed)
    items = []
    for n in range(count):
        title = f"GSOMIA {' '.join(_word(rng) for _ in range(6))}"
        summary = " ".join(_word(rng) for _ in range(words))
        items.append(
            {
                "guid": f"flood-{tag}-{n}",
                "link": f"https://flood.example.org/{tag}/{n}",
                "title": title,
                "summary": summary,
                "published": now - timedelta(seconds=5 * n),
            }
        )
    return items


def rss(items: list[dict[str, object]], title: str = FEED) -> bytes:
    """An RSS 2.0 document of ``items`` (keys guid, link, title, summary, published)."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>https://flood.example.org/</link><description>flood</description>"
    ]
    for item in items:
        published = item["published"]
        assert isinstance(published, datetime)
        parts.append(
            f"<item><title>{escape(str(item['title']))}</title><link>{escape(str(item['link']))}</link>"
            f'<guid isPermaLink="false">{escape(str(item["guid"]))}</guid>'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
            f"<description>{escape(str(item.get('summary', '')))}</description></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def _topics() -> str:
    text = (ROOT / "feeds.toml").read_text(encoding="utf-8")
    return text[text.index("[topics.") :]


def _env(slack: SlackMock, discord: DiscordFake) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        SLACK_BOT_TOKEN="xoxb-flood",
        BOTSVC_SLACK_API_URL=slack.base_url,
        DISCORD_BOT_TOKEN="discord-flood",
        BOTSVC_DISCORD_API_URL=discord.api_url,
    )
    return env


def _botsvc(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "botsvc", *args], env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"botsvc {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc


def _slack_posts(slack: SlackMock) -> list[dict]:
    return [c.body for c in slack.calls if c.path.endswith("chat.postMessage") and c.status == 200]


def _is_count_line(text: str) -> bool:
    return text.startswith("and ") and "more from" in text


def run_flood(items: int = ITEMS, workdir: str | None = None) -> dict[str, object]:
    """Run the scenario; returns the figures by name."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with (
        tempfile.TemporaryDirectory(prefix="botsvc-flood-", dir=workdir) as tmp,
        FeedServer() as server,
        SlackMock() as slack,
        DiscordFake() as discord,
    ):
        directory = Path(tmp)
        calm = flood_items(6, now=now - timedelta(hours=2), seed=99, tag="calm")
        url = server.static("/flood.xml", rss(calm[-3:]))
        config = directory / "feeds.toml"
        config.write_text(
            f'[defaults]\ninterval = "15m"\ntopic = "japan-korea"\n\n[[feeds]]\nname = "{FEED}"\nurl = "{url}"\n\n'
            '[[subscriptions]]\nplatform = "slack"\nchannel = "C0FLOOD"\n\n'
            '[[subscriptions]]\nplatform = "discord"\nchannel = "222000000000000009"\n\n' + _topics(),
            encoding="utf-8",
        )
        db = directory / "flood.db"
        common = ["--db", str(db), "--config", str(config)]
        env = _env(slack, discord)
        for shown in (4, 5, 6):  # a calm feed: one or two new stories a poll
            _botsvc(["poll", "--once", *common], env)
            server.static("/flood.xml", rss(calm[-shown:]))
        _botsvc(["poll", "--once", *common], env)
        slack_before, discord_before = len(_slack_posts(slack)), len(discord.delivered())

        flood = flood_items(items, now=now)
        body = rss(flood)
        server.static("/flood.xml", body)
        started = time.perf_counter()
        _botsvc(["poll", "--once", *common], env)
        seconds = time.perf_counter() - started

        slack_posts = _slack_posts(slack)[slack_before:]
        sections = [b["text"]["text"] for p in slack_posts for b in p["blocks"] if b["type"] == "section"]
        discord_posts = [c.json for c in discord.delivered()[discord_before:]]
        embeds = sum(len(p.get("embeds") or []) for p in discord_posts)
        feeds_listing = _botsvc(["feeds", *common], env).stdout

        with sqlite3.connect(db) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM articles WHERE feed = ? AND guid LIKE 'flood-a-%'", (FEED,)
            ).fetchone()[0]

        slack_mark, discord_mark = len(_slack_posts(slack)), len(discord.delivered())
        server.static("/flood.xml", rss(flood_items(items, now=now, tag="b")))
        _botsvc(["poll", "--once", *common], env)
        repeat_slack = [
            b
            for p in _slack_posts(slack)[slack_mark:]
            for b in p["blocks"]
            if b["type"] == "section" and not _is_count_line(b["text"]["text"])
        ]
        repeat_discord = sum(len(c.json.get("embeds") or []) for c in discord.delivered()[discord_mark:])

    return {
        "items in feed": items,
        "feed bytes": len(body),
        "items stored": stored,
        "alerts posted per channel (slack)": sum(not _is_count_line(s) for s in sections),
        "alerts posted per channel (discord)": embeds,
        "messages per channel (slack)": len(slack_posts),
        "messages per channel (discord)": len(discord_posts),
        "summary line present (slack)": any(_is_count_line(s) for s in sections),
        "summary line present (discord)": any("more from" in (p.get("content") or "") for p in discord_posts),
        "poll seconds": round(seconds, 1),
        "surge flagged in botsvc feeds": "SURGE" in feeds_listing,
        "alerts posted by the repeat poll (new GUIDs and links)": len(repeat_slack) + repeat_discord,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=ITEMS, help="stories in the flood feed")
    args = parser.parse_args()
    for name, value in run_flood(args.items).items():
        print(f"{name}: {json.dumps(value) if isinstance(value, bool) else value}")


if __name__ == "__main__":
    main()
