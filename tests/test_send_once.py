"""A send is done once, even across a kill, a timeout or an answer that cannot be read.

Each part is marked in flight (its key and the attempt's start) in a transaction of its own
before the request; a part found in flight is looked up on the platform before it is sent
again: Slack by the outbox key in the message's metadata (conversations.history with
include_all_metadata), Discord among the bot's recent messages, and by the enforced nonce
within Discord's few minutes. Webhooks cannot be read back: they get the part again
(at-least-once). Through the real outbox, the real adapters, tests/slackmock.py and
tests/discordfake.py on 127.0.0.1, and a real SIGKILL between Slack's (or Discord's)
acceptance and the outbox's record.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from discordfake import DiscordFake
from outboxworld import EXAMPLES, ROOT, digest, flush, queue, statuses, subscribed
from slackmock import SlackMock

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter, SlackWebhookAdapter
from botsvc.cli import cli
from botsvc.deliver.outbox import outbox_key_prefix
from botsvc.store.store import Store, iso, open_store, utcnow

DISCORD_CHANNEL = "222000000000000001"

SEND_THEN_DIE = textwrap.dedent("""
    import asyncio, os, signal, sys
    from botsvc.deliver import outbox
    from botsvc.store.store import open_store

    async def die(*args, **kwargs):  # the platform accepted the part; the record never happens
        os.kill(os.getpid(), signal.SIGKILL)

    outbox.Courier._record_part = die
    db, platform, url = sys.argv[1:4]
    if platform == "slack":
        from adapters.slack import SlackAdapter
        adapter = SlackAdapter("xoxb-test", base_url=url)
    elif platform == "slack-webhook":
        from adapters.slack import SlackWebhookAdapter
        adapter = SlackWebhookAdapter()
    else:
        from adapters.discord import DiscordAdapter
        adapter = DiscordAdapter("discord-test", url)
    asyncio.run(outbox.Courier(open_store(db), {platform: adapter}).flush())
""")


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "bot.db")
    yield opened
    opened.close()


def killed_after_the_send(store: Store, platform: str, url: str) -> None:
    """Run a real flush in a process that is killed right after the platform accepted the post."""
    dead = subprocess.run(
        [sys.executable, "-c", SEND_THEN_DIE, store.path, platform, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dead.returncode == -signal.SIGKILL, dead.stderr


def key(store: Store, outbox_id: int, part: int = 0) -> str:
    return f"{outbox_key_prefix(store)}{outbox_id}-{part}"


def row(store: Store, outbox_id: int) -> dict:
    return store.query("SELECT * FROM outbox WHERE id = ?", (outbox_id,))[0]


def test_slack_killed_between_acceptance_and_record_posts_once(store):
    sub = subscribed(store, "slack", "C1")
    first = queue(store, sub, "slack", "C1", digest("Export controls"))
    with SlackMock() as slack:
        killed_after_the_send(store, "slack", slack.base_url)
        assert len(slack.messages) == 1
        left = row(store, first)
        assert left["status"] == "pending" and left["sending_key"] == key(store, first) and left["sending_at"]
        listed = CliRunner().invoke(cli, ["outbox", "list", "--db", store.path, "--config", str(EXAMPLES)]).output
        assert f"a send from {left['sending_at']} may have been posted: looked up before any resend" in listed

        report = flush(store, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
        [ts] = slack.messages
        lookups = [c for c in slack.calls if c.path.endswith("conversations.history")]
    assert report.delivered == 1 and statuses(store) == {first: "delivered"}
    assert json.loads(row(store, first)["message_ids"]) == [ts] and row(store, first)["sending_key"] is None
    assert slack.messages[ts]["metadata"] == {
        "event_type": "botsvc_outbox",
        "event_payload": {"key": key(store, first)},
    }
    assert lookups[0].body["include_all_metadata"] in ("1", "true") and lookups[0].body["channel"] == "C1"


def test_discord_killed_between_acceptance_and_record_posts_once(store):
    sub = subscribed(store, "discord", DISCORD_CHANNEL)
    first = queue(store, sub, "discord", DISCORD_CHANNEL, digest("Export controls"))
    with DiscordFake() as fake:
        killed_after_the_send(store, "discord", fake.api_url)
        assert len(fake.delivered()) == 1
        report = flush(store, {"discord": DiscordAdapter("discord-test", fake.api_url)})
        [message_id] = fake.messages
        assert fake.calls_to("history") and len(fake.calls_to("message")) == 1  # found: not sent again
    assert report.delivered == 1 and json.loads(row(store, first)["message_ids"]) == [message_id]


def test_discord_without_history_access_resends_with_the_same_enforced_nonce(store, caplog):
    sub = subscribed(store, "discord", DISCORD_CHANNEL)
    first = queue(store, sub, "discord", DISCORD_CHANNEL, digest("Export controls"))
    with DiscordFake() as fake:
        killed_after_the_send(store, "discord", fake.api_url)
        fake.history_refused = True
        with caplog.at_level(logging.WARNING):
            report = flush(store, {"discord": DiscordAdapter("discord-test", fake.api_url)})
        posts = fake.calls_to("message")
        [message_id] = fake.messages  # Discord answered the repeat with the first message
    assert report.delivered == 1 and json.loads(row(store, first)["message_ids"]) == [message_id]
    assert [p.json["nonce"] for p in posts] == [key(store, first)] * 2 and posts[1].json["enforce_nonce"] is True
    assert "Read Message History" in caplog.text


def test_a_webhook_cannot_be_read_back_so_a_killed_send_is_sent_again(store, caplog):
    """At-least-once: nothing is lost; the one part cut off by the kill shows twice."""
    with SlackMock() as slack:
        hook = slack.hook_url()
        sub = subscribed(store, "slack-webhook", hook)
        first = queue(store, sub, "slack-webhook", hook, digest("Export controls"))
        killed_after_the_send(store, "slack-webhook", slack.base_url)
        with caplog.at_level(logging.WARNING):
            report = flush(store, {"slack-webhook": SlackWebhookAdapter()})
        hooks = [c for c in slack.calls if c.path.startswith("/hooks/")]
    assert report.delivered == 1 and statuses(store) == {first: "delivered"} and len(hooks) == 2
    assert "cannot be read back; sending it again" in caplog.text and "secret" not in caplog.text


def test_a_slack_200_whose_body_is_null_is_looked_up_not_posted_twice(store):
    sub = subscribed(store, "slack", "C1")
    first, second = (queue(store, sub, "slack", "C1", digest(title)) for title in ("one", "two"))
    assert re.fullmatch(r"bs-[0-9a-f]{6}-", outbox_key_prefix(store))  # this database's own keys
    with SlackMock() as slack:
        slack.script_for("C1", (200, {}, None), posted=True)  # posted, answered `null`
        report = flush(store, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
        posts = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    assert report.delivered == 2 and statuses(store) == {first: "delivered", second: "delivered"}
    assert len(posts) == 2 and len(slack.messages) == 2  # one post per message
    assert json.loads(row(store, first)["message_ids"]) == [sorted(slack.messages)[0]]


@pytest.mark.parametrize("body", ["[]", '"ok"', "{not json"])
def test_a_slack_2xx_that_is_not_an_object_and_not_posted_is_sent_again_once(store, body):
    sub = subscribed(store, "slack", "C1")
    first = queue(store, sub, "slack", "C1", digest("one"))
    with SlackMock() as slack:
        slack.script_for("C1", (200, {"Content-Type": "application/json"}, body))  # lost on the way, not posted
        report = flush(store, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
    assert report.delivered == 1 and statuses(store) == {first: "delivered"} and len(slack.messages) == 1


def test_a_slack_token_without_history_scopes_sends_again_and_says_why(store, caplog):
    sub = subscribed(store, "slack", "C1")
    first = queue(store, sub, "slack", "C1", digest("one"))
    with SlackMock() as slack:
        slack.missing_scope = {"conversations.history"}
        killed_after_the_send(store, "slack", slack.base_url)
        with caplog.at_level(logging.WARNING):
            report = flush(store, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
    assert report.delivered == 1 and statuses(store) == {first: "delivered"} and len(slack.messages) == 2
    assert "channels:history" in caplog.text and not report.refused_credentials


def test_another_databases_post_with_the_same_outbox_id_is_not_taken_for_this_ones(tmp_path, store):
    """A second install (or a fresh start) posting to the channel has keys of its own."""
    other = open_store(tmp_path / "other.db")
    try:
        with SlackMock() as slack:
            theirs = queue(other, subscribed(other, "slack", "C1"), "slack", "C1", digest("Theirs"))
            flush(other, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
            ours = queue(store, subscribed(store, "slack", "C1"), "slack", "C1", digest("Ours"))
            assert ours == theirs and key(store, ours) != key(other, theirs)
            with store.atomic():  # cut off before its request went out
                store.db.execute(
                    "UPDATE outbox SET sending_key = ?, sending_at = ? WHERE id = ?",
                    (key(store, ours), iso(utcnow()), ours),
                )
            flush(store, {"slack": SlackAdapter("xoxb-test", base_url=slack.base_url)})
            texts = [m["text"] for m in slack.messages.values()]
    finally:
        other.close()
    assert statuses(store) == {ours: "delivered"} and len(texts) == 2  # ours was posted, not skipped
