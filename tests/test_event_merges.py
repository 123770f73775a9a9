"""Events that hold in any arrival order: bridging merges, republished copies, rebuilds.

Through the real pipeline (topic rules, fingerprints, SQLite), the real command core, and
for threads the real Slack adapter against tests/slackmock.py on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from botsvc.config import load_config
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import Courier, RetryPolicy
from botsvc.models import CommandContext, FeedItem
from botsvc.service.app import open_app
from botsvc.store.explain import explain, render
from botsvc.store.feedback import report_not_relevant
from botsvc.store.merges import current_event
from botsvc.store.rebuild import rebuild_events
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
T0 = datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)
CHANNEL = "C0MERGES"


def story(guid: str, title: str, summary: str, source: str, hours: float = 0) -> FeedItem:
    return FeedItem(
        feed=source,
        guid=guid,
        link=f"https://{source.lower()}.example/{guid}",
        title=title,
        summary=summary,
        published=T0 + timedelta(hours=hours),
        source=source,
    )


# One story told first in two languages (two events: the Korean report names the officials
# in Hangul and the patrol aircraft, the English one the radar and where), then by a report
# that carries both.
ENGLISH = story(
    "en",
    "Japan and South Korea defence ministers agree radar incident prevention steps",
    "Kihara and Shin Won-sik met at the Shangri-La Dialogue in Singapore and settled the 2018 radar lock-on dispute.",
    "Wire",
)
KOREAN = story(
    "ko",
    "신원식, 기하라 日 방위상과 회담…초계기 문제 매듭",
    "신원식 국방부 장관이 기하라 미노루 일본 방위상과 회담하고 초계기 문제를 매듭지었다.",
    "Hangul",
    hours=1,
)
BRIDGE = story(
    "both",
    "Japan, South Korea defence chiefs end radar row: 신원식, 기하라와 초계기 문제 매듭",
    "Kihara and Shin Won-sik settled the 2018 radar lock-on dispute in Singapore; 초계기 문제를 매듭지었다.",
    "Third",
    hours=3,
)


class World:
    """A bot with one Slack channel subscribed, judging items and delivering as the service does."""

    def __init__(self, db: Path, slack: SlackMock) -> None:
        self.app = open_app(CONFIG, db)
        self.clock = T0
        self.app.processor.clock = lambda: self.clock
        self.slack = slack

    def run(self, text: str):
        context = CommandContext(platform="slack", channel=CHANNEL, workspace="T1", user="U1", can_manage=True)
        return asyncio.run(self.app.commands().run(text, context))

    def judge(self, *items: FeedItem):
        with self.app.store.atomic():
            return self.app.processor.process(list(items))

    def deliver(self):
        queue_digests(self.app.store, self.app.config, self.clock, realtime=True)
        adapter = SlackAdapter("xoxb-test", base_url=self.slack.base_url)

        async def go():
            try:
                courier = Courier(
                    self.app.store,
                    {"slack": adapter},
                    policy=RetryPolicy(base_delay=0, tries_per_flush=2),
                    clock=lambda: self.clock,
                    sleep=lambda seconds: asyncio.sleep(0),
                )
                return await courier.flush()
            finally:
                await adapter.stop()

        return asyncio.run(go())

    def top_level(self) -> list[str]:
        return [ts for ts, m in self.slack.messages.items() if not m["thread_ts"]]


@pytest.fixture
def world(db_at):
    with SlackMock() as slack:
        world = World(db_at("m.db"), slack)
        assert world.run("subscribe").ok
        yield world
        world.app.close()


def test_a_report_joining_two_open_events_merges_them_into_the_older(world):
    [english] = world.judge(ENGLISH)
    [korean] = world.judge(KOREAN)
    assert english.decision == korean.decision == "new" and english.event_id != korean.event_id
    [bridge] = world.judge(BRIDGE)
    survivor, absorbed = english.event_id, korean.event_id
    assert bridge.decision == "duplicate" and bridge.event_id == survivor
    assert f"event(s) {absorbed} merged into event {survivor}" in bridge.reason
    store = world.app.store
    assert {a["id"] for a in store.event_articles(survivor)} == {
        english.article_id,
        korean.article_id,
        bridge.article_id,
    }
    assert store.event(survivor)["member_count"] == 3 and store.event_articles(absorbed) == []
    assert current_event(store, absorbed) == survivor

    merge_line = f"merged event {absorbed} into {survivor} on 2024-06-01 via article {bridge.article_id}"
    timeline = world.run(f"timeline {absorbed}")  # the absorbed id still answers
    assert timeline.ok and f"merged into #{survivor}" in timeline.title
    assert any(merge_line in line.text for line in timeline.lines)
    assert sum("first report" in line.text or "then" in line.text for line in timeline.lines) == 3
    [found] = explain(store, KOREAN.link)
    assert merge_line in render(found)

    # The in-memory index moved the members too: a later report joins the one event.
    [later] = world.judge(replace(KOREAN, guid="ko2", link="https://hangul.example/ko2", source="Other", feed="Other"))
    assert later.event_id == survivor


def test_a_merged_event_keeps_its_first_alert_as_the_thread_and_its_mutes(world):
    [english] = world.judge(ENGLISH)
    assert world.deliver().delivered == 1
    [parent] = world.top_level()
    [korean] = world.judge(KOREAN)
    assert world.deliver().delivered == 1
    assert len(world.top_level()) == 2
    assert world.run(f"mute {korean.event_id}").ok
    report_not_relevant(
        world.app.store,
        event_id=korean.event_id,
        platform="slack",
        workspace="",
        channel=CHANNEL,
        user="U2",
        now=T0,
    )

    world.judge(BRIDGE)
    store = world.app.store
    mutes = store.query("SELECT event_id FROM event_mutes")
    assert mutes == [{"event_id": english.event_id}]  # the mute followed the reports
    assert store.query("SELECT event_id FROM relevance_feedback") == [{"event_id": english.event_id}]
    assert store.query("SELECT event_id FROM deliveries") == [{"event_id": english.event_id}]
    assert not world.run(f"mute {korean.event_id}").ok  # an old alert's button acts on the merged event
    world.deliver()
    assert len(world.top_level()) == 2 and world.slack.thread(parent) == []  # muted: nothing more


def test_a_bridging_report_goes_under_the_first_alert(world):
    [english] = world.judge(ENGLISH)
    world.deliver()
    [parent] = world.top_level()
    world.judge(KOREAN)
    world.deliver()
    world.judge(BRIDGE)
    report = world.deliver()
    assert report.delivered == 1 and report.failed == 0
    assert len(world.top_level()) == 2  # no new alert for the merged event
    [reply] = [m["text"] or str(m["blocks"]) for m in world.slack.thread(parent)]
    assert "Third" in str(world.slack.thread(parent))
    assert reply


def test_rebuild_events_keeps_mutes_and_not_relevant_reports_with_their_reports(world):
    [english] = world.judge(ENGLISH)
    [rewrite] = world.judge(
        story(
            "en2",
            "Japan, South Korea defence ministers agree on radar incident prevention steps in Singapore",
            "Kihara and Shin Won-sik met at the Shangri-La Dialogue and settled the 2018 radar lock-on dispute.",
            "Desk",
            hours=2,
        )
    )
    assert rewrite.event_id == english.event_id
    store = world.app.store
    assert world.run(f"mute {english.event_id}").ok
    report_not_relevant(
        store, event_id=english.event_id, platform="slack", workspace="", channel=CHANNEL, user="U2", now=T0
    )
    # A span of minutes splits the event: both parts stay muted, the report stays with the first.
    strict = replace(world.app.config.dedup, span_days=0.01, lead_hours=0.0)
    result = rebuild_events(store, strict)
    assert result.moved == 1
    parts = {store.article(english.article_id)["event_id"], store.article(rewrite.article_id)["event_id"]}
    assert len(parts) == 2
    assert {row["event_id"] for row in store.query("SELECT event_id FROM event_mutes")} == parts
    assert store.query("SELECT event_id FROM relevance_feedback") == [
        {"event_id": store.article(english.article_id)["event_id"]}
    ]
    # And back together: one event, muted once, the report with it.
    rebuild_events(store, world.app.config.dedup)
    [event] = {store.article(english.article_id)["event_id"], store.article(rewrite.article_id)["event_id"]}
    assert store.query("SELECT event_id FROM event_mutes") == [{"event_id": event}]
    assert store.query("SELECT event_id FROM relevance_feedback") == [{"event_id": event}]


def test_a_redated_copy_is_a_duplicate_and_a_template_headline_with_new_facts_is_news(db_at):
    config = load_config(CONFIG)
    app = open_app(CONFIG, db_at("c.db"), config=config)
    try:
        original = story(
            "2019",
            "Japan's defence white paper repeats claim to Takeshima, Seoul protests",
            "Japan's 2019 defence white paper, approved by the cabinet of Shinzo Abe on 27 September, "
            "again calls the islets Japanese territory; Seoul summoned the defence attache in protest.",
            "Wire",
        )
        original = replace(original, published=datetime(2019, 9, 27, 1, tzinfo=timezone.utc))
        with app.store.atomic():
            [first] = app.processor.process([original])
        assert first.decision == "new"
        redated = replace(
            original, guid="2026", link="https://mirror.example/2026", feed="Mirror", source="Mirror", published=T0
        )
        template = replace(
            redated,
            guid="2024",
            link="https://ledger.example/2024",
            feed="Ledger",
            source="Ledger",
            summary="Japan's 2024 defence white paper, approved by the cabinet of Fumio Kishida on 12 July, "
            "again calls the islets Japanese territory; Seoul summoned the defence attache in protest.",
        )
        with app.store.atomic():
            copy, news = app.processor.process([redated, template])
        assert copy.decision == "duplicate" and copy.article_id is None and copy.event_id == first.event_id
        assert copy.reason == f"republished copy of article {first.article_id} of 2019-09-27"
        assert news.decision == "new" and news.event_id != first.event_id
        [why] = explain(app.store, redated.link)
        assert why.verdict.startswith(f"suppressed: republished copy of article {first.article_id} of 2019-09-27")
    finally:
        app.close()
