"""An alert's buttons in the command core: timeline, mute and not relevant, through the real
core, store and delivery (queue_digests and the outbox), and what status and explain show."""

import asyncio

import pytest
from click.testing import CliRunner
from test_channel_controls import CONFIG, DAY, LABOUR, PACT, ctx, deliver, judge, opened, story, told, world

from botsvc.cli import cli

__all__ = ["world"]  # the fixture, used by name


def run(world, text, channel="C1", manager=True, user="U1"):
    context = ctx(channel, manager)
    context = type(context)(context.platform, context.channel, context.workspace, user, context.can_manage)
    return asyncio.run(world["app"].commands().run(text, context))


def event_of(world, title):
    rows = world["app"].store.query("SELECT event_id FROM articles WHERE title = ?", (title,))
    return rows[0]["event_id"]


def state(world):
    store = world["app"].store
    return (
        store.query("SELECT * FROM event_mutes ORDER BY subscription_id, event_id"),
        store.query("SELECT * FROM relevance_feedback ORDER BY id"),
    )


def grow(world, guid, title, minutes, source):
    judge(world, story(guid, title, minutes=minutes, source=source))


@pytest.fixture
def alerted(world):
    for channel in ("C1", "C2"):
        assert run(world, "subscribe", channel).ok
    judge(world, story("pact", PACT), story("labour", LABOUR, minutes=30 * DAY))
    sent = deliver(world)
    assert told(sent, "C1") == [{PACT, LABOUR}] and told(sent, "C2") == [{PACT, LABOUR}]
    return world


def test_timeline_is_the_event_timeline_only_for_the_caller(alerted):
    event = event_of(alerted, PACT)
    reply = run(alerted, f"timeline {event}", manager=False)
    assert reply.ok and reply.ephemeral
    assert reply.title.startswith(f"Event #{event}: ") and reply.lines[0].text.startswith("first report: Wire")
    assert run(alerted, f"timeline {event}") == run(alerted, f"event {event}")


def test_a_muted_event_gets_no_more_update_lines_in_that_channel_only(alerted):
    pact = event_of(alerted, PACT)
    reply = run(alerted, f"mute {pact}", "C1")
    assert (
        reply.ok
        and reply.ephemeral
        and reply.title == f"Muted event #{pact}: this channel gets no more updates about it."
    )
    again = run(alerted, f"mute #{pact}", "C1")
    assert not again.ok and "already muted" in again.title

    grow(alerted, "pact-2", PACT + " as deadline passes", 5, "Kyodo")
    grow(alerted, "labour-2", LABOUR + " in landmark ruling", 30 * DAY + 5, "Other")
    later = deliver(alerted)
    # the labour update (its new report, for the alert's thread); the muted pact's is skipped
    assert told(later, "C1") == [{LABOUR + " in landmark ruling"}]
    # the other channel still gets both updates (one thread message each)
    assert set().union(*told(later, "C2")) == {PACT + " as deadline passes", LABOUR + " in landmark ruling"}


def test_mute_is_for_channel_managers_and_bad_ids_change_nothing(alerted):
    pact = event_of(alerted, PACT)
    before = state(alerted)
    refused = run(alerted, f"mute {pact}", manager=False)
    assert not refused.ok and refused.title == "Sorry, only people who manage this channel can use `mute`."
    for text in ("mute", "mute 12 13", "mute abc", "mute 999999", "notrelevant 999999", "notrelevant x", "timeline"):
        reply = run(alerted, text)
        assert not reply.ok and "usage" in reply.title, text
    unsubscribed = run(alerted, f"mute {pact}", "C9")
    assert not unsubscribed.ok and "no subscriptions" in unsubscribed.title
    assert state(alerted) == before


def test_not_relevant_is_counted_once_per_person_and_hides_only_for_a_manager(alerted):
    pact = event_of(alerted, PACT)
    member = run(alerted, f"notrelevant {pact}", "C1", manager=False, user="U2")
    assert member.ok and member.title == f"Thanks: event #{pact} is marked not relevant."
    assert [line.text for line in member.lines] == [
        "Not relevant so far: 1 report(s) from 1 channel(s); it matched GSOMIA, intelligence pact, Japan, Korea, "
        "South Korea.",
        "A channel manager can hide it from this channel (Mute event).",
    ]
    mutes, reports = state(alerted)
    assert mutes == [] and [(r["event_id"], r["channel"], r["user"]) for r in reports] == [(pact, "C1", "U2")]

    twice = run(alerted, f"notrelevant {pact}", "C1", manager=False, user="U2")
    assert twice.ok and "already marked" in twice.title
    assert len(state(alerted)[1]) == 1

    manager = run(alerted, f"notrelevant {pact}", "C1", user="U1")
    assert manager.ok and manager.lines[-1].text == "It is hidden from this channel: no more updates about it."
    assert manager.lines[0].text.startswith("Not relevant so far: 2 report(s) from 1 channel(s);")
    mutes, reports = state(alerted)
    assert [(m["event_id"], m["reason"], m["muted_by"]) for m in mutes] == [(pact, "not relevant", "slack:U1")]
    assert [r["reported_at"] for r in reports][0].startswith("2019-08-22")

    # A manager's report is also a labelled example: a later report like it is dropped everywhere.
    grow(alerted, "pact-2", PACT + " as deadline passes", 5, "Kyodo")
    later = deliver(alerted)
    assert told(later, "C1") == [] and told(later, "C2") == []


def test_one_member_reporting_from_every_channel_and_a_dm_counts_once(alerted):
    pact = event_of(alerted, PACT)
    replies = [run(alerted, f"notrelevant {pact}", f"C{n}", manager=False, user="U2") for n in range(1, 9)]
    replies.append(run(alerted, f"notrelevant {pact}", "D1", manager=False, user="U2"))
    assert [r.ok for r in replies] == [True] * 9
    assert replies[0].title == f"Thanks: event #{pact} is marked not relevant."
    assert all(r.title == f"You had already marked event #{pact} not relevant; counted once." for r in replies[1:])
    assert all(r.lines[0].text.startswith("Not relevant so far: 1 report(s) from 1 channel(s);") for r in replies)
    reports = state(alerted)[1]
    assert [(r["event_id"], r["channel"], r["user"]) for r in reports] == [(pact, "C1", "U2")]

    # A manager's report in another channel still hides the event there, and counts once too.
    first = run(alerted, f"notrelevant {pact}", "C1", user="U1")
    again = run(alerted, f"notrelevant {pact}", "C2", user="U1")
    assert first.ok and "Thanks" in first.title and "already marked" in again.title
    assert again.lines[-1].text == "It is hidden from this channel: no more updates about it."
    assert len(state(alerted)[1]) == 2


def test_status_and_explain_show_which_keywords_bring_unwanted_alerts(alerted):
    pact, labour = event_of(alerted, PACT), event_of(alerted, LABOUR)
    run(alerted, f"notrelevant {pact}", "C1", user="U1")
    run(alerted, f"notrelevant {pact}", "C2", user="U2")
    run(alerted, f"notrelevant {labour}", "C2", user="U2")
    alerted["app"].close()
    args = ["--db", str(alerted["db"]), "--config", str(CONFIG)]
    status = CliRunner().invoke(cli, ["status", *args], catch_exceptions=False).output
    line = next(line for line in status.splitlines() if line.startswith("not relevant:"))
    assert line.startswith("not relevant: 3 report(s) on 2 event(s) from 2 channel(s); most from keywords ")
    assert "topics japan-korea (3)" in line
    explained = CliRunner().invoke(cli, ["explain", "https://wire.example/pact", *args], catch_exceptions=False)
    assert "  not relevant: 2 report(s) from 2 channel(s); it matched GSOMIA, " in explained.output
    quiet = CliRunner().invoke(cli, ["explain", "https://wire.example/curbs", *args], catch_exceptions=False)
    assert "not relevant" not in quiet.output
    alerted["app"] = opened(alerted["db"], alerted["clock"])


def test_help_lists_the_button_commands(world):
    lines = [line.text for line in run(world, "help").lines]
    assert any(line.startswith("/news mute <id>") for line in lines)
    assert any(line.startswith("/news notrelevant <id>") for line in lines)
