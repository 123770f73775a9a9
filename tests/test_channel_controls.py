"""/news filter, pause, resume and quiet: through the real command core, real store and real
delivery (queue_digests and the outbox Courier) with an injected clock."""

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli
from botsvc.deliver.adapter import Adapter, Limits
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.digest import digest_from_json
from botsvc.deliver.outbox import Courier, RetryPolicy
from botsvc.deliver.quiet import QuietHoursError, parse_quiet_hours
from botsvc.deliver.subscriptions import all_subscriptions, parse_mode, pause, subscribe
from botsvc.models import CommandContext, FeedItem
from botsvc.service.app import open_app

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
T0 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)  # 19:00 in Seoul
DAY = 60 * 24  # minutes

PACT = "South Korea scraps GSOMIA intelligence pact with Japan"
PACT_JA = "韓国政府、GSOMIAの破棄を日本に通告"
CURBS = "Japan tightens export controls on chip materials bound for South Korea"
CURBS_KO = "일본 정부, 한국 대상 반도체 소재 수출규제 발표"
BOYCOTT = "South Korean shoppers boycott Japanese beer and Uniqlo"
LABOUR = "Seoul court orders Mitsubishi Heavy to compensate wartime forced labourers"


class Recorder(Adapter):
    """Posts nothing anywhere: records each digest's headlines as one payload."""

    name = "slack"
    limits = Limits(max_chars=3000, max_events=50)

    def __init__(self):
        self.sent = []
        self.zones = []

    def render(self, digest):
        self.zones.append(digest.zone)
        return [tuple(e.headline.title for e in digest.events)]

    async def send(self, channel, payload, *, key=None):
        self.sent.append((channel.channel, payload))
        return f"m{len(self.sent)}"


def ctx(channel="C1", manager=True):
    return CommandContext(platform="slack", channel=channel, workspace="T1", user="U1", can_manage=manager)


def opened(db, clock):
    application = open_app(CONFIG, db)
    application.processor.clock = lambda: clock[0]
    return application


@pytest.fixture
def world(db_at):
    clock = [T0]
    app = opened(db_at("d.db"), clock)
    holder = {"app": app, "clock": clock, "db": db_at("d.db")}
    yield holder
    holder["app"].close()


def run(world, text, channel="C1", manager=True):
    return asyncio.run(world["app"].commands().run(text, ctx(channel, manager)))


def story(guid, title, minutes=0, source="Wire"):
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower()}.example/{guid}",
        title=title,
        summary="",
        published=T0 + timedelta(minutes=minutes),
        source=source,
    )


def judge(world, *items):
    app = world["app"]
    with app.store.atomic():
        app.processor.process(list(items))


def deliver(world, *, realtime=True):
    """One delivery as the service runs it: queue what is due, then flush the outbox."""
    app = world["app"]
    now = world["clock"][0]
    queue_digests(app.store, app.config, now, realtime=realtime)
    adapter = Recorder()
    courier = Courier(app.store, {"slack": adapter}, policy=RetryPolicy(base_delay=0), clock=lambda: now)
    asyncio.run(courier.flush())
    return adapter


def told(adapter, channel):
    return [set(payload) for where, payload in adapter.sent if where == channel]


def controls(world):
    """Everything the control commands may change."""
    store = world["app"].store
    subs = [(s.channel, s.topic, s.muted_at, str(s.quiet)) for s in all_subscriptions(store)]
    words = store.query("SELECT * FROM subscription_filters ORDER BY subscription_id, kind, word")
    return subs, words


def test_include_words_in_english_korean_and_japanese_and_exclude_words(world):
    for channel in ("C1", "C2", "C3"):
        assert run(world, "subscribe", channel).ok
    reply = run(world, "filter add gsomia 수출규제", "C1")
    assert reply.ok and reply.ephemeral
    assert [line.text for line in reply.lines] == ["only news mentioning at least one of: gsomia, 수출규제"]
    assert run(world, "filter add -boycott", "C2").ok

    judge(
        world,
        story("pact", PACT),
        story("pact-ja", PACT_JA, minutes=30 * DAY, source="Kyodo"),  # "GSOMIAの": a Latin word touching Japanese
        story("curbs-ko", CURBS_KO, minutes=60 * DAY, source="Yonhap"),
        story("boycott", BOYCOTT, minutes=90 * DAY),
        story("labour", LABOUR, minutes=120 * DAY),
    )
    sent = deliver(world)
    assert told(sent, "C1") == [{PACT, PACT_JA, CURBS_KO}]
    assert told(sent, "C2") == [{PACT, PACT_JA, CURBS_KO, LABOUR}]
    assert told(sent, "C3") == [{PACT, PACT_JA, CURBS_KO, BOYCOTT, LABOUR}]  # other channels unaffected

    # Filtered out means never sent: not after the filter goes, not as an update line when the event grows.
    assert run(world, "filter remove gsomia 수출규제", "C1").ok
    judge(world, story("labour-2", LABOUR + " in landmark ruling", minutes=120 * DAY + 5, source="Other"))
    later = deliver(world)
    # C2's update (the new report, in the alert's thread where there is one); C1 never had the event.
    assert told(later, "C1") == [] and told(later, "C2") == [{LABOUR + " in landmark ruling"}]

    # A word excluded later stops update lines too.
    assert run(world, "filter add -mitsubishi", "C3").ok
    judge(world, story("labour-3", LABOUR + " after appeal fails", minutes=120 * DAY + 9, source="Third"))
    grown = deliver(world)
    assert told(grown, "C3") == [] and told(grown, "C2") == [{LABOUR + " after appeal fails"}]  # C2's update

    listed = run(world, "filter list", "C1")
    assert listed.ok and "no filters" in listed.title
    listed = run(world, "filter list", "C2")
    assert [line.text for line in listed.lines] == ["never news mentioning: boycott"]


def test_a_phrase_is_written_with_hyphens_and_matches_like_a_topic_term(world):
    run(world, "subscribe")
    assert run(world, "filter add export-controls").ok
    judge(world, story("curbs", CURBS), story("pact", PACT, minutes=30 * DAY))
    assert told(deliver(world), "C1") == [{CURBS}]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("filter add 日", "single character"),
        ("filter add -한", "single character"),
        ("filter add", "at least one word"),
        ("filter add --", "no letters"),
        ("filter remove boycott", "no filter 'boycott'"),
        ("filter remove gsomia -boycott", "no filter '-boycott'"),  # all or nothing: gsomia stays
        ("filter", "expected `filter add"),
        ("filter list gsomia", "takes no words"),
        ("pause now", "takes no arguments"),
        ("resume please", "takes no arguments"),
        ("quiet tonight", "expected a range"),
        ("quiet 25:00-07:00 Asia/Seoul", "not a time of day"),
        ("quiet 22:00-22:00 Asia/Seoul", "same time"),
        ("quiet 22:00-07:00 Mars/Base", "unknown time zone"),
        ("quiet 22:00-07:00 Asia", "unknown time zone"),
    ],
)
def test_bad_input_gets_one_usage_line_and_changes_nothing(world, text, problem):
    run(world, "subscribe")
    run(world, "filter add gsomia")
    before = controls(world)
    reply = run(world, text)
    assert not reply.ok and problem in reply.title and "usage:" in reply.title
    assert controls(world) == before


def test_a_channel_without_subscriptions_is_told_to_subscribe_first(world):
    for text in ("filter add gsomia", "pause", "quiet 22:00-07:00 Asia/Seoul"):
        reply = run(world, text)
        assert not reply.ok and "no subscriptions" in reply.title
    assert world["app"].store.query("SELECT * FROM subscription_filters") == []


def test_control_commands_are_refused_to_people_who_do_not_manage_the_channel(world):
    run(world, "subscribe")
    before = controls(world)
    for text in ("filter add gsomia", "filter remove gsomia", "filter list", "pause", "resume", "quiet off"):
        reply = run(world, text, manager=False)
        assert not reply.ok and "only people who manage this channel" in reply.title
    assert controls(world) == before


def test_pause_sends_nothing_and_resume_lets_nothing_from_the_pause_flood_in(world):
    run(world, "subscribe", "C1")
    run(world, "subscribe", "C2")
    judge(world, story("curbs", CURBS))
    queue_digests(world["app"].store, world["app"].config, T0)  # queued before the pause, not yet sent

    reply = run(world, "pause", "C1")
    assert reply.ok and "never sent here" in reply.lines[0].text
    assert run(world, "pause", "C1").ok is False  # already paused
    [c1] = [s for s in all_subscriptions(world["app"].store) if s.channel == "C1"]
    assert c1.muted and not c1.paused  # not the "channel gone" pause: status and re-subscribe keep working
    assert "paused from chat" in run(world, "subscriptions", "C1").lines[0].text

    world["clock"][0] = T0 + timedelta(minutes=10)
    judge(world, story("pact", PACT, minutes=30 * DAY))
    for realtime in (True, False):
        sent = deliver(world, realtime=realtime)
        assert told(sent, "C1") == []
        if realtime:
            assert told(sent, "C2") == [{CURBS}, {PACT}]

    world["clock"][0] = T0 + timedelta(minutes=20)
    reply = run(world, "resume", "C1")
    assert reply.ok and reply.lines[0].text.startswith("1 event(s) opened while paused were skipped")
    sent = deliver(world)
    assert told(sent, "C1") == [{CURBS}]  # what was queued before the pause; the pause's event never comes

    world["clock"][0] = T0 + timedelta(minutes=30)
    judge(world, story("labour", LABOUR, minutes=60 * DAY))
    assert told(deliver(world), "C1") == [{LABOUR}]
    assert run(world, "resume", "C1").ok is False  # not paused


def test_quiet_hours_hold_alerts_and_send_them_once_as_one_digest_across_a_restart(world):
    run(world, "subscribe")
    reply = run(world, "quiet 22:00-07:00 Asia/Seoul")
    assert reply.ok and "one digest at 07:00" in reply.title
    assert run(world, "quiet").title == "Quiet hours: 22:00-07:00 Asia/Seoul."

    world["clock"][0] = datetime(2019, 8, 22, 14, 0, tzinfo=timezone.utc)  # 23:00 in Seoul: quiet
    judge(world, story("curbs", CURBS))
    assert told(deliver(world), "C1") == []
    world["clock"][0] = datetime(2019, 8, 22, 16, 30, tzinfo=timezone.utc)  # 01:30: still quiet
    judge(world, story("pact", PACT, minutes=30 * DAY))
    assert told(deliver(world), "C1") == []
    world["clock"][0] = datetime(2019, 8, 22, 21, 59, tzinfo=timezone.utc)  # 06:59
    assert told(deliver(world, realtime=False), "C1") == []

    world["app"].close()  # a restart in the middle of the quiet hours
    world["clock"][0] = datetime(2019, 8, 22, 22, 0, tzinfo=timezone.utc)  # 07:00 in Seoul: the window ends
    world["app"] = opened(world["db"], world["clock"])

    sent = deliver(world, realtime=False)  # the minute's delivery, no poll needed
    assert told(sent, "C1") == [{CURBS, PACT}] and sent.zones == ["Asia/Seoul"]
    [row] = world["app"].store.query("SELECT digest FROM outbox WHERE status = 'delivered'")
    assert digest_from_json(row["digest"]).zone == "Asia/Seoul"
    for realtime in (True, False):
        assert told(deliver(world, realtime=realtime), "C1") == []  # exactly once

    world["clock"][0] = datetime(2019, 8, 22, 23, 0, tzinfo=timezone.utc)  # 08:00: alerts flow as they come
    judge(world, story("labour", LABOUR, minutes=60 * DAY))
    assert told(deliver(world), "C1") == [{LABOUR}]

    assert run(world, "quiet off").ok
    assert all(s.quiet is None and s.zone == "UTC" for s in all_subscriptions(world["app"].store))


def test_a_topic_subscribed_later_takes_the_channels_controls(world):
    store = world["app"].store
    run(world, "subscribe")
    run(world, "filter add gsomia -boycott")
    run(world, "quiet 22:00-07:00 Asia/Seoul")
    run(world, "pause")
    new, created = subscribe(
        store, platform="slack", workspace="T1", channel="C1", topic="other", mode=parse_mode(None), now=T0
    )
    assert created and new.muted and str(new.quiet) == "22:00-07:00 Asia/Seoul"
    words = store.query(
        "SELECT word, kind FROM subscription_filters WHERE subscription_id = ? ORDER BY word", (new.id,)
    )
    assert words == [{"word": "boycott", "kind": "exclude"}, {"word": "gsomia", "kind": "include"}]


def test_quiet_hours_windows_and_their_zone():
    night = parse_quiet_hours("22:00-07:00 Asia/Seoul")
    seoul = lambda h, m=0: datetime(2026, 3, 1, h, m, tzinfo=timezone(timedelta(hours=9)))  # noqa: E731
    assert night.is_quiet(seoul(22)) and night.is_quiet(seoul(3)) and not night.is_quiet(seoul(7))
    assert not night.is_quiet(seoul(21, 59)) and night.is_quiet(seoul(6, 59))
    day = parse_quiet_hours("12:00-13:30")
    assert day.zone == "UTC" and day.is_quiet(datetime(2026, 3, 1, 13, 0, tzinfo=timezone.utc))
    with pytest.raises(QuietHoursError):
        parse_quiet_hours("7-22")


def test_status_and_subscriptions_tell_a_chat_pause_from_a_gone_channel(world):
    run(world, "subscribe", "C1")
    run(world, "subscribe", "C2")
    run(world, "pause", "C1")
    run(world, "quiet 22:00-07:00 Asia/Seoul", "C1")
    [_, c2] = all_subscriptions(world["app"].store)
    with world["app"].store.atomic():
        pause(world["app"].store, c2.id, "channel_not_found", T0)
    world["app"].close()
    args = ["--db", str(world["db"]), "--config", str(CONFIG)]
    status = CliRunner().invoke(cli, ["status", *args], catch_exceptions=False).output
    assert "paused: slack:T1/C2 (japan-korea): channel_not_found" in status
    assert "paused from chat: slack:T1/C1 (japan-korea) since 2019-08-22" in status
    listing = CliRunner().invoke(cli, ["subscriptions", *args], catch_exceptions=False).output
    assert "active, paused from chat since" in listing and "quiet 22:00-07:00 Asia/Seoul" in listing
    world["app"] = opened(world["db"], world["clock"])
