"""One feed never floods channels: backfill on a feed's first poll, caps per feed and per
digest with a count line on every platform, and the surging feed flagged.

Everything runs the real ``botsvc poll --once`` against a loopback feed server, with the
real outbox and the console, the Slack mock or the Discord fake on the other end.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from adapters.console import render_text
from adapters.discord.render import render_embeds
from adapters.slack.render import render_blocks
from botsvc.cli import cli
from botsvc.config import ConfigError, parse_config
from botsvc.models import CommandContext, Digest, DigestMore
from botsvc.service.app import open_app
from tests.discordfake import DiscordFake
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fault_flood import flood_items, rss  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TOPICS = (ROOT / "feeds.toml").read_text(encoding="utf-8")
TOPICS = TOPICS[TOPICS.index("[topics.") :]


def story(n: int, published: datetime, tag: str = "s") -> dict[str, object]:
    """A relevant story of its own (its words shared with no other story)."""
    [item] = flood_items(1, now=published, seed=f"{tag}{n}", tag=f"{tag}{n}", words=20)
    return item


def write_config(path: Path, feeds: dict[str, str], extra: str = "") -> Path:
    text = '[defaults]\ninterval = "15m"\ntopic = "japan-korea"\n\n' + extra
    for name, url in feeds.items():
        text += f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\n'
    path.write_text(text + "\n" + TOPICS, encoding="utf-8")
    return path


def botsvc(*args: str, config: Path, env: dict[str, str] | None = None) -> Result:
    """The command line in this process (as a user runs it, without an interpreter start each time)."""
    result = CliRunner().invoke(
        cli, [*args, "--db", str(config.parent / "bot.db"), "--config", str(config)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_first_poll_archives_old_items_and_only_new_stories_alert(tmp_path, feed_server):
    old = [story(n, datetime(2019, 8, 22 + n, tzinfo=timezone.utc)) for n in range(3)]
    fresh = story(3, NOW - timedelta(hours=1))
    url = feed_server.static("/wire.xml", rss([fresh, *old]))
    config = write_config(tmp_path / "feeds.toml", {"Wire": url})

    first = json_lines(botsvc("poll", "--once", "--json", config=config).stdout)
    by_title = {line["title"]: line for line in first}
    for item in old:
        line = by_title[item["title"]]
        assert (line["decision"], line["alerted"], line["held_back"]) == ("new", False, "backfill")
    assert (by_title[fresh["title"]]["alerted"], by_title[fresh["title"]]["held_back"]) == (True, None)

    delivered = botsvc("poll", "--once", config=config).stdout
    assert "1 new event" in delivered and fresh["title"] in delivered
    assert not any(item["title"] in delivered for item in old)

    later = story(4, NOW - timedelta(minutes=5))
    feed_server.static("/wire.xml", rss([later, fresh, *old]))
    second = botsvc("poll", "--once", config=config).stdout
    assert later["title"] in second and "1 new event" in second

    # The archived stories are stored, in events of their own, and found by search.
    word = str(old[1]["title"]).split()[2]
    assert str(old[1]["title"]) in botsvc("search", word, config=config).stdout
    assert "verdict: not alerted: opened event" in botsvc("explain", str(old[1]["link"]), config=config).stdout
    assert "verdict: alerted: opened event" in botsvc("explain", str(later["link"]), config=config).stdout


def test_feeds_added_later_start_with_backfill_too(tmp_path, feed_server, monkeypatch):
    first = feed_server.static("/first.xml", rss([story(0, NOW - timedelta(hours=2))]))
    config = write_config(tmp_path / "feeds.toml", {"First": first})
    assert "1 new event" in botsvc("poll", "--once", config=config).stdout

    # A feed added to feeds.toml, and one added from chat (/news feed add).
    added = [story(n, datetime(2019, 11, n, tzinfo=timezone.utc), "cfg") for n in range(1, 4)]
    added_new = story(9, NOW - timedelta(minutes=30), "cfg")
    chat = [story(n, datetime(2019, 12, n, tzinfo=timezone.utc), "chat") for n in range(1, 4)]
    chat_new = story(9, NOW - timedelta(minutes=20), "chat")
    config = write_config(config, {"First": first, "Added": feed_server.static("/added.xml", rss([added_new, *added]))})
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    app = open_app(config, tmp_path / "bot.db")
    try:
        # The operator's console: a feed it adds is shared, like the configured ones the console is told.
        manager = CommandContext(platform="console", channel="C1", user="U1", can_manage=True)
        url = feed_server.static("/chat.xml", rss([chat_new, *chat]))
        assert asyncio.run(app.commands().run(f"feed add {url} Chat Wire", manager)).ok
    finally:
        app.close()

    polled = botsvc("poll", "--once", config=config, env={"BOTSVC_ALLOW_PRIVATE_FEEDS": "1"})
    assert "2 new events" in polled.stdout, polled.stdout
    assert added_new["title"] in polled.stdout and chat_new["title"] in polled.stdout
    assert "6 new not alerted (6 backfill)" in polled.stderr


def test_the_demo_still_alerts_its_2019_stories(tmp_path):
    demo = subprocess.run(
        [sys.executable, "-m", "botsvc", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    assert "new events ==" in demo.stdout and demo.stdout.count("[event ") >= 5
    assert "not alerted" not in demo.stderr


@pytest.fixture
def chat_servers():
    with SlackMock() as slack, DiscordFake() as discord:
        yield slack, discord


def chat_env(slack: SlackMock, discord: DiscordFake) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "BOTSVC_SLACK_API_URL": slack.base_url,
        "DISCORD_BOT_TOKEN": "discord-test",
        "BOTSVC_DISCORD_API_URL": discord.api_url,
    }


SUBSCRIPTIONS = (
    '[[subscriptions]]\nplatform = "console"\nchannel = "stdout"\n\n'
    '[[subscriptions]]\nplatform = "slack"\nchannel = "C0FLOOD"\n\n'
    '[[subscriptions]]\nplatform = "discord"\nchannel = "222000000000000001"\n\n'
)


def slack_sections(slack: SlackMock) -> list[str]:
    return [
        b["text"]["text"]
        for c in slack.calls
        if c.path.endswith("chat.postMessage")
        for b in c.body["blocks"]
        if b["type"] == "section"
    ]


def test_a_flood_feed_is_capped_per_feed_with_one_count_line_everywhere(tmp_path, feed_server, chat_servers):
    slack, discord = chat_servers
    calm = [story(n, NOW - timedelta(hours=3, minutes=n), "calm") for n in range(4)]
    url = feed_server.static("/flood.xml", rss(calm[:2]))
    config = write_config(tmp_path / "feeds.toml", {"Flood Wire": url}, SUBSCRIPTIONS)
    env = chat_env(slack, discord)
    botsvc("poll", "--once", config=config, env=env)
    for shown in (3, 4):  # a calm feed: one new story a poll
        feed_server.static("/flood.xml", rss(calm[:shown]))
        botsvc("poll", "--once", config=config, env=env)
    slack.calls.clear()
    discord_before = len(discord.delivered())

    flood = flood_items(120, now=NOW - timedelta(minutes=1), seed=7, words=20)
    feed_server.static("/flood.xml", rss(flood + calm))
    polled = botsvc("poll", "--once", config=config, env=env)
    assert "100 new not alerted (100 capped)" in polled.stderr

    line = "and 100 more from Flood Wire: see `/news recent`"
    assert polled.stdout.count("[event ") == 20 and line in polled.stdout  # console
    sections = slack_sections(slack)
    assert len(sections) == 21 and sections[-1] == line  # one message: 20 alerts, then the count
    assert len([c for c in slack.calls if c.path.endswith("chat.postMessage")]) == 1
    posts = [c.json for c in discord.delivered()[discord_before:]]
    assert [len(p["embeds"]) for p in posts] == [10, 10] and posts[-1]["content"].endswith("\n" + line)
    shown_titles = {t["title"] for p in posts for t in p["embeds"]}
    assert shown_titles == {str(item["title"]) for item in flood[:20]}  # the newest

    # Nothing is lost: every story is stored; none of the 100 arrives later.
    feed_server.static("/flood.xml", rss(flood_items(120, now=NOW, seed=7, tag="regen", words=20) + calm))
    again = botsvc("poll", "--once", config=config, env=env)
    assert "delivered 0 message(s)" in again.stderr and "[event " not in again.stdout
    counts = botsvc("search", str(flood[119]["title"]).split()[3], config=config).stdout
    assert str(flood[119]["title"]) in counts
    assert "over [alerts] max_per_feed" in botsvc("explain", str(flood[119]["link"]), config=config).stdout

    # Another outlet retells one shown and one counted story: only the shown one may come back,
    # as an update line; the counted one never surfaces.
    echo = [
        {**flood[0], "guid": "echo-0", "link": "https://echo.example/0"},
        {**flood[119], "guid": "echo-119", "link": "https://echo.example/119"},
    ]
    config = write_config(
        config, {"Flood Wire": url, "Echo Wire": feed_server.static("/echo.xml", rss(echo))}, SUBSCRIPTIONS
    )
    echoed = botsvc("poll", "--once", config=config, env=env)
    assert "2 duplicate" in echoed.stderr and "UPDATE [event " in echoed.stdout
    assert str(flood[0]["title"]) in echoed.stdout and str(flood[119]["title"]) not in echoed.stdout

    listing = botsvc("feeds", config=config).stdout
    assert "Flood Wire: OK" in listing and "SURGE: 120 new items in one poll" in listing
    assert "surging feed: Flood Wire: SURGE" in botsvc("status", config=config).stdout


def test_a_digest_takes_each_feed_in_turn_and_counts_the_rest(tmp_path, feed_server, chat_servers):
    slack, discord = chat_servers
    one = flood_items(25, now=NOW - timedelta(minutes=1), seed=11, tag="one", words=20)
    two = flood_items(25, now=NOW - timedelta(minutes=2), seed=12, tag="two", words=20)
    config = write_config(
        tmp_path / "feeds.toml",
        {"Wire One": feed_server.static("/one.xml", rss(one)), "Wire Two": feed_server.static("/two.xml", rss(two))},
        "[alerts]\nmax_per_feed = 100\nmax_per_digest = 30\n\n" + SUBSCRIPTIONS,
    )
    polled = botsvc("poll", "--once", config=config, env=chat_env(slack, discord))
    assert "delivered 3 message(s)" in polled.stderr

    lines = ["and 10 more from Wire One: see `/news recent`", "and 10 more from Wire Two: see `/news recent`"]
    assert polled.stdout.count("[event ") == 30 and all(line in polled.stdout for line in lines)
    sections = slack_sections(slack)
    assert len(sections) == 31 and sections[-1] == "\n".join(lines)
    shown = " ".join(sections)
    assert sum(str(i["title"]) in shown for i in one) == 15 and sum(str(i["title"]) in shown for i in two) == 15
    posts = [c.json for c in discord.delivered()]
    assert sum(len(p["embeds"]) for p in posts) == 30 and posts[-1]["content"].endswith("\n".join(lines))

    again = botsvc("poll", "--once", config=config, env=chat_env(slack, discord))
    assert "delivered 0 message(s)" in again.stderr


def test_count_lines_keep_feed_names_inert_on_every_platform():
    digest = Digest(
        title="Japan–South Korea",
        events=(),
        generated_at=NOW,
        more=(DigestMore(412, "<!channel> *Wire*\n@everyone"), DigestMore(3, None)),
    )
    text = render_text(digest)
    assert "and 412 more from <!channel> *Wire* @everyone: see `/news recent`" in text
    assert "and 3 more from other feeds" in text
    [payload] = render_blocks(digest)
    more = payload["blocks"][-1]["text"]["text"]
    assert more.startswith("and 412 more from &lt;!channel&gt; ＊Wire＊ @everyone: see `/news recent`")
    assert "415 more not shown" in payload["text"]
    [message] = render_embeds(digest)
    assert "@\u200beveryone" in message.content and "\\*Wire\\*" in message.content
    assert "<\u200b!channel>" in message.content


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('backfill_max_age = "off"', None),
        ('backfill_max_age = "6h"', 6 * 3600),
        ("backfill_max_age = 90", 90),
    ],
)
def test_backfill_age_is_read_from_the_alerts_table(table, expected):
    assert parse_config(f"[alerts]\n{table}\n" + TOPICS).alerts.backfill_max_age == expected


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("max_per_feed = 0", "alerts.max_per_feed: must be at least 1"),
        ('backfill_max_age = "soon"', "alerts.backfill_max_age: not a duration"),
        ("surge_factor = -1", "alerts.surge_factor: must be greater than 0"),
        ("max_alerts = 3", "alerts.max_alerts: unknown key"),
    ],
)
def test_bad_alerts_settings_are_one_clear_line(table, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config(f"[alerts]\n{table}\n" + TOPICS)


def test_rebuilding_events_keeps_archived_stories_unalerted(tmp_path):
    examples = ROOT / "examples" / "feeds.toml"
    text = examples.read_text(encoding="utf-8").replace('backfill_max_age = "off"', "")
    text = text.replace('url = "feeds/', f'url = "{examples.parent}/feeds/')
    config = tmp_path / "feeds.toml"
    config.write_text(text, encoding="utf-8")
    first = botsvc("poll", "--once", config=config)
    assert "[event " not in first.stdout and "new not alerted" in first.stderr  # 2018-2019: all archived

    strict = tmp_path / "strict.toml"
    strict.write_text(text.replace("[defaults]", "[dedup]\nthreshold = 0.95\n\n[defaults]"), encoding="utf-8")
    rebuilt = CliRunner().invoke(cli, ["rebuild-events", "--db", str(tmp_path / "bot.db"), "--config", str(strict)])
    assert rebuilt.exit_code == 0 and "article(s) changed event" in rebuilt.stdout
    split = botsvc("poll", "--once", config=strict)
    assert "[event " not in split.stdout and "delivered 0 message(s)" in split.stderr
