"""Subscriptions, what is queued for them, and the outbox's sending, retrying and holding."""

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botsvc.config import load_config
from botsvc.deliver.adapter import Adapter, DeliveryError, Limits
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import Courier, RetryPolicy, pending
from botsvc.deliver.subscriptions import SubscriptionError, all_subscriptions, parse_mode, subscribe, unsubscribe
from botsvc.models import FeedItem
from botsvc.service.app import open_app

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
T0 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)


class FakeAdapter(Adapter):
    """Renders one payload per event and fails as scripted."""

    name = "slack"
    limits = Limits(max_chars=3000, max_events=1)

    def __init__(self, script=()):
        self.script = list(script)
        self.sent = []

    def render(self, digest):
        return [f"{'UPDATE ' if e.update else ''}{e.headline.title}" for e in digest.events]

    async def send(self, channel, payload, *, key=None):
        if self.script:
            outcome = self.script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
        self.sent.append((channel.channel, payload))
        return f"m{len(self.sent)}"


def story(guid, title, source="Wire", minutes=0):
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower()}.example/{guid}",
        title=title,
        summary="",
        published=T0 + timedelta(minutes=minutes),
        source=source,
    )


CURBS = "Japan tightens export controls on chip materials bound for South Korea"
WHITE = "Seoul court orders Mitsubishi Heavy to compensate wartime forced labourers"


@pytest.fixture
def app(db_at):
    clock = [T0]
    application = open_app(CONFIG, db_at("d.db"))
    application.processor.clock = lambda: clock[0]
    application.clock = clock
    yield application
    application.close()


def judge(app, *items):
    with app.store.atomic():
        return app.processor.process(list(items))


def flush(app, adapter, **policy):
    courier = Courier(
        app.store,
        {"slack": adapter},
        policy=RetryPolicy(base_delay=0, **policy),
        clock=app.processor.clock,
        sleep=lambda s: asyncio.sleep(0),
    )
    return asyncio.run(courier.flush())


def sub(app, channel="C1", mode="realtime"):
    return subscribe(
        app.store, platform="slack", channel=channel, topic="japan-korea", mode=parse_mode(mode), now=app.clock[0]
    )[0]


def test_modes_parse_and_bad_ones_are_refused():
    assert str(parse_mode(None)) == "realtime" and str(parse_mode("hourly")) == "hourly"
    assert str(parse_mode("daily 9:05 Asia/Seoul")) == "daily 09:05 Asia/Seoul"
    assert str(parse_mode("daily 18:00")) == "daily 18:00 UTC"
    for bad in ("weekly", "daily 24:00", "daily 9", "daily 09:00 Mars/Base"):
        with pytest.raises(SubscriptionError):
            parse_mode(bad)


def test_daily_and_hourly_due_moments():
    now = datetime(2026, 3, 1, 0, 30, tzinfo=timezone.utc)  # 09:30 in Seoul
    assert parse_mode("daily 09:00 Asia/Seoul").last_due(now) == datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    assert parse_mode("daily 10:00 Asia/Seoul").last_due(now) == datetime(2026, 2, 28, 1, 0, tzinfo=timezone.utc)
    assert parse_mode("hourly").last_due(now) == datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    assert parse_mode("realtime").last_due(now) is None


def test_resubscribing_updates_the_mode_and_never_duplicates(app):
    first = sub(app)
    again, created = subscribe(
        app.store, platform="slack", channel="C1", topic="japan-korea", mode=parse_mode("hourly"), now=T0
    )
    assert not created and again.id == first.id and str(again.mode) == "hourly"
    assert len(all_subscriptions(app.store)) == 1
    assert unsubscribe(app.store, platform="slack", channel="C1", topic=None) == 1


def test_realtime_alert_once_then_growth_only_as_an_update_line(app):
    sub(app)
    judge(app, story("a", CURBS))
    adapter = FakeAdapter()
    report = flush(app, adapter) if queue_digests(app.store, app.config, T0) else None
    assert report.delivered == 1 and adapter.sent == [("C1", CURBS)]

    assert queue_digests(app.store, app.config, T0) == []  # nothing new: nothing queued

    judge(app, story("b", CURBS + " amid feud", source="Other", minutes=30))  # a rewrite joins the event
    judge(app, story("c", WHITE, minutes=60))
    queue_digests(app.store, app.config, T0)
    flush(app, adapter)
    # This adapter has no threads: the update comes in the channel, after the new alert, with the new headline.
    assert adapter.sent[1:] == [("C1", WHITE), ("C1", f"UPDATE {CURBS} amid feud")]


def test_a_new_subscription_is_not_sent_the_history(app):
    judge(app, story("a", CURBS))
    app.clock[0] = T0 + timedelta(hours=1)
    sub(app)
    assert queue_digests(app.store, app.config, app.clock[0]) == []


def test_rate_limit_and_server_errors_are_retried_then_kept_for_the_next_flush(app):
    sub(app)
    judge(app, story("a", CURBS), story("c", WHITE, minutes=60))
    queue_digests(app.store, app.config, T0)
    adapter = FakeAdapter([DeliveryError("429", retry_after=0), DeliveryError("500")])
    report = flush(app, adapter)
    assert report.delivered == 1 and len(adapter.sent) == 2  # two parts after two retries

    judge(app, story("d", "South Korean shoppers boycott Japanese beer and Uniqlo", minutes=90))
    queue_digests(app.store, app.config, T0)
    down = FakeAdapter([DeliveryError("500")] * 10)
    report = flush(app, down, tries_per_flush=3)
    assert report.delivered == 0 and report.waiting == 1 and down.sent == []
    [row] = pending(app.store)
    assert row["attempts"] == 3 and row["last_error"] == "500"

    up = FakeAdapter()
    assert flush(app, up).delivered == 1 and len(up.sent) == 1


def test_a_split_message_resumes_at_the_first_unsent_part(app):
    sub(app)
    judge(app, story("a", CURBS), story("c", WHITE, minutes=60))
    queue_digests(app.store, app.config, T0)
    adapter = FakeAdapter([None, DeliveryError("500")] + [DeliveryError("500")] * 5)
    flush(app, adapter, tries_per_flush=2)
    assert len(adapter.sent) == 1
    [row] = pending(app.store)
    assert row["parts_sent"] == 1

    again = FakeAdapter()
    flush(app, again)
    assert [p for _, p in adapter.sent + again.sent] == [WHITE, CURBS]  # each part once


def test_a_gone_channel_holds_its_messages_and_pauses_until_resubscribed(app, caplog):
    sub(app)
    judge(app, story("a", CURBS))
    queue_digests(app.store, app.config, T0)
    report = flush(app, FakeAdapter([DeliveryError("channel_not_found", scope="channel")]))
    assert report.held == 1 and pending(app.store) == []
    [paused] = all_subscriptions(app.store)
    assert paused.paused and "channel_not_found" in paused.paused_reason
    assert "subscriptions are paused" in caplog.text

    judge(app, story("c", WHITE, minutes=60))
    assert queue_digests(app.store, app.config, T0) == []  # paused: nothing more queued

    sub(app)  # resume
    adapter = FakeAdapter()
    queue_digests(app.store, app.config, T0)
    assert flush(app, adapter).delivered == 2
    assert [p for _, p in adapter.sent] == [CURBS, WHITE]  # held message first, in order


def test_a_platform_without_credentials_keeps_its_messages(app):
    sub(app)
    judge(app, story("a", CURBS))
    queue_digests(app.store, app.config, T0)
    courier = Courier(app.store, {}, clock=app.processor.clock)
    report = asyncio.run(courier.flush())
    assert report.waiting == 1
    assert "no slack adapter configured" in pending(app.store)[0]["last_error"]


def test_scheduled_subscriptions_get_one_digest_per_scheduled_moment(app):
    app.clock[0] = T0 + timedelta(minutes=1)
    sub(app, mode="hourly")
    judge(app, story("a", CURBS))
    # New: the first digest waits for the next hour, not the next poll.
    assert queue_digests(app.store, app.config, T0 + timedelta(minutes=5), realtime=True) == []
    assert queue_digests(app.store, app.config, T0 + timedelta(minutes=65))
    assert queue_digests(app.store, app.config, T0 + timedelta(minutes=70)) == []
    judge(app, story("c", WHITE, minutes=60))
    assert queue_digests(app.store, app.config, T0 + timedelta(minutes=90)) == []  # not due yet
    assert queue_digests(app.store, app.config, T0 + timedelta(minutes=125))


def test_a_new_daily_subscription_first_fires_at_its_time(app):
    app.clock[0] = datetime(2019, 8, 22, 1, 0, tzinfo=timezone.utc)  # 10:00 in Seoul
    sub(app, mode="daily 09:00 Asia/Seoul")
    judge(app, story("a", CURBS))
    for hours in (0, 6, 22):  # the day's 09:00 had passed when it subscribed
        assert queue_digests(app.store, app.config, app.clock[0] + timedelta(hours=hours, minutes=1)) == []
    assert queue_digests(app.store, app.config, app.clock[0] + timedelta(hours=23, minutes=1))


def test_config_subscriptions_are_stored_and_console_is_the_default(db_at):
    config = load_config(CONFIG)
    plain = open_app(CONFIG, db_at("a.db"), config=config)
    plain.sync_subscriptions()
    [default] = all_subscriptions(plain.store)
    assert (default.platform, default.channel, default.origin) == ("console", "stdout", "default")
    plain.close()

    from botsvc.config import SubscriptionConfig

    configured = replace(
        config, subscriptions=(SubscriptionConfig("discord", "123", "japan-korea", "daily 08:00 Asia/Tokyo"),)
    )
    app = open_app(CONFIG, db_at("b.db"), config=configured)
    app.sync_subscriptions()
    app.sync_subscriptions()
    [only] = all_subscriptions(app.store)
    assert only.platform == "discord" and str(only.mode) == "daily 08:00 Asia/Tokyo" and only.origin == "config"
    app.close()
