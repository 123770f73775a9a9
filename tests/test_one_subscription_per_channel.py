"""One subscription per channel, whichever path made it: ``botsvc subscribe`` without a
workspace and ``/news`` in the channel (which always knows it) end in one subscription,
chat controls see it, and every alert is posted once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from slackenv import clear_slack_environment
from slackmock import SlackMock

from botsvc.cli import cli
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.store.migrate import apply_migrations
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
SLACK = CommandContext(platform="slack", channel="C0NEWS", workspace="T0TEST", user="U1", can_manage=True)
DISCORD = CommandContext(platform="discord", channel="222000000000000001", workspace="111", user="7", can_manage=True)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_environment(monkeypatch)


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "bot.db"
    assert cli_run("seed", db=path).exit_code == 0
    return path


def cli_run(*args: str, db: Path, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [*args, "--db", str(db), "--config", str(EXAMPLES)], env=env, catch_exceptions=False)


def chat(db: Path, text: str, ctx: CommandContext = SLACK):
    app = open_app(EXAMPLES, db)
    try:
        return asyncio.run(app.commands().run(text, ctx))
    finally:
        app.close()


def subscriptions(db: Path) -> list[tuple[str, str, str, str]]:
    store = open_store(db, create=False)
    try:
        return [(s.platform, s.workspace, s.channel, s.topic) for s in all_subscriptions(store)]
    finally:
        store.close()


@pytest.mark.parametrize("ctx", [SLACK, DISCORD], ids=["slack", "discord"])
def test_chat_sees_a_cli_subscription_and_adopts_it_instead_of_adding_a_second(db, ctx):
    made = cli_run("subscribe", "--platform", ctx.platform, "--channel", ctx.channel, db=db)
    assert made.exit_code == 0 and "workspace not known yet" in made.stdout
    listed = chat(db, "subscriptions", ctx)  # a read: sees it without changing anything
    assert listed.ok and [line.text for line in listed.lines] == ["japan-korea: realtime"]
    assert subscriptions(db) == [(ctx.platform, "", ctx.channel, "japan-korea")]

    again = chat(db, "subscribe", ctx)
    assert again.ok and again.title.startswith("Updated") and "now belong to this workspace" in again.lines[-1].text
    assert subscriptions(db) == [(ctx.platform, ctx.workspace, ctx.channel, "japan-korea")]
    paused = chat(db, "pause", ctx)
    assert paused.ok and not any("now belong" in line.text for line in paused.lines)  # adopted once
    assert subscriptions(db) == [(ctx.platform, ctx.workspace, ctx.channel, "japan-korea")]


def test_cli_subscribe_takes_the_workspace_chat_stored_and_says_so(db):
    assert chat(db, "subscribe").ok
    made = cli_run("subscribe", "--platform", "slack", "--channel", "C0NEWS", "--mode", "hourly", db=db)
    assert made.exit_code == 0 and made.stdout.startswith("updated: slack:T0TEST/C0NEWS to japan-korea, hourly")
    assert "workspace T0TEST: taken from this channel's subscriptions made in chat" in made.stdout
    assert subscriptions(db) == [("slack", "T0TEST", "C0NEWS", "japan-korea")]
    gone = cli_run("unsubscribe", "--platform", "slack", "--channel", "C0NEWS", db=db)
    assert gone.exit_code == 0 and subscriptions(db) == []


def test_a_pause_or_mute_from_chat_covers_the_cli_subscription(db):
    assert cli_run("subscribe", "--platform", "slack", "--channel", "C0NEWS", db=db).exit_code == 0
    assert chat(db, "mute 1").ok
    store = open_store(db, create=False)
    try:
        mutes = store.query("SELECT subscription_id FROM event_mutes WHERE event_id = 1")
        [sub] = all_subscriptions(store)
    finally:
        store.close()
    assert [row["subscription_id"] for row in mutes] == [sub.id] and sub.workspace == "T0TEST"


def test_every_alert_is_posted_once_to_a_channel_subscribed_from_the_cli_and_from_chat(db):
    assert cli_run("subscribe", "--platform", "slack", "--channel", "C0NEWS", db=db).exit_code == 0
    assert chat(db, "subscribe").ok
    with SlackMock() as slack:
        env = {"SLACK_BOT_TOKEN": "xoxb-test", "BOTSVC_SLACK_API_URL": slack.base_url}
        polled = cli_run("poll", "--once", db=db, env=env)
        posts = [call for call in slack.calls if call.path == "/api/chat.postMessage"]
    assert polled.exit_code == 0, polled.output
    assert len(posts) == 1 and posts[0].body["channel"] == "C0NEWS"


def test_a_configured_subscription_without_a_workspace_stays_the_channels_one(db, tmp_path):
    config = tmp_path / "feeds.toml"
    config.write_text(
        EXAMPLES.read_text().replace('url = "feeds/', f'url = "{EXAMPLES.parent}/feeds/')
        + '\n[[subscriptions]]\nplatform = "slack"\nchannel = "C0NEWS"\ntopic = "japan-korea"\nmode = "hourly"\n'
    )
    for _ in range(2):  # before and after chat adopted it
        app = open_app(config, db)
        try:
            app.sync_subscriptions()
            asyncio.run(app.commands().run("subscribe japan-korea hourly", SLACK))
        finally:
            app.close()
    assert subscriptions(db) == [("slack", "T0TEST", "C0NEWS", "japan-korea")]


def test_the_migration_merges_existing_pairs_into_the_older_one_with_its_settings(db, tmp_path):
    """A database from before: a CLI subscription ('' workspace) and chat's, each with its own state."""
    store = open_store(db, create=False)
    conn = store.db.conn
    with store.atomic():
        insert = (
            "INSERT INTO subscriptions (platform, workspace, channel, topic, mode, origin, created_at, quiet_hours) "
            "VALUES (?, ?, ?, 'japan-korea', ?, ?, ?, ?)"
        )
        conn.execute(insert, ("slack", "", "C0NEWS", "hourly", "cli", "2026-01-01T00:00:00+00:00", "22:00-07:00 UTC"))
        conn.execute(insert, ("slack", "T0TEST", "C0NEWS", "realtime", "chat", "2026-02-01T00:00:00+00:00", None))
        conn.execute(insert, ("slack", "", "C0OTHER", "realtime", "cli", "2026-01-01T00:00:00+00:00", None))
        older, newer, other = [row["id"] for row in store.query("SELECT id FROM subscriptions ORDER BY id")]
        conn.execute("INSERT INTO subscription_filters VALUES (?, 'gsomia', 'include')", (older,))
        conn.execute("INSERT INTO subscription_filters VALUES (?, 'boycott', 'exclude')", (newer,))
        told = "INSERT INTO deliveries (subscription_id, event_id, member_count, queued_at) VALUES (?, 1, ?, 'x')"
        conn.execute(told, (older, 3))
        conn.execute(told, (newer, 5))
        conn.execute("INSERT INTO event_mutes VALUES (?, 1, 'mute', 'slack:U1', '2026-02-02T00:00:00+00:00')", (newer,))
        conn.execute(
            "INSERT INTO outbox (subscription_id, platform, workspace, channel, digest, next_attempt_at, created_at) "
            "VALUES (?, 'slack', 'T0TEST', 'C0NEWS', '{}', 'x', 'x')",
            (newer,),
        )
        conn.execute("DELETE FROM _migrations WHERE name LIKE '%_one_subscription_per_channel'")
    [migration] = (ROOT / "migrations" / "sqlite").glob("*_one_subscription_per_channel.sql")
    assert apply_migrations(conn) == [migration.stem]
    subs = {s.id: s for s in all_subscriptions(store)}
    filters = store.query("SELECT subscription_id, word FROM subscription_filters")
    deliveries = store.query("SELECT subscription_id, member_count FROM deliveries")
    mutes = store.query("SELECT subscription_id FROM event_mutes")
    outbox = store.query("SELECT subscription_id FROM outbox")
    store.close()
    assert sorted(subs) == [older, other]
    kept = subs[older]
    assert (kept.workspace, str(kept.mode), str(kept.quiet), kept.origin) == (
        "T0TEST",
        "hourly",
        "22:00-07:00 UTC",
        "cli",
    )
    assert filters == [{"subscription_id": older, "word": "gsomia"}]  # the older one's settings
    assert deliveries == [{"subscription_id": older, "member_count": 5}]  # told as much as either was
    assert mutes == [{"subscription_id": older}] and outbox == [{"subscription_id": older}]
    assert subs[other].workspace == ""  # no workspace known for that channel: chat adopts it later
