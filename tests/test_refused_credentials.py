"""A refused bot token is the workspace's problem: reported once, visible in status, no channel
paused, and the messages go out once the token works again."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from discordfake import DiscordFake
from outboxworld import EXAMPLES, digest, flush, queue, statuses, subscribed
from slackmock import SlackMock

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from botsvc.cli import cli
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.store.store import open_store


@pytest.fixture
def db(tmp_path):
    return tmp_path / "bot.db"


def refusal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "credentials were refused" in r.getMessage()]


def two_channels(store, platform, channels):
    return [
        queue(store, subscribed(store, platform, channel), platform, channel, digest(channel)) for channel in channels
    ]


@pytest.mark.parametrize("code", ["invalid_auth", "not_authed", "token_revoked", "account_inactive"])
def test_a_refused_slack_token_is_reported_once_and_pauses_nothing(db, caplog, code):
    store = open_store(db)
    try:
        ids = two_channels(store, "slack", ["C1", "C2"])
        with SlackMock() as slack, caplog.at_level(logging.INFO):
            slack.down = (200, {}, {"ok": False, "error": code})
            first = flush(store, {"slack": SlackAdapter("xoxb-wrong", base_url=slack.base_url)})
            second = flush(store, {"slack": SlackAdapter("xoxb-wrong", base_url=slack.base_url)})
            assert len(slack.calls) == 2  # one try per flush, not one per channel
            assert (first.waiting, first.held, first.failed, first.delivered) == (2, 0, 0, 0)
            assert code in first.refused_credentials["slack"] and second.refused_credentials
            assert len(refusal_lines(caplog)) == 1
            assert statuses(store) == dict.fromkeys(ids, "pending")
            assert not any(s.paused for s in all_subscriptions(store))

            status = CliRunner().invoke(cli, ["status", "--db", str(db), "--config", str(EXAMPLES)]).output
            assert "credentials refused: slack since" in status and code in status
            assert "2 message(s) wait" in status and "paused:" not in status

            slack.down = None  # the token is fixed
            fixed = flush(store, {"slack": SlackAdapter("xoxb-right", base_url=slack.base_url)})
        assert fixed.delivered == 2 and statuses(store) == dict.fromkeys(ids, "delivered")
        assert store.query("SELECT * FROM platform_problems") == []
        assert "accepted again" in caplog.text
    finally:
        store.close()


@pytest.mark.parametrize("route", ["me", "message"])  # refused at login, or at the post itself
def test_a_refused_discord_token_is_reported_once_and_pauses_nothing(db, caplog, route):
    store = open_store(db)
    try:
        ids = two_channels(store, "discord", ["222000000000000001", "222000000000000002"])
        with DiscordFake() as fake, caplog.at_level(logging.WARNING):
            fake.script(route, *[(401, {}, {"message": "401: Unauthorized", "code": 0})] * 2)
            report = flush(store, {"discord": DiscordAdapter("wrong", fake.api_url)})
            flush(store, {"discord": DiscordAdapter("wrong", fake.api_url)})
            assert fake.delivered() == []
        assert report.refused_credentials.keys() == {"discord"} and report.waiting == 2 and report.held == 0
        assert len(refusal_lines(caplog)) == 1
        assert statuses(store) == dict.fromkeys(ids, "pending")
        assert not any(s.paused for s in all_subscriptions(store))
    finally:
        store.close()


def test_poll_once_says_the_credentials_were_refused(db):
    args = ["--db", str(db), "--config", str(EXAMPLES)]
    runner = CliRunner()
    assert runner.invoke(cli, ["seed", *args]).exit_code == 0  # only run, poll and seed create a database
    assert runner.invoke(cli, ["subscribe", "--platform", "slack", "--channel", "C1", *args]).exit_code == 0
    with SlackMock() as slack:
        slack.down = (200, {}, {"ok": False, "error": "invalid_auth"})
        polled = runner.invoke(
            cli,
            ["poll", "--once", *args],
            env={"SLACK_BOT_TOKEN": "xoxb-wrong", "BOTSVC_SLACK_API_URL": slack.base_url},
        )
    assert polled.exit_code == 0
    assert "slack credentials refused; no channel paused" in polled.output and "channel gone" not in polled.output
    assert "PAUSED" not in runner.invoke(cli, ["subscriptions", *args]).output
