"""An alert's buttons on Discord: one action row per alert in the digest, and presses as
real-shaped component INTERACTION_CREATE payloads handed to discord.py's connection state,
answered through the REST client to the loopback fake by the real command core and store."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from discordfake import APPLICATION_ID, DiscordFake
from test_discord_commands import CHANNEL, EPHEMERAL, GUILD, MANAGE_CHANNELS, MEMBER, TOKEN, _user, embed_of, fake, news

from adapters.discord import DiscordAdapter, NewsClient
from adapters.discord.render import MAX_ACTION_ROWS, MAX_EMBEDS, render_embeds
from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.deliver.adapter import ChannelAddress
from botsvc.models import CommandContext, CommandReply, Digest, DigestEvent, DigestStory
from botsvc.store.seed import seed_archive
from botsvc.store.store import Store, open_store

__all__ = ["fake"]  # the fixture, used by name

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"
NOW = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)


def press(custom_id: str, *, permissions: int = MEMBER, dm: bool = False) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction: a button of a digest message pressed, as Discord sends it."""
    payload = news("help", permissions=permissions, dm=dm)  # the guild/DM envelope of any interaction
    payload["type"] = 3
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    payload["message"] = {
        "id": "555000000000000001",
        "channel_id": payload["channel_id"],
        "type": 0,
        "content": "**Japan–South Korea**: 1 new event",
        "author": {**_user(), "id": "444000000000000001", "username": "botsvc", "bot": True},
        "attachments": [],
        "embeds": [{"type": "rich", "title": "Seoul ends GSOMIA", "footer": {"text": "#1"}}],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": "2019-08-22T10:00:00.000000+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
        "application_id": APPLICATION_ID,
    }
    return payload


async def dispatch(client: NewsClient, payload: dict[str, Any]) -> None:
    """Hand ``payload`` to discord.py as the gateway would, and wait for ``on_interaction`` to finish."""
    before = asyncio.all_tasks()
    client._connection.parse_interaction_create(payload)
    started = [t for t in asyncio.all_tasks() - before if t.get_name() == "discord.py: on_interaction"]
    assert started, "discord.py did not dispatch the interaction"
    await asyncio.wait_for(asyncio.gather(*started), 10)


def presses(fake: DiscordFake, handler: Any, *payloads: dict[str, Any]) -> list[dict[str, Any]]:
    """Run each press through a logged-in command client; the interaction callback bodies."""

    async def scenario() -> None:
        adapter = DiscordAdapter(TOKEN, fake.api_url)
        adapter.attach_commands(handler)
        assert adapter.commands is not None
        try:
            await adapter.commands.login(TOKEN)
            for payload in payloads:
                await dispatch(adapter.commands, payload)
        finally:
            await adapter.stop()

    asyncio.run(scenario())
    return [call.json for call in fake.calls_to("interaction")]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = open_store(tmp_path / "bot.db")
    assert seed_archive(store) > 0
    yield store
    store.close()


def test_each_button_works_through_the_real_core_and_is_answered_ephemerally(fake, store: Store) -> None:
    core = CommandCore(store, load_config(EXAMPLES))
    manager = CommandContext("discord", CHANNEL, GUILD, "333000000000000002", can_manage=True)
    assert asyncio.run(core.run("subscribe", manager)).ok
    event = store.query("SELECT id FROM events ORDER BY id LIMIT 1")[0]["id"]
    answers = presses(
        fake,
        core.run,
        press(f"botsvc:timeline:{event}"),
        press(f"botsvc:mute:{event}"),  # a member without Manage Channels
        press(f"botsvc:mute:{event}", permissions=MEMBER | MANAGE_CHANNELS),
        press(f"botsvc:notrelevant:{event}"),
        press(f"botsvc:mute:{event}", dm=True),
    )
    for answer in answers:
        assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
        assert answer["data"]["allowed_mentions"] == {"parse": []}
    titles = [embed_of(answer["data"])["title"] for answer in answers]
    assert titles[0].startswith(f"Archived event #{event}: ")
    assert titles[1].startswith("Sorry, only people who manage this channel can use")
    assert titles[2] == f"Muted event #{event}: this channel gets no more updates about it."
    assert titles[3] == f"Thanks: event #{event} is marked not relevant."
    assert titles[4] == "These buttons work only in a server channel."
    mutes = store.query("SELECT event_id, reason, muted_by FROM event_mutes")
    assert mutes == [{"event_id": event, "reason": "mute", "muted_by": "discord:333000000000000001"}]
    reports = store.query("SELECT platform, workspace, channel, user FROM relevance_feedback")
    assert reports == [{"platform": "discord", "workspace": GUILD, "channel": CHANNEL, "user": "333000000000000001"}]


def test_components_that_are_not_ours_or_malformed_run_nothing(fake, store: Store) -> None:
    calls: list[str] = []

    async def handler(text: str, context: CommandContext) -> Any:
        calls.append(text)
        return await CommandCore(store, load_config(EXAMPLES)).run(text, context)

    answers = presses(
        fake, handler, press("someone-else:1"), press("botsvc:unsubscribe:1"), press("botsvc:notrelevant:x;y")
    )
    assert calls == ["notrelevant"]  # the malformed id reaches the core without it, and gets the usage line
    [answer] = answers
    assert embed_of(answer["data"])["title"].startswith("give one event id")


def _story(n: int) -> DigestStory:
    return DigestStory(f"Story {n}", "Wire", f"https://wire.example/{n}", NOW)


def test_one_row_of_buttons_per_alert_within_discords_limits() -> None:
    events = tuple(DigestEvent(n, _story(n), update=n % 4 == 0) for n in range(1, 24))
    messages = render_embeds(Digest("Japan–South Korea", events, NOW), buttons=True)
    rows = [row for message in messages for row in message.components]
    assert len(rows) == sum(not e.update for e in events)  # update lines get none, no alert is left out
    for message in messages:
        assert len(message.embeds) <= MAX_EMBEDS and len(message.components) <= MAX_ACTION_ROWS
    first = messages[0]
    assert [b["custom_id"] for b in first.components[0]["components"]] == [
        "botsvc:timeline:1",
        "botsvc:mute:1",
        "botsvc:notrelevant:1",
    ]
    assert [b["label"] for b in first.components[0]["components"]] == ["Timeline #1", "Mute #1", "Not relevant #1"]
    assert first.embeds[0].footer.text == "#1"
    assert all(not m.components for m in render_embeds(Digest("t", events, NOW)))


async def unused_handler(text: str, context: CommandContext) -> CommandReply:
    raise AssertionError("no press in this test")


def test_the_bot_posts_buttons_only_when_it_receives_their_presses(fake) -> None:
    digest = Digest("Japan–South Korea", (DigestEvent(7, _story(7)),), NOW)

    async def scenario() -> None:
        plain = DiscordAdapter(TOKEN, fake.api_url)
        assert not plain.render(digest)[0].components
        bot = DiscordAdapter(TOKEN, fake.api_url, gateway=True)
        bot.attach_commands(unused_handler)
        [message] = bot.render(digest)
        try:
            await bot.send(ChannelAddress("discord", CHANNEL), message)
        finally:
            await bot.stop()
            await plain.stop()

    asyncio.run(scenario())
    [posted] = fake.calls_to("message")
    assert posted.json["components"][0]["components"][0]["custom_id"] == "botsvc:timeline:7"


def test_a_press_that_waits_is_deferred_at_once_and_answered_by_a_followup(fake) -> None:
    """ "Not relevant" waiting for the write turn behind a big feed: deferred, then answered, only to the presser."""
    started: list[float] = []

    async def waiting(text: str, context: CommandContext) -> CommandReply:
        started.append(time.monotonic())
        await asyncio.sleep(1.2)
        return CommandReply("Thanks: event #1 is marked not relevant.", ephemeral=False)

    [deferred] = presses(fake, waiting, press("botsvc:notrelevant:1"))
    assert deferred == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert fake.calls_to("interaction")[0].at - started[0] < 1.0
    [followup] = fake.calls_to("webhook")
    assert followup.json["flags"] == EPHEMERAL
    assert followup.json["embeds"][0]["title"].startswith("Thanks: event #1")
