"""People teach the bot: ``/news missed``, not-relevant reports as labelled examples, and the
learned judgement that applies them from the next cycle on.

Missed stories are loopback pages (BOTSVC_ALLOW_PRIVATE_FEEDS), reported through the real
Bolt app (tests/slackmock.py) and the Discord fake (tests/discordfake.py); the "running
bot" is a Processor made before the reports, as ``botsvc run`` keeps one.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from discordfake import DiscordFake
from slackenv import clear_slack_environment
from slackmock import SlackMock
from test_discord_commands import MANAGE_CHANNELS, MEMBER, embed_of, news
from test_discord_commands import run as discord_run
from test_slack_commands import adapter_for, exchange

from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.judge.learned import LEARNED_THRESHOLD
from botsvc.judge.relevance import Relevance
from botsvc.models import CommandContext, FeedItem
from botsvc.store import examples
from botsvc.store.events import EventBook
from botsvc.store.explain import explain, render
from botsvc.store.learning import relevance_report
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "examples" / "feeds.toml")
NOW = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)

MEMORIAL = (
    "Hiroshima memorial honours Korean atomic bomb victims in ceremony",
    "Officials laid wreaths at the cenotaph for Korean victims in Hiroshima, a first for the memorial.",
)
MEMORIAL_LATER = (
    "Korean atomic bomb victims honoured again at Hiroshima cenotaph ceremony",
    "Wreaths were laid at the cenotaph for Korean victims of the atomic bomb in Hiroshima.",
)
FOOTBALL = (
    "Japan and South Korea hold talks on football World Cup bid",
    "Football officials of Japan and South Korea held talks in Tokyo on a joint World Cup bid.",
)
FOOTBALL_LATER = (
    "South Korea and Japan football officials hold more talks on joint World Cup bid",
    "Football officials of South Korea and Japan held further talks in Seoul on their joint World Cup bid.",
)


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_slack_environment(monkeypatch)
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")


def page(title: str, lead: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{html.escape(title)} | Daily</title>"
        f'<meta property="og:title" content="{html.escape(title)}">'
        f'<meta property="og:description" content="{html.escape(lead)}"></head>'
        f"<body><p>{html.escape(lead)}</p></body></html>"
    ).encode()


def item(story: tuple[str, str], guid: str) -> FeedItem:
    """The story as a wire item; ``guid`` also ends the title (one title per item, as feeds have)."""
    title, lead = story
    title = f"{title} ({guid})"
    return FeedItem(
        feed="wire",
        guid=guid,
        link=f"https://wire.example/{guid}",
        title=title,
        summary=lead,
        published=NOW,
        source="Wire",
    )


def bot(store: Store) -> Processor:
    """The running bot's judging, made once (as ``botsvc run`` keeps it across cycles)."""
    return Processor(store, Relevance(CONFIG.topics), EventBook(store, CONFIG.dedup), clock=lambda: NOW)


def cycle(store: Store, processor: Processor, *items: FeedItem) -> list[str]:
    with store.atomic():
        return [o.decision for o in processor.process(list(items))]


def core_run(core: CommandCore, text: str, channel: str = "C1", user: str = "U1", manager: bool = True):
    context = CommandContext("slack", channel, "T1", user, can_manage=manager)
    return asyncio.run(core.run(text, context))


@pytest.fixture
def store(db_at: Any):
    db = open_store(db_at("bot.db"))
    yield db
    db.close()


@pytest.fixture
def slack():
    with SlackMock() as mock:
        yield mock


def served(feed_server: Any, name: str, story: tuple[str, str]) -> str:
    return feed_server.static(f"/{name}.html", page(*story), content_type="text/html; charset=utf-8")


def test_a_managers_missed_story_through_slack_is_stored_alerted_here_only_and_keeps_a_similar_item(
    store, slack, feed_server
):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    assert core_run(core, "subscribe").ok and core_run(core, "subscribe", channel="C2", user="U9").ok
    running = bot(store)
    assert cycle(store, running, item(MEMORIAL_LATER, "before")) == ["irrelevant"]  # the rules miss the story
    url = served(feed_server, "memorial", MEMORIAL)

    [(status, reply)] = exchange(slack, adapter_for(slack, core.run, managers=("U1",)), f"missed <{url}>", user="U1")

    assert status == 200
    text = "\n".join([reply["text"]] + [b["text"]["text"] for b in reply.get("blocks", [])])
    assert reply["text"].startswith("Thanks: ") and "reported as missed" in reply["text"]
    assert "Before: not seen." in text and "opened event #" in text
    assert "Stories like it are kept from the next poll on." in text
    assert "Its alert is posted in this channel only." in text
    [article] = store.query("SELECT id, event_id, relevance FROM articles WHERE url = ?", (url,))
    assert '"report"' in article["relevance"]
    outbox = store.query("SELECT channel FROM outbox")
    assert [row["channel"] for row in outbox] == ["C1"]  # never C2, whose manager did not report it
    assert store.event(article["event_id"])["held_back"] == "reported"

    # The next cycle of the running bot keeps a similar item (no restart), by the learned judgement.
    [outcome] = running.process([item(MEMORIAL_LATER, "after")])
    assert outcome.decision in ("new", "duplicate") and outcome.relevance["judgement"] == "learned"
    assert outcome.relevance["example"] == article["id"] and outcome.relevance["score"] >= LEARNED_THRESHOLD
    [why] = explain(store, outcome.item.link)
    assert f"decided by the learned judgement: like reported example article {article['id']} (relevant)" in render(why)
    [reported] = explain(store, url)
    assert "decided by a report: slack:U1 reported it as a missed story" in render(reported)
    assert "stored from a person's missed-story report" in reported.verdict


def test_a_refused_address_gets_the_one_generic_line_and_changes_nothing(store, slack):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    replies = exchange(
        slack,
        adapter_for(slack, core.run, managers=("U1",)),
        "missed http://169.254.169.254/latest/meta-data/",
        "missed file:///etc/passwd",
        user="U1",
    )
    assert [r["text"] for _, r in replies] == [
        "Not recorded: no feed could be fetched from that address.",
        "Not recorded: only http:// and https:// feed addresses can be added.",
    ]
    assert store.query("SELECT count(*) AS n FROM labelled_examples")[0]["n"] == 0
    assert store.query("SELECT count(*) AS n FROM articles")[0]["n"] == 0


def test_a_story_already_stored_says_so_and_a_members_report_counts_once_two_agree(store, feed_server):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    assert core_run(core, "subscribe").ok
    running = bot(store)
    url = served(feed_server, "football", FOOTBALL)
    [stored] = running.process([FeedItem("wire", url, url, *FOOTBALL, NOW, "Wire")])
    assert stored.decision == "new"

    first = core_run(core, f"missed {url}", user="U2", manager=False)
    lines = [line.text for line in first.lines]
    assert lines[0] == f"Before: already stored in event #{stored.event_id}."
    assert lines[-1] == "Recorded: stories like it are kept once another member reports it too."
    assert not examples.applied_examples(store)
    second = core_run(core, f"missed {url}", user="U3", manager=False)
    assert second.lines[-1].text == "Stories like it are kept from the next poll on."
    assert [(e.article_id, e.label) for e in examples.applied_examples(store)] == [
        (stored.article_id, examples.RELEVANT)
    ]
    again = core_run(core, f"missed {url}", user="U3", manager=False)
    assert again.title.startswith("You had already reported")
    listed = core_run(core, "reports")
    assert len(listed.lines) == 2 and all("applied" in line.text for line in listed.lines)


def test_a_non_managers_missed_story_opens_an_event_no_channel_is_told(store, feed_server):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    assert core_run(core, "subscribe").ok
    url = served(feed_server, "memorial", MEMORIAL)
    reply = core_run(core, f"missed {url}", user="U2", manager=False)
    assert reply.ok and "opened event #" in reply.lines[1].text
    assert "posted in this channel" not in " ".join(line.text for line in reply.lines)
    from botsvc.deliver.delivery import queue_digests

    queue_digests(store, CONFIG, NOW)
    assert store.query("SELECT count(*) AS n FROM outbox")[0]["n"] == 0
    running = bot(store)  # one member's report is recorded, not applied
    assert cycle(store, running, item(MEMORIAL_LATER, "later")) == ["irrelevant"]


def test_reports_are_rate_limited_per_member(store, feed_server):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    core.report_rate.per_hour = 2
    url = served(feed_server, "memorial", MEMORIAL)
    replies = [core_run(core, f"missed {url}", user="U2", manager=False) for _ in range(3)]
    assert [r.ok for r in replies] == [True, True, False]
    assert replies[2].title == "Not recorded: at most 2 reports an hour per person; please try later."
    limited = core_run(core, "notrelevant 1", user="U2", manager=False)  # the same limit for every report
    assert limited.title == replies[2].title
    assert core_run(core, f"missed {url}", user="U3", manager=False).ok  # another member is not limited


def test_missed_through_discord_by_a_manager_and_by_a_member(store, feed_server):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    memorial = served(feed_server, "memorial", MEMORIAL)
    football = served(feed_server, "football", FOOTBALL)
    with DiscordFake() as fake:
        discord_run(
            fake,
            core.run,
            news("subscribe", permissions=MEMBER | MANAGE_CHANNELS, topic="japan-korea"),
            news("missed", permissions=MEMBER | MANAGE_CHANNELS, url=memorial),
            news("reports"),
            news("missed", url="http://169.254.169.254/latest/meta-data/"),
            news("missed", url=football),
        )
        bodies = [c.json for c in fake.calls_to("webhook")] + [c.json.get("data") for c in fake.calls_to("interaction")]
        answers = [embed_of(body)["title"] for body in bodies if body and body.get("embeds")]
    assert any(title.startswith("Thanks: ") for title in answers), answers
    assert any(title.startswith("Reports, newest first") for title in answers), answers
    assert "Not recorded: no feed could be fetched from that address." in answers
    # The member's report is stored and listed, not applied; its event is told nowhere.
    assert len(examples.reports(store)) == 2
    [example] = examples.applied_examples(store)
    assert example.label == examples.RELEVANT
    assert [row["platform"] for row in store.query("SELECT platform FROM outbox")] == ["discord"]


def test_a_managers_not_relevant_report_drops_a_similar_later_item_and_one_members_does_not(store):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    running = bot(store)
    [first] = running.process([item(FOOTBALL, "match-1")])
    assert first.decision == "new"

    assert core_run(core, f"notrelevant {first.event_id}", user="U2", manager=False).ok
    assert cycle(store, running, item(FOOTBALL_LATER, "match-2")) != ["irrelevant"]  # one member: not applied

    assert core_run(core, f"notrelevant {first.event_id}", user="U1", manager=True).ok
    [dropped] = running.process([item(FOOTBALL_LATER, "match-3")])
    assert dropped.decision == "irrelevant" and "learned" in dropped.reason and "not relevant" in dropped.reason

    # Withdrawing the manager's report (botsvc reports drop) undoes it at the next cycle.
    manager_report = next(r for r in examples.reports(store) if r.manager)
    assert examples.withdraw(store, manager_report.id, NOW)
    assert cycle(store, running, item(FOOTBALL_LATER, "match-4")) != ["irrelevant"]


def test_relevance_report_leaves_each_example_out(store, feed_server):
    core = CommandCore(store, CONFIG, clock=lambda: NOW)
    one = served(feed_server, "memorial", MEMORIAL)
    two = served(feed_server, "memorial-2", MEMORIAL_LATER)
    assert core_run(core, f"missed {one}").ok and core_run(core, f"missed {two}").ok
    report = relevance_report(store, CONFIG)
    assert len(report.judged) == 2
    # Neither is kept by the rules; each is kept by the other (never by itself).
    assert all(j.relevant and j.decided_by.startswith("learned") for j in report.judged)
    assert {j.stored_by for j in report.judged} == {"report", "learned"} or {j.stored_by for j in report.judged} == {
        "report"
    }
    assert report.recall == 1.0 and report.precision == 1.0


def test_the_operator_commands_report_list_withdraw_and_measure(tmp_path, feed_server):
    from click.testing import CliRunner

    from botsvc.cli import cli

    db = str(tmp_path / "cli.db")
    open_store(db).close()
    config = str(ROOT / "examples" / "feeds.toml")

    def botsvc(*args: str):
        return CliRunner().invoke(cli, [*args, "--db", db, "--config", config], catch_exceptions=False)

    one = served(feed_server, "memorial", MEMORIAL)
    two = served(feed_server, "memorial-2", MEMORIAL_LATER)
    reported = botsvc("missed", one)
    assert reported.exit_code == 0 and "Before: not seen." in reported.output
    assert "Stories like it are kept from the next poll on." in reported.output  # an operator manages
    assert botsvc("missed", two).exit_code == 0
    refused = botsvc("missed", "http://169.254.169.254/")
    assert refused.exit_code == 1 and "no feed could be fetched from that address" in refused.output

    listed = botsvc("reports", "list")
    assert listed.exit_code == 0 and listed.output.count("· applied") == 2
    measured = botsvc("relevance", "report")
    assert measured.output.startswith("2 labelled example(s) (2 relevant, 0 not relevant), leave-one-out:")
    assert "recall 1.00" in measured.output and "by learned (score" in measured.output

    assert botsvc("reports", "drop", "1").output.startswith("Withdrew report #1")
    assert "withdrawn" in botsvc("reports", "list").output
    again = botsvc("reports", "drop", "1")
    assert again.exit_code == 1 and "no report #1 in force" in again.output
    measured = botsvc("relevance", "report")
    assert measured.output.startswith("1 labelled example(s)") and "recall 0.00" in measured.output


def test_missed_fetches_without_the_write_turn_and_writes_only_holding_it(store, feed_server):
    import time

    from botsvc.store.turn import WriteTurn

    turn = WriteTurn()
    store.refuse_writes_unless(turn.held_here)  # as `botsvc run` makes the loop's connection
    turn.on_change.append(store.recheck_writes)
    core = CommandCore(store, CONFIG, clock=lambda: NOW, turn=turn)
    slow = feed_server.slow("/slow.html", 1.5, page(*MEMORIAL))
    manager = CommandContext("slack", "C1", "T1", "U1", can_manage=True)
    elsewhere = CommandContext("slack", "C2", "T1", "U1", can_manage=True)

    async def main():
        reporting = asyncio.ensure_future(core.run(f"missed {slow}", manager))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        subscribed = await core.run("subscribe", elsewhere)
        waited = time.monotonic() - started
        assert not reporting.done()
        return waited, subscribed, await reporting

    waited, subscribed, reported = asyncio.run(main())
    assert subscribed.ok and reported.ok, (subscribed.title, reported.title)
    assert waited < 0.5  # the page was still loading: the turn was free
    assert [e.label for e in examples.applied_examples(store)] == [examples.RELEVANT]
