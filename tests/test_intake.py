"""The intake thread and the write turn (botsvc/service/intake.py), driven directly."""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.service.intake import Intake
from botsvc.store.store import WriteOutsideTurn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"
MANAGER = CommandContext(platform="slack", channel="C9", workspace="T9", user="U9", can_manage=True)


def long_feed_transaction(store, seconds: float) -> None:
    """Stands in for storing a big feed: one write transaction, SQL all along."""
    with store.atomic():
        store.ensure_feed("Big", "https://big.example/rss")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            store.db.execute("SELECT count(*) FROM seen_items").fetchone()
            time.sleep(0.005)


async def max_gap_while(task: asyncio.Task) -> float:
    """The longest the loop went without running this coroutine until ``task`` ended."""
    gap, last = 0.0, time.monotonic()
    while not task.done():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        gap, last = max(gap, now - last), now
    return gap


def test_commands_that_write_wait_their_turn_without_blocking_the_loop(db_at):
    app = open_app(EXAMPLES, db_at("i.db"))

    async def main():
        intake = await Intake.open(app)
        try:
            run = app.commands(turn=intake.turn).run
            writing = asyncio.create_task(intake.write(long_feed_transaction, intake.store, 1.5))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert "/news" in (await run("help", MANAGER)).as_text()  # reads never wait
            assert time.monotonic() - started < 0.5 and not writing.done()
            # On the loop's own connection this write would wait in SQLite for the thread's
            # transaction, with the loop blocked; with the turn it waits as a coroutine.
            subscribing = asyncio.create_task(run("subscribe", MANAGER))
            gap = await max_gap_while(subscribing)
            assert writing.done() and subscribing.result().ok
            return gap
        finally:
            await intake.close()

    assert asyncio.run(main()) < 0.2
    assert app.store.query("SELECT count(*) AS n FROM subscriptions WHERE channel = 'C9'")[0]["n"] == 1
    assert app.store.feed_state("Big") is not None
    app.close()


def test_a_cancelled_write_rolls_back_before_the_turn_is_given_up(db_at):
    """On PostgreSQL too: the thread's transaction fails at its next statement and rolls back."""
    app = open_app(EXAMPLES, db_at("c.db"))

    async def main():
        intake = await Intake.open(app)
        try:
            writing = asyncio.create_task(intake.write(long_feed_transaction, intake.store, 30))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)
            async with intake.turn:  # the next writer finds the database free at once
                with app.store.atomic():
                    app.store.ensure_feed("Next", "https://next.example/rss")
            return time.monotonic() - started
        finally:
            await intake.close()

    assert asyncio.run(main()) < 1.0
    assert app.store.feed_state("Big") is None and app.store.feed_state("Next") is not None
    app.close()


def test_a_write_without_the_turn_is_refused_at_once_instead_of_waiting_on_the_lock(tmp_path):
    app = open_app(EXAMPLES, tmp_path / "r.db")

    async def main():
        intake = await Intake.open(app)
        try:
            writing = asyncio.create_task(intake.write(long_feed_transaction, intake.store, 1.5))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(WriteOutsideTurn):
                with app.store.atomic():
                    app.store.ensure_feed("Sneaky", "https://sneaky.example/rss")
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):  # whichever helper writes
                app.store.db.execute("UPDATE feeds SET items_seen = 1")
            refused_in = time.monotonic() - started
            assert not writing.done()
            async with intake.turn:  # waits as a coroutine, then writes
                app.store.ensure_feed("Polite", "https://polite.example/rss")
            return refused_in
        finally:
            await intake.close()

    assert asyncio.run(main()) < 0.2
    assert app.store.feed_state("Sneaky") is None and app.store.feed_state("Polite") is not None
    app.store.ensure_feed("After", "https://after.example/rss")  # the guard ends with the intake
    app.close()


def test_every_command_that_writes_takes_the_turn(tmp_path):
    """Each command runs against the guarded store: one that wrote without its turn would be refused."""
    app = open_app(EXAMPLES, tmp_path / "w.db")
    app.ensure_seeded()
    event = app.store.seeded_event_id()
    member = CommandContext(platform="slack", channel="C9", workspace="T9", user="U8", can_manage=False)
    texts = [
        "subscribe",
        "filter add gsomia",
        "filter remove gsomia",
        "pause",
        "resume",
        "quiet 22:00-07:00 Asia/Seoul",
        "quiet off",
        "template set header Morning brief",
        "template reset",
        "updates channel",
        f"mute {event}",
        f"notrelevant {event}",
        "unsubscribe",
    ]

    async def main():
        intake = await Intake.open(app)
        try:
            run = app.commands(turn=intake.turn).run
            replies = [await run(text, MANAGER) for text in texts]
            replies.append(await run(f"notrelevant {event}", member))
            return replies
        finally:
            await intake.close()

    replies = asyncio.run(main())
    assert [(text, reply.ok) for text, reply in zip(texts + ["member"], replies)] == [
        (text, True) for text in texts + ["member"]
    ]
    assert len(app.store.query("SELECT * FROM relevance_feedback")) == 2
    app.close()


def test_a_not_relevant_press_during_a_long_feed_transaction_waits_its_turn_without_blocking(tmp_path):
    app = open_app(EXAMPLES, tmp_path / "n.db")
    app.ensure_seeded()
    event = app.store.seeded_event_id()

    async def main():
        intake = await Intake.open(app)
        try:
            run = app.commands(turn=intake.turn).run
            writing = asyncio.create_task(intake.write(long_feed_transaction, intake.store, 1.0))
            await asyncio.sleep(0.1)
            pressing = asyncio.create_task(run(f"notrelevant {event}", MANAGER))
            gap = await max_gap_while(pressing)
            assert writing.done()
            return gap, pressing.result()
        finally:
            await intake.close()

    gap, reply = asyncio.run(main())
    assert gap < 0.2 and reply.ok and reply.title.startswith("Thanks"), (gap, reply)
    app.close()


def test_a_managing_command_adopting_a_cli_subscription_takes_the_turn(tmp_path):
    """A channel subscribed from the command line (no workspace) is adopted by its first managing
    command in chat: that write, too, goes through the turn the guarded store insists on."""
    from datetime import datetime, timezone

    from botsvc.deliver.subscriptions import parse_mode, subscribe

    app = open_app(EXAMPLES, tmp_path / "a.db")
    subscribe(
        app.store,
        platform="slack",
        channel=MANAGER.channel,
        topic=app.config.default_topic,
        mode=parse_mode(None),
        now=datetime.now(timezone.utc),
    )

    async def main():
        intake = await Intake.open(app)
        try:
            return await app.commands(turn=intake.turn).run("pause", MANAGER)
        finally:
            await intake.close()

    reply = asyncio.run(main())
    assert reply.ok, reply
    rows = app.store.query("SELECT workspace, muted_at FROM subscriptions WHERE channel = ?", (MANAGER.channel,))
    assert [(row["workspace"], row["muted_at"] is not None) for row in rows] == [(MANAGER.workspace, True)]
    app.close()
