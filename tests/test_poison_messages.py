"""One bad message never blocks the rest: it fails alone, says why without secrets, and
operators can list, retry or drop it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from click.testing import CliRunner
from discordfake import DiscordFake
from outboxworld import EXAMPLES, T0, botsvc, digest, flush, queue, statuses, subscribed
from slackmock import SlackMock

from adapters.slack import SlackAdapter
from botsvc.chat.commands import CommandCore
from botsvc.cli import cli
from botsvc.config import ConfigError, load_config
from botsvc.deliver.subscriptions import SubscriptionError, all_subscriptions, parse_mode, subscribe, unsubscribe
from botsvc.models import CommandContext
from botsvc.store.store import open_store

SLACK_TOKEN = "xoxb-1111-2222-sekrit"
WEBHOOK_TOKEN = "HOOKSECRET-do-not-print"
BAD_WEBHOOK = f"https://discord.com/api/webhooks/not-a-number/{WEBHOOK_TOKEN}"


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "bot.db")
    yield opened
    opened.close()


CAPTIVE = (200, {}, "<html>captive portal</html>")  # 200, not JSON: slack_sdk raised AttributeError


def test_a_poison_message_fails_alone_and_the_channel_goes_on(store, caplog):
    sub = subscribed(store, "slack", "C1")
    first, second, third = (queue(store, sub, "slack", "C1", digest(title)) for title in ("one", "two", "three"))
    with SlackMock() as slack:
        slack.script(CAPTIVE, CAPTIVE)  # every try of the flush (two here) answered with a page
        with caplog.at_level(logging.WARNING):
            report = flush(store, {"slack": SlackAdapter(SLACK_TOKEN, base_url=slack.base_url)})
        posted = [call.body["blocks"][1]["text"]["text"] for call in slack.calls if call.path.endswith("postMessage")]
        lookups = [call for call in slack.calls if call.path.endswith("conversations.history")]
    assert report.failed == 1 and report.delivered == 2
    assert statuses(store) == {first: "failed", second: "delivered", third: "delivered"}
    assert "one" in posted[1] and "two" in posted[2] and "three" in posted[3]  # in order, after the poison
    assert len(lookups) == 1  # between its two tries: not in the channel, so sent again
    [row] = store.query("SELECT last_error, failed_at FROM outbox WHERE id = ?", (first,))
    assert "not JSON" in row["last_error"] and row["failed_at"]
    [line] = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert f"outbox {first}" in line and SLACK_TOKEN not in caplog.text
    assert not all_subscriptions(store)[0].paused

    with SlackMock() as slack:  # a failed message is not retried by itself
        assert flush(store, {"slack": SlackAdapter(SLACK_TOKEN, base_url=slack.base_url)}).delivered == 0
        assert slack.calls == []


def test_a_digest_that_cannot_be_rendered_fails_alone(store):
    sub = subscribed(store, "slack", "C1")
    broken, good = queue(store, sub, "slack", "C1", digest("one")), queue(store, sub, "slack", "C1", digest("two"))
    with store.atomic():
        store.db.execute("UPDATE outbox SET digest = '{\"title\": 1}' WHERE id = ?", (broken,))
    with SlackMock() as slack:
        report = flush(store, {"slack": SlackAdapter(SLACK_TOKEN, base_url=slack.base_url)})
    assert (report.failed, report.delivered) == (1, 1)
    assert statuses(store) == {broken: "failed", good: "delivered"}
    assert (
        "could not be rendered" in store.query("SELECT last_error FROM outbox WHERE id = ?", (broken,))[0]["last_error"]
    )


def _outbox(db):
    with sqlite3.connect(db) as conn:
        return {row[0]: row[1:] for row in conn.execute("SELECT channel, id, status, last_error FROM outbox")}


def test_poll_once_delivers_around_poison_messages_and_never_prints_secrets(tmp_path):
    db, runner = tmp_path / "bot.db", CliRunner()
    args = ["--db", str(db), "--config", str(EXAMPLES)]
    assert runner.invoke(cli, ["seed", *args]).exit_code == 0  # only run, poll and seed create a database
    for platform, channel in (("slack", "C0POISON"), ("slack", "C0GOOD"), ("discord", "222000000000000001")):
        assert runner.invoke(cli, ["subscribe", "--platform", platform, "--channel", channel, *args]).exit_code == 0
    with sqlite3.connect(db) as conn:  # stored by an older version, before addresses were checked
        conn.execute(
            "INSERT INTO subscriptions (platform, channel, topic, created_at) "
            "VALUES ('discord-webhook', ?, 'japan-korea', '2000-01-01T00:00:00+00:00')",
            (BAD_WEBHOOK,),
        )
    with SlackMock() as slack, DiscordFake() as discord:
        env = {
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "BOTSVC_SLACK_API_URL": slack.base_url,
            "DISCORD_BOT_TOKEN": "discord-sekrit",
            "BOTSVC_DISCORD_API_URL": discord.api_url,
        }
        slack.script_for("C0POISON", *[(200, {}, "<html>not json</html>")] * 4)  # each try of the flush

        polled = botsvc("poll", "--once", *args, env=env, cwd=tmp_path)
        status = runner.invoke(cli, ["status", *args]).output
        listing = runner.invoke(cli, ["outbox", "list", *args]).output

        assert polled.returncode == 0 and "Traceback" not in polled.stderr
        assert "delivered 2 message(s)" in polled.stderr and "1 failed" in polled.stderr and "1 held" in polled.stderr
        for output in (polled.stdout, polled.stderr, status, listing):
            assert WEBHOOK_TOKEN not in output and SLACK_TOKEN not in output and "discord-sekrit" not in output
        rows = _outbox(db)
        assert rows["C0POISON"][1] == "failed" and "not JSON" in rows["C0POISON"][2]
        assert rows["C0GOOD"][1] == "delivered" and rows["222000000000000001"][1] == "delivered"
        assert rows[BAD_WEBHOOK][1] == "held" and WEBHOOK_TOKEN not in rows[BAD_WEBHOOK][2]
        assert "0 pending, 1 held, 1 failed" in status
        poison, hook = rows["C0POISON"][0], rows[BAD_WEBHOOK][0]
        assert f"message {poison} to slack:C0POISON FAILED" in listing
        assert f"message {hook} to discord-webhook (webhook) HELD" in listing

        again = runner.invoke(cli, ["poll", "--once", *args], env=env)  # the poison is not resent by itself
        assert again.exit_code == 0
        assert [c.body["channel"] for c in slack.calls if c.path.endswith("chat.postMessage")].count("C0POISON") == 4

        retried = runner.invoke(cli, ["outbox", "retry", str(poison), *args])
        assert retried.exit_code == 0 and "pending again" in retried.output
        dropped = runner.invoke(cli, ["outbox", "drop", str(hook), *args])
        assert dropped.exit_code == 0 and "dropped" in dropped.output
        third = runner.invoke(cli, ["poll", "--once", *args], env=env)
        assert "delivered 1 message(s)" in third.output
        rows = _outbox(db)
        assert rows["C0POISON"][1] == "delivered" and rows[BAD_WEBHOOK][1] == "dropped"

        refused = runner.invoke(cli, ["outbox", "retry", str(poison), *args])
        assert refused.exit_code == 1 and "is delivered" in refused.output
        unknown = runner.invoke(cli, ["outbox", "drop", "999", *args])
        assert unknown.exit_code == 1 and "no message 999" in unknown.output


def test_unsubscribe_drops_the_channels_unsent_messages(tmp_path):
    db, runner = str(tmp_path / "bot.db"), CliRunner()
    args = ["--db", db, "--config", str(EXAMPLES)]
    assert runner.invoke(cli, ["seed", *args]).exit_code == 0
    assert runner.invoke(cli, ["subscribe", "--platform", "slack", "--channel", "C0GONE", *args]).exit_code == 0
    polled = runner.invoke(cli, ["poll", "--once", *args], env={"SLACK_BOT_TOKEN": ""})
    assert polled.exit_code == 0 and "1 waiting" in polled.output  # no token: it waits in the outbox
    assert "1 pending" in runner.invoke(cli, ["status", *args]).output

    assert runner.invoke(cli, ["unsubscribe", "--platform", "slack", "--channel", "C0GONE", *args]).exit_code == 0
    assert "0 pending, 0 held, 0 failed" in runner.invoke(cli, ["status", *args]).output
    assert "every message was delivered" in runner.invoke(cli, ["outbox", "list", *args]).output
    assert "DROPPED" in runner.invoke(cli, ["outbox", "list", "--all", *args]).output


def test_unsubscribing_one_topic_keeps_the_others_messages(store):
    keep = subscribed(store, "slack", "C1")
    other = subscribe(store, platform="slack", channel="C1", topic="other", mode=parse_mode(None), now=T0)[0].id
    kept, gone = queue(store, keep, "slack", "C1", digest("a")), queue(store, other, "slack", "C1", digest("b"))
    assert unsubscribe(store, platform="slack", channel="C1", topic="other") == 1
    assert statuses(store) == {kept: "pending", gone: "dropped"}


@pytest.mark.parametrize(
    "platform, channel, words",
    [
        ("discord-webhook", BAD_WEBHOOK, "webhooks/<id>/<token>"),
        ("discord-webhook", f"https://disc ord.com/api/webhooks/1/{WEBHOOK_TOKEN}", "without spaces"),
        ("slack-webhook", f"https://hooks slack.com/services/{WEBHOOK_TOKEN}", "without spaces"),
        ("slack-webhook", f"https://[hooks.slack.com/services/{WEBHOOK_TOKEN}", "well-formed"),
        ("discord", "general", "is a number"),
    ],
)
def test_a_bad_address_is_refused_at_subscribe_time_on_every_path(tmp_path, platform, channel, words):
    args = ["--db", str(tmp_path / "bot.db"), "--config", str(EXAMPLES)]
    assert CliRunner().invoke(cli, ["seed", *args]).exit_code == 0
    refused = CliRunner().invoke(cli, ["subscribe", "--platform", platform, "--channel", channel, *args])
    assert refused.exit_code == 2 and words in refused.output and WEBHOOK_TOKEN not in refused.output

    config = tmp_path / "feeds.toml"
    config.write_text(
        EXAMPLES.read_text(encoding="utf-8") + f'\n[[subscriptions]]\nplatform = "{platform}"\nchannel = "{channel}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"subscriptions\[0\]") as caught:
        load_config(config)
    assert WEBHOOK_TOKEN not in str(caught.value)

    store = open_store(tmp_path / "chat.db")
    try:
        with pytest.raises(SubscriptionError):
            subscribe(store, platform=platform, channel=channel, topic="japan-korea", mode=parse_mode(None), now=T0)
        assert store.query("SELECT * FROM subscriptions") == []
    finally:
        store.close()


def test_a_chat_subscribe_from_an_undeliverable_channel_is_a_usage_error(tmp_path):
    store = open_store(tmp_path / "bot.db")
    try:
        core = CommandCore(store, load_config(EXAMPLES))
        reply = asyncio.run(core.run("subscribe", CommandContext("discord", "not-an-id", "G1", "U1", can_manage=True)))
        assert not reply.ok and "is a number" in reply.as_text()
        assert store.query("SELECT * FROM subscriptions") == []
    finally:
        store.close()


def test_a_full_disk_while_sending_is_the_database_failure_not_the_message(store, monkeypatch):
    """A write that fails for the database (a full disk) leaves the message pending, not failed."""
    from botsvc.deliver.outbox import Courier

    sub = subscribed(store, "slack", "C1")
    message = queue(store, sub, "slack", "C1", digest("one"))

    async def disk_full(self, outbox_id, key):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Courier, "_mark_sending", disk_full)
    with SlackMock() as slack:
        with pytest.raises(sqlite3.OperationalError):
            flush(store, {"slack": SlackAdapter(SLACK_TOKEN, base_url=slack.base_url)})
        assert not [call for call in slack.calls if call.path.endswith("postMessage")]
    assert statuses(store) == {message: "pending"}
