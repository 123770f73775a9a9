"""Tenants: each Slack workspace and each Discord server keeps its chat-added feeds to itself.

Commands go through the real Bolt app (signed requests against tests/slackmock.py) and
discord.py's interaction handling (tests/discordfake.py) into the real command core; a
feed added from one server is polled for real from a loopback feed server, and what the
outbox sends is what each platform's fake received.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from discordfake import DiscordFake
from slackmock import SlackMock
from test_discord_buttons import press as discord_press
from test_discord_buttons import presses as discord_presses
from test_discord_commands import EPHEMERAL, GUILD, MANAGE_CHANNELS, MEMBER, TOKEN, embed_of, fake, news
from test_discord_commands import run as discord_run
from test_slack_buttons import post as post_button
from test_slack_buttons import press as slack_press
from test_slack_commands import Served, _loopback_only, adapter_for, slack, wait_for

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from adapters.slack.bot import workspace_of
from botsvc.config import ConfigError, parse_config, summarise
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import Courier, RetryPolicy
from botsvc.models import CommandContext
from botsvc.service.app import App, open_app
from botsvc.service.cycle import run_cycle
from botsvc.store.migrate import apply_migrations, discover
from botsvc.store.store import utcnow

__all__ = ["_loopback_only", "fake", "slack"]  # fixtures, used by name

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"
WORKSPACE = "TNEWSROOM"
STRANGER = "TSTRANGER"
OTHER_GUILD = "999000000000000009"
PHISH = "https://phish.example/login"
TABLES = ("subscriptions", "feeds", "feed_tenants", "chat_tenants", "relevance_feedback", "event_mutes", "outbox")


def config_with(chat: str) -> Any:
    """The sample configuration (its feeds read from examples/) with a ``[chat]`` table."""
    return parse_config(EXAMPLES.read_text(encoding="utf-8") + "\n[chat]\n" + chat, str(EXAMPLES))


def rss(title: str, link: str, *more: tuple[str, str]) -> bytes:
    """A feed of items published now (so they are alerted, not archived as a backfill)."""
    when = format_datetime(utcnow())
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{when}</pubDate>"
        "<description>Seoul and Tokyo officials met on Tuesday.</description></item>"
        for title, link in ((title, link), *more)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>'
        f"{items}</channel></rss>"
    ).encode()


def counts(app: App) -> dict[str, int]:
    return {table: app.store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"] for table in TABLES}


def slack_commands(slack: SlackMock, app: App, *commands: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Each (text, team, user) as a signed slash command through the real Bolt app; the answers."""
    adapter = adapter_for(slack, app.commands().run, managers=("UNEWS", "USTRANGE"))

    async def go() -> list[dict[str, Any]]:
        async with Served(adapter, slack) as server:
            answers = []
            for text, team, user in commands:
                status, body = await server.command(text, team=team, user=user, channel=f"C{team}")
                assert status == 200
                answers.append(body)
            return answers

    return asyncio.run(go())


def discord_answers(fake: DiscordFake) -> list[dict[str, Any]]:
    """The embed of each answer, in order: interaction callbacks and the followups of deferred ones."""
    answers = []
    for call in fake.calls:
        body = call.json.get("data") if call.route == "interaction" else call.json if call.route == "webhook" else None
        if isinstance(body, dict) and body.get("embeds"):
            answers.append(embed_of(body))
    return answers


def in_server(payload: dict[str, Any], guild: str) -> dict[str, Any]:
    """``payload`` as if sent from another Discord server."""
    payload = copy.deepcopy(payload)
    payload["guild_id"] = payload["guild"]["id"] = payload["channel"]["guild_id"] = guild
    payload["authorizing_integration_owners"] = {"0": guild}
    return payload


def deliver(app: App, slack: SlackMock, discord: DiscordFake) -> None:
    """Queue what is due and flush it through the real adapters."""
    queue_digests(app.store, app.config, utcnow())

    async def go() -> None:
        adapters = {
            "slack": SlackAdapter("xoxb-test", base_url=slack.base_url),
            "discord": DiscordAdapter(TOKEN, discord.api_url),
        }
        try:
            report = await Courier(
                app.store, adapters, policy=RetryPolicy(base_delay=0), sleep=lambda s: asyncio.sleep(0)
            ).flush()
            assert not report.errors, report.errors
        finally:
            for adapter in adapters.values():
                await adapter.stop()

    asyncio.run(go())


def poll_chat_feeds(app: App) -> None:
    """One real poll of the feeds added from chat (the sample's own feeds are not needed here)."""
    targets = [t for t in app.targets() if t.name not in {f.name for f in app.config.feeds}]
    asyncio.run(run_cycle(app.store, app.processor, targets, app.policy))


@pytest.fixture
def app(db_at: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    config = config_with(
        f'slack_workspaces = ["{WORKSPACE}"]\ndiscord_servers = ["{GUILD}"]\nmax_feeds_per_tenant = 1\n'
    )
    application = open_app(EXAMPLES, db_at("bot.db"), config=config)
    yield application
    application.close()


def test_a_servers_feed_reaches_only_its_own_channels_and_only_it_removes_it(
    app: App, slack: SlackMock, fake: DiscordFake, feed_server: Any
) -> None:
    manager = MEMBER | MANAGE_CHANNELS
    url = feed_server.static("/phish.xml", rss("South Korea and Japan restore GSOMIA intelligence pact", PHISH))
    second = feed_server.static("/second.xml", rss("Japan and South Korea hold GSOMIA talks", "https://b.example/"))
    discord_run(
        fake,
        app.commands().run,
        news("subscribe", permissions=manager, topic="japan-korea"),
        news("feed add", permissions=manager, url=url, name="Phish Wire"),
        news("feed add", permissions=manager, url=second, name="Second Wire"),  # over the server's limit of 1
    )
    subscribed, added, refused = (answer["title"] for answer in discord_answers(fake))
    assert subscribed.startswith("Subscribed"), subscribed
    assert added.startswith("Added feed 'Phish Wire'"), added
    assert refused.startswith("Not added: this workspace or server already has 1 feeds"), refused
    assert app.store.query("SELECT feed, tenant FROM feed_tenants") == [
        {"feed": "Phish Wire", "tenant": f"discord:{GUILD}"}
    ]

    subscribe, listed, removal = slack_commands(
        slack,
        app,
        ("subscribe japan-korea", WORKSPACE, "UNEWS"),
        ("feeds", WORKSPACE, "UNEWS"),
        ("feed remove Phish Wire", WORKSPACE, "UNEWS"),  # a manager of the workspace, not of the server
    )
    assert subscribe["text"].startswith("Subscribed"), subscribe
    assert "Phish Wire" not in json.dumps(listed)  # another tenant's feed is never listed
    assert "there is no feed named 'Phish Wire'" in removal["text"], removal
    assert app.store.query("SELECT name FROM feeds WHERE name = 'Phish Wire'")  # still polled

    poll_chat_feeds(app)
    deliver(app, slack, fake)
    posted = [call for call in slack.calls if call.path == "/api/chat.postMessage"]
    assert PHISH not in json.dumps([call.body for call in posted])
    assert not posted  # nothing else was new for the workspace either
    delivered = [call for call in fake.delivered() if call.route == "message"]
    assert delivered and all(PHISH in json.dumps(call.json) for call in delivered)  # the server got its item
    [event] = {row["event_id"] for row in app.store.query("SELECT event_id FROM articles WHERE feed = 'Phish Wire'")}
    reader = CommandContext("slack", f"C{WORKSPACE}", WORKSPACE, "U9")
    timeline = asyncio.run(app.commands().run(f"event {event}", reader))
    assert not timeline.ok and timeline.title.startswith(f"there is no event {event}")
    found = asyncio.run(app.commands().run("search GSOMIA intelligence pact", reader))
    assert PHISH not in found.as_text() and f"#{event} " not in found.as_text()

    answered = len(discord_answers(fake))
    discord_run(fake, app.commands().run, news("feeds"), news("feed remove", permissions=manager, name="Phish Wire"))
    listing, removed = discord_answers(fake)[answered:]
    assert "Phish Wire" in json.dumps(listing) and "added from chat here" in json.dumps(listing)
    assert removed["title"] == "Removed feed 'Phish Wire'; its stored stories stay searchable."
    # Its stories stay the server's: the name is never given to another feed, nor its reports to others.
    assert app.store.query("SELECT tenant FROM feed_tenants") == [{"tenant": f"discord:{GUILD}"}]


def test_a_stranger_workspace_or_server_is_refused_and_nothing_is_stored(
    app: App, slack: SlackMock, fake: DiscordFake
) -> None:
    before = counts(app)
    subscribe, search = slack_commands(
        slack, app, ("subscribe", STRANGER, "USTRANGE"), ("search gsomia", STRANGER, "USTRANGE")
    )
    for answer in (subscribe, search):
        assert answer["response_type"] == "ephemeral"
        assert answer["text"] == "Sorry, this bot serves other workspaces, not this one.", answer

    adapter = adapter_for(slack, app.commands().run, managers=("USTRANGE",))

    async def press_as_stranger() -> dict[str, Any]:
        async with Served(adapter, slack) as server:
            body = slack_press(slack, "notrelevant", "1", user="USTRANGE")
            status, _ = await post_button(server, body.replace('"T1"', f'"{STRANGER}"'))
            assert status == 200
            await wait_for(lambda: any(c.path.startswith("/hooks/actions/") for c in slack.calls))
            return [c for c in slack.calls if c.path.startswith("/hooks/actions/")][-1].body

    pressed = asyncio.run(press_as_stranger())
    assert pressed["text"] == "Sorry, this bot serves other workspaces, not this one."

    discord_run(
        fake,
        app.commands().run,
        in_server(news("subscribe", permissions=MEMBER | MANAGE_CHANNELS), OTHER_GUILD),
        news("search", query="gsomia", dm=True),  # a direct message: no server at all
    )
    discord_presses(fake, app.commands().run, in_server(discord_press("botsvc:notrelevant:1"), OTHER_GUILD))
    titles = [answer["title"] for answer in discord_answers(fake)]
    assert all(call.json["data"]["flags"] == EPHEMERAL for call in fake.calls_to("interaction"))
    assert titles == [
        "Sorry, this bot serves other servers, not this one.",
        "Sorry, this bot works only in a server's channels.",
        "Sorry, this bot serves other servers, not this one.",
    ]
    assert counts(app) == before


def test_without_a_list_the_first_workspace_to_change_something_is_adopted_across_restarts(db_at: Any) -> None:
    config = config_with("")
    first = CommandContext("slack", "C1", "TFIRST", "U1", can_manage=True)
    second = CommandContext("slack", "C2", "TSECOND", "U2", can_manage=True)
    app = open_app(EXAMPLES, db_at("bot.db"), config=config)
    try:
        assert asyncio.run(app.commands().run("search gsomia", second)).ok  # reading adopts nobody
        assert app.store.query("SELECT * FROM chat_tenants") == []
        assert asyncio.run(app.commands().run("subscribe", first)).ok
    finally:
        app.close()
    app = open_app(EXAMPLES, db_at("bot.db"), config=config)  # a restart
    try:
        refused = asyncio.run(app.commands().run("search gsomia", second))
        assert not refused.ok and refused.title == "Sorry, this bot serves other workspaces, not this one."
        assert asyncio.run(app.commands().run("unsubscribe", first)).ok
        discord = CommandContext("discord", "1", "42", "7", can_manage=True)  # each platform adopts its own
        assert asyncio.run(app.commands().run("subscribe", discord)).ok
        listed = config_with('slack_workspaces = ["TSECOND"]')  # a list replaces the adopted one
        assert asyncio.run(open_app(EXAMPLES, db_at("bot.db"), config=listed).commands().run("subscribe", second)).ok
    finally:
        app.close()


def test_a_shared_event_reaches_both_but_a_tenants_report_stays_its_own(
    app: App, slack: SlackMock, fake: DiscordFake, feed_server: Any
) -> None:
    """An event with a report from a shared feed and one from a server's feed: both tenants are
    told it, the workspace without the server's link."""
    manager = MEMBER | MANAGE_CHANNELS
    title = "South Korea and Japan restore GSOMIA intelligence pact after summit"
    mine = feed_server.static("/mine.xml", rss(title, PHISH), last_modified=False)
    shared = feed_server.static("/shared.xml", rss(title, "https://shared.example/story"))
    discord_run(
        fake,
        app.commands().run,
        news("subscribe", permissions=manager, topic="japan-korea"),
        news("feed add", permissions=manager, url=mine, name="Server Wire"),
    )
    operator = CommandContext("console", "-", user="ops", can_manage=True)
    assert asyncio.run(app.commands().run(f"feed add {shared} Shared Wire", operator)).ok
    subscribed, _ = slack_commands(
        slack, app, ("subscribe japan-korea", WORKSPACE, "UNEWS"), ("updates channel", WORKSPACE, "UNEWS")
    )
    assert subscribed["text"].startswith("Subscribed")
    poll_chat_feeds(app)
    assert app.store.query("SELECT count(DISTINCT event_id) AS n FROM articles WHERE feed LIKE '% Wire'")[0]["n"] == 1
    deliver(app, slack, fake)
    posted = json.dumps([call.body for call in slack.calls if call.path == "/api/chat.postMessage"])
    assert "https://shared.example/story" in posted and PHISH not in posted
    [event] = {row["event_id"] for row in app.store.query("SELECT event_id FROM articles WHERE feed = 'Server Wire'")}
    reader = CommandContext("slack", f"C{WORKSPACE}", WORKSPACE, "U9")
    timeline = asyncio.run(app.commands().run(f"event {event}", reader))
    assert timeline.ok and "https://shared.example/story" in timeline.as_text() and PHISH not in timeline.as_text()
    found = asyncio.run(app.commands().run("search GSOMIA intelligence pact summit", reader))
    assert f"#{event} {title}" in found.as_text()  # titled after the report the workspace may see

    # A later report of the event from the server's feed alone is no update for the workspace.
    later = "https://phish.example/again"
    feed_server.static("/mine.xml", rss(title, PHISH, (title + " talks", later)), last_modified=False)
    posts = len([call for call in slack.calls if call.path == "/api/chat.postMessage"])
    poll_chat_feeds(app)
    assert app.store.query("SELECT event_id FROM articles WHERE url = ?", (later,)) == [{"event_id": event}]
    deliver(app, slack, fake)
    assert len([call for call in slack.calls if call.path == "/api/chat.postMessage"]) == posts
    assert later in json.dumps([call.json for call in fake.delivered() if call.route == "message"])
    assert PHISH in json.dumps([call.json for call in fake.delivered() if call.route == "message"])


def test_slack_takes_the_workspace_of_commands_and_presses_alike_never_the_users_own() -> None:
    assert workspace_of({"team_id": "T1", "user_id": "U1"}) == "T1"
    assert workspace_of({"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T2"}}) == "T1"
    # An org-wide install's press may carry no team: the org, never the presser's home workspace.
    assert workspace_of({"team": None, "enterprise": {"id": "E1"}, "user": {"id": "U1", "team_id": "T2"}}) == "E1"
    assert workspace_of({"team": None, "user": {"id": "U1", "team_id": "T2"}}) == ""


@pytest.mark.parametrize(
    ("chat", "key"),
    [
        ('slack_workspaces = "T1"', "chat.slack_workspaces"),
        ('discord_servers = ["12 34"]', "chat.discord_servers[0]"),
        ("max_feeds_per_tenant = 0", "chat.max_feeds_per_tenant"),
        ("max_reports = 3", "chat.max_reports"),
    ],
)
def test_bad_chat_settings_are_named(chat: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with(chat)
    assert caught.value.key == key


def test_a_workspace_makes_at_most_its_limit_of_reports_a_day(db_at: Any) -> None:
    app = open_app(
        EXAMPLES, db_at("bot.db"), config=config_with('slack_workspaces = ["T1", "T2"]\nmax_reports_per_tenant = 2')
    )
    try:
        app.ensure_seeded()
        event = app.store.query("SELECT id FROM events ORDER BY id LIMIT 1")[0]["id"]

        def report(workspace: str, user: str) -> Any:
            context = CommandContext("slack", "C1", workspace, user)
            return asyncio.run(app.commands().run(f"notrelevant {event}", context))

        assert report("T1", "U1").ok and report("T1", "U2").ok
        refused = report("T1", "U3")
        assert not refused.ok and "made 2 not-relevant reports in the last 24 hours" in refused.title
        assert report("T2", "U4").ok  # another workspace's limit is its own
        rows = app.store.query('SELECT workspace, "user" FROM relevance_feedback ORDER BY id')
        assert [(r["workspace"], r["user"]) for r in rows] == [("T1", "U1"), ("T1", "U2"), ("T2", "U4")]
    finally:
        app.close()


def test_an_upgraded_database_keeps_serving_its_first_workspace_and_shares_its_old_chat_feeds(
    tmp_path: Path,
) -> None:
    """Before tenants, subscriptions and chat-added feeds were stored without them: the earliest
    subscription's workspace (server) stays served, old chat feeds stay shared, and only a
    manager on the platform that added one removes it."""
    [version] = [m.version for m in discover() if m.name.endswith("_tenants")]
    conn = sqlite3.connect(tmp_path / "old.db")
    apply_migrations(conn, upto=version - 1)
    subscription = (
        "INSERT INTO subscriptions (platform, workspace, channel, topic, origin, created_at) "
        "VALUES (?, ?, ?, 'japan-korea', ?, ?)"
    )
    conn.executemany(
        subscription,
        [
            ("slack", "", "C0", "cli", "2019-08-20T00:00:00+00:00"),  # no workspace: adopts nothing
            ("slack", "TOLD", "C1", "chat", "2019-08-21T00:00:00+00:00"),
            ("slack", "TLATER", "C2", "chat", "2019-08-22T00:00:00+00:00"),
            ("discord", "42", "7", "chat", "2019-08-23T00:00:00+00:00"),
        ],
    )
    conn.execute(
        "INSERT INTO feeds (name, url, origin, added_by) VALUES ('Old Wire', 'https://o.example/', 'chat', 'slack:U1')"
    )
    conn.commit()
    conn.close()
    app = open_app(EXAMPLES, tmp_path / "old.db", config=config_with(""))
    try:
        adopted = app.store.query("SELECT platform, workspace FROM chat_tenants ORDER BY platform")
        assert [(r["platform"], r["workspace"]) for r in adopted] == [("discord", "42"), ("slack", "TOLD")]
        later = asyncio.run(app.commands().run("subscriptions", CommandContext("slack", "C2", "TLATER", "U2")))
        assert not later.ok and later.title == "Sorry, this bot serves other workspaces, not this one."
        from_discord = CommandContext("discord", "7", "42", "9", can_manage=True)
        refused = asyncio.run(app.commands().run("feed remove Old Wire", from_discord))
        assert not refused.ok and refused.title == "'Old Wire' was added from slack; it can be removed there."
        feeds = asyncio.run(app.commands().run("feeds", from_discord)).as_text()
        assert "Old Wire" in feeds and "added from chat, shared" in feeds
        from_slack = CommandContext("slack", "C1", "TOLD", "U1", can_manage=True)
        assert asyncio.run(app.commands().run("feed remove Old Wire", from_slack)).ok
    finally:
        app.close()


def test_check_config_says_who_is_served() -> None:
    text = summarise(config_with('slack_workspaces = ["T1", "T2"]\nmax_feeds_per_tenant = 5'))
    assert "chat: Slack workspaces T1, T2; Discord servers (the first one used); each may add 5 feeds" in text
