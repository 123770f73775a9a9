"""``/news`` app commands on Discord, run through discord.py itself.

Each interaction is a real-shaped INTERACTION_CREATE payload handed to the client's
connection state (``parse_interaction_create``, what the gateway calls), so discord.py
builds the ``Interaction``, routes it through the command tree, parses the options, runs
the checks and the callbacks, and sends the responses with its own HTTP layer to the
loopback fake in tests/discordfake.py. No gateway connection is opened.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from discordfake import APPLICATION_ID, DiscordFake

from adapters.discord import MAX_DESCRIPTION, MAX_TITLE, DiscordAdapter, DiscordMessage, NewsClient
from botsvc.chat.commands import CommandCore
from botsvc.config import load_config
from botsvc.deliver.adapter import ChannelAddress
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store.seed import seed_archive
from botsvc.store.store import open_store

TOKEN = "test-token"
GUILD = "111000000000000001"
CHANNEL = "222000000000000001"
DM_CHANNEL = "222000000000000009"
USER = "333000000000000001"
COMMAND_ID = "777000000000000001"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"

MANAGE_CHANNELS = 1 << 4
# View Channel, Send Messages, Embed Links, Read Message History, Use Application Commands
MEMBER = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 31)
RAW_MENTION = re.compile(r"@(everyone|here)|<[@#:/t]")
EPHEMERAL = 64

_ids = itertools.count(900_000_000_000_000_001)

Handler = Callable[[str, CommandContext], Awaitable[CommandReply]]


# -- real-shaped interaction payloads ----------------------------------------------------


def _option(name: str, value: Any) -> dict[str, Any]:
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3  # BOOLEAN, INTEGER, STRING
    return {"name": name, "type": kind, "value": value}


def _user() -> dict[str, Any]:
    return {
        "id": USER,
        "username": "reader",
        "discriminator": "0",
        "global_name": "Reader",
        "avatar": None,
        "avatar_decoration_data": None,
        "public_flags": 0,
    }


def news(path: str, *, permissions: int = MEMBER, dm: bool = False, **options: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction for ``/news <path> option:value ...`` as Discord sends it."""
    *group, name = path.split()
    leaf: dict[str, Any] = {"name": name, "type": 1, "options": [_option(k, v) for k, v in options.items()]}
    if group:  # SUB_COMMAND_GROUP around the SUB_COMMAND
        leaf = {"name": group[0], "type": 2, "options": [leaf]}
    interaction_id = str(next(_ids))
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": APPLICATION_ID,
        "type": 2,
        "token": f"aW50ZXJhY3Rpb246{interaction_id}OlRlc3RUb2tlbg",
        "version": 1,
        "locale": "en-GB",
        "app_permissions": str(MEMBER | (1 << 13)),
        "attachment_size_limit": 10485760,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "data": {"id": COMMAND_ID, "name": "news", "type": 1, "options": [leaf]},
    }
    if dm:
        payload.update(
            context=1,
            authorizing_integration_owners={"0": "0"},
            channel={"id": DM_CHANNEL, "type": 1, "last_message_id": None, "flags": 0, "recipients": [_user()]},
            channel_id=DM_CHANNEL,
            user=_user(),
        )
        return payload
    payload.update(
        context=0,
        authorizing_integration_owners={"0": GUILD},
        guild_id=GUILD,
        guild={"id": GUILD, "locale": "en-US", "features": []},
        guild_locale="en-US",
        channel={
            "id": CHANNEL,
            "type": 0,
            "guild_id": GUILD,
            "name": "news-desk",
            "position": 3,
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "flags": 0,
            "permissions": str(permissions),
        },
        channel_id=CHANNEL,
        member={
            "user": _user(),
            "roles": [],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": "2019-08-01T00:00:00.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
            "permissions": str(permissions),
        },
    )
    return payload


# -- driving discord.py ----------------------------------------------------------------


class Recorder:
    """A command handler that records what it is given and answers ``reply`` (or raises)."""

    def __init__(
        self,
        reply: CommandReply | None = None,
        error: Exception | None = None,
        seen: Callable[[], object] | None = None,
    ) -> None:
        self.reply = reply or CommandReply("Done.", (ReplyLine("one line"),))
        self.error = error
        self.seen = seen
        self.calls: list[tuple[str, CommandContext]] = []
        self.observed: list[object] = []

    async def __call__(self, text: str, context: CommandContext) -> CommandReply:
        self.calls.append((text, context))
        if self.seen is not None:
            self.observed.append(self.seen())
        if self.error is not None:
            raise self.error
        return self.reply


async def dispatch(client: NewsClient, payload: dict[str, Any]) -> None:
    """Hand ``payload`` to discord.py as the gateway would, and wait for the command to finish."""
    before = asyncio.all_tasks()
    client._connection.parse_interaction_create(payload)
    invoked = [t for t in asyncio.all_tasks() - before if t.get_name() == "CommandTree-invoker"]
    assert invoked, "discord.py did not hand the interaction to the command tree"
    await asyncio.wait_for(asyncio.gather(*invoked), 10)


def run(fake: DiscordFake, handler: Handler, *payloads: dict[str, Any]) -> DiscordAdapter:
    """Log the adapter's command client in against the fake (no gateway) and run ``payloads``."""

    async def scenario() -> DiscordAdapter:
        adapter = DiscordAdapter(TOKEN, fake.api_url)
        adapter.attach_commands(handler)
        assert adapter.commands is not None
        try:
            await adapter.commands.login(TOKEN)
            for payload in payloads:
                await dispatch(adapter.commands, payload)
        finally:
            await adapter.stop()
        return adapter

    return asyncio.run(scenario())


def callback(fake: DiscordFake, index: int = -1) -> dict[str, Any]:
    return fake.calls_to("interaction")[index].json


def embed_of(body: dict[str, Any]) -> dict[str, Any]:
    [embed] = body["embeds"]
    return embed


@pytest.fixture
def fake() -> Iterator[DiscordFake]:
    with DiscordFake() as server:
        yield server


# -- context and replies ---------------------------------------------------------------


def test_search_reaches_the_handler_with_its_context_and_answers_ephemerally(fake):
    handler = Recorder(CommandReply("Events matching 'gsomia':", (ReplyLine("#1 Pact ends", "https://n.example/1"),)))
    payload = news("search", query="gsomia", since="2019-08-01")
    run(fake, handler, payload)

    assert handler.calls == [
        ("search gsomia since:2019-08-01", CommandContext("discord", CHANNEL, GUILD, USER, can_manage=False))
    ]
    [call] = fake.calls_to("interaction")
    assert call.path == f"/api/v10/interactions/{payload['id']}/{payload['token']}/callback"
    assert call.json["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
    data = call.json["data"]
    assert data["flags"] == EPHEMERAL
    assert data["allowed_mentions"] == {"parse": []}
    assert embed_of(data)["title"] == "Events matching 'gsomia':"
    assert embed_of(data)["description"] == "[\\#1 Pact ends](https://n.example/1)"  # no heading


@pytest.mark.parametrize(("permissions", "can_manage"), [(MEMBER, False), (MEMBER | MANAGE_CHANNELS, True)])
def test_can_manage_is_read_from_the_members_permissions(fake, permissions, can_manage):
    handler = Recorder()
    run(fake, handler, news("recent", permissions=permissions, n=3))
    assert handler.calls == [("recent 3", CommandContext("discord", CHANNEL, GUILD, USER, can_manage))]


def test_subscribe_with_manage_channels_passes_its_words_through(fake):
    handler = Recorder(CommandReply("Subscribed: this channel gets Japan–South Korea (daily).", ephemeral=False))
    run(
        fake,
        handler,
        news("subscribe", permissions=MEMBER | MANAGE_CHANNELS, topic="japan-korea", mode="daily 09:00 Asia/Tokyo"),
    )
    assert handler.calls == [
        ("subscribe japan-korea daily 09:00 Asia/Tokyo", CommandContext("discord", CHANNEL, GUILD, USER, True))
    ]
    data = callback(fake)["data"]
    assert "flags" not in data  # the core asked for a public reply
    assert embed_of(data)["title"].startswith("Subscribed: this channel gets")


def test_every_subcommand_rebuilds_the_cores_text(fake):
    handler = Recorder()
    manager = MEMBER | MANAGE_CHANNELS
    run(
        fake,
        handler,
        news("subscribe", permissions=manager),
        news("unsubscribe", permissions=manager, topic="japan-korea"),
        news("subscriptions"),
        news("search", query="trade row", until="2019-09-01", share=True),
        news("event", event_id=12),
        news("event", event_id=12, share=True),
        news("recent"),
        news("feeds", share=True),
        news("feed remove", permissions=manager, name="Seoul Wire"),
        news("filter add", permissions=manager, words="gsomia 지소미아 -boycott"),
        news("filter remove", permissions=manager, words="-boycott"),
        news("filter list", permissions=manager),
        news("pause", permissions=manager),
        news("resume", permissions=manager),
        news("quiet", permissions=manager, hours="22:00-07:00 Asia/Seoul"),
        news("quiet", permissions=manager),
        news("template show", permissions=manager),
        news("template header", permissions=manager, text="<!channel> Morning brief"),
        news("template fields", permissions=manager, fields="outlet,summary"),
        news("template reset", permissions=manager, part="header"),
        news("updates", permissions=manager, where="channel"),
        news("updates", permissions=manager),
        news("help"),
    )
    assert [text for text, _ in handler.calls] == [
        "subscribe",
        "unsubscribe japan-korea",
        "subscriptions",
        "search trade row until:2019-09-01 share",
        "event 12",
        "event 12 share",
        "recent 5",
        "feeds share",
        "feed remove Seoul Wire",
        "filter add gsomia 지소미아 -boycott",
        "filter remove -boycott",
        "filter list",
        "pause",
        "resume",
        "quiet 22:00-07:00 Asia/Seoul",
        "quiet",
        "template show",
        "template set header <!channel> Morning brief",
        "template set fields outlet,summary",
        "template reset header",
        "updates channel",
        "updates",
        "help",
    ]
    assert len(fake.calls_to("interaction")) == 23


def test_a_public_reply_carries_no_ephemeral_flag(fake):
    run(fake, Recorder(CommandReply("Shared.", ephemeral=False)), news("search", query="gsomia", share=True))
    data = callback(fake)["data"]
    assert "flags" not in data and data["allowed_mentions"] == {"parse": []}


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("subscribe", {"topic": "japan-korea"}),
        ("unsubscribe", {}),
        ("feed add", {"url": "https://x.example/rss"}),
        ("feed remove", {"name": "Seoul Wire"}),
        ("filter add", {"words": "gsomia"}),
        ("pause", {}),
        ("resume", {}),
        ("quiet", {"hours": "off"}),
        ("updates", {"where": "none"}),
        ("feed preview", {"url": "https://x.example/"}),
        ("template header", {"text": "Morning brief"}),
        ("template reset", {}),
    ],
)
def test_managing_commands_without_manage_channels_are_refused_before_the_core(fake, path, options):
    handler = Recorder()
    run(fake, handler, news(path, **options))
    assert handler.calls == []
    [call] = fake.calls_to("interaction")
    assert call.json["type"] == 4 and call.json["data"]["flags"] == EPHEMERAL
    embed = embed_of(call.json["data"])
    assert embed["title"] == f"Sorry, only people who manage this channel can use /news {path}."
    assert "Manage Channels" in embed["description"]


def test_managing_commands_in_a_dm_are_refused_but_reading_works(fake):
    handler = Recorder()
    run(fake, handler, news("subscribe", dm=True), news("search", dm=True, query="gsomia"))
    assert handler.calls == [("search gsomia", CommandContext("discord", DM_CHANNEL, "", USER, False))]
    refused, answered = (c.json for c in fake.calls_to("interaction"))
    assert embed_of(refused["data"])["title"] == "/news subscribe works only in a server channel."
    assert embed_of(answered["data"])["title"] == "Done."


def test_untrusted_reply_text_is_neutralised_and_links_are_http_only(fake):
    hostile = CommandReply(
        "@everyone <@123456789012345678> **now**",
        (
            ReplyLine("<@&123> @here [click](https://evil.example)", "https://ok.example/a"),
            ReplyLine("script", "javascript:alert(1)"),
            ReplyLine("breaks out", "https://ok.example/a)(https://evil.example"),
            ReplyLine("no link"),
        ),
    )
    run(fake, Recorder(hostile), news("help"))
    data = callback(fake)["data"]
    assert data["allowed_mentions"] == {"parse": []}
    assert not RAW_MENTION.search(json.dumps(data, ensure_ascii=False))
    embed = embed_of(data)
    assert embed["title"] == "@\u200beveryone <\u200b@\u200b123456789012345678> \\*\\*now\\*\\*"
    first, script, breaks, plain = embed["description"].split("\n")
    assert first.endswith("](https://ok.example/a)") and first.count("](") == 1  # text cannot close the link
    assert "(click)(https://evil.example)" in first
    assert (script, breaks, plain) == ("script", "breaks out", "no link")


def test_a_long_reply_is_clipped_with_a_count_of_what_was_left_out(fake):
    lines = tuple(ReplyLine(f"line {n} " + "x" * 96) for n in range(200))
    run(fake, Recorder(CommandReply("T" * 400, lines)), news("recent", n=20))
    embed = embed_of(callback(fake)["data"])
    assert len(embed["title"]) == MAX_TITLE and embed["title"].endswith("…")
    description = embed["description"]
    assert len(description) <= MAX_DESCRIPTION
    *shown, more = description.split("\n")
    assert shown[0].startswith("line 0 ") and shown[-1].startswith(f"line {len(shown) - 1} ")
    assert len(shown) > 30 and more == f"…and {200 - len(shown)} more"


# -- slow commands and failures -----------------------------------------------------------


def test_feed_add_defers_then_answers_with_a_followup(fake):
    handler = Recorder(
        CommandReply("Added feed 'Name' (3 item(s) now); it is polled from now on.", ephemeral=False),
        seen=lambda: [c.json for c in fake.calls_to("interaction")],
    )
    payload = news("feed add", permissions=MEMBER | MANAGE_CHANNELS, url="https://x.example/rss", name="Name")
    run(fake, handler, payload)

    assert handler.calls == [
        ("feed add https://x.example/rss Name", CommandContext("discord", CHANNEL, GUILD, USER, True))
    ]
    deferred = {"type": 5, "data": {"flags": EPHEMERAL}}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, ephemeral
    assert handler.observed == [[deferred]]  # acknowledged before the slow part began
    assert [c.json for c in fake.calls_to("interaction")] == [deferred]
    [followup] = fake.calls_to("webhook")
    assert followup.path == f"/api/v10/webhooks/{APPLICATION_ID}/{payload['token']}"
    assert followup.query["wait"] in ("1", "true")
    assert followup.json["allowed_mentions"] == {"parse": []}
    assert embed_of(followup.json)["title"].startswith("Added feed 'Name'")


def test_a_failing_handler_gets_the_user_an_apology_not_a_traceback(fake):
    boom = RuntimeError("Traceback (most recent call last): secret detail")
    run(
        fake,
        Recorder(error=boom),
        news("search", query="gsomia"),
        news("feed add", permissions=MEMBER | MANAGE_CHANNELS, url="https://x.example/rss"),
    )
    answered, deferred = (c.json for c in fake.calls_to("interaction"))
    [followup] = fake.calls_to("webhook")
    for body in (answered["data"], followup.json):
        assert embed_of(body)["title"].startswith("Sorry, that failed on our side")
        assert "Traceback" not in json.dumps(body) and "secret" not in json.dumps(body)
        assert body["flags"] == EPHEMERAL
    assert deferred["type"] == 5


def test_an_unknown_subcommand_from_a_stale_registration_is_answered(fake):
    handler = Recorder()
    run(fake, handler, news("digest"))
    assert handler.calls == []
    assert embed_of(callback(fake)["data"])["title"].startswith("Sorry, that failed on our side")


def test_a_rejected_response_does_not_escape_the_command(fake):
    rejected = (400, {}, {"message": "Invalid Form Body", "code": 50035})
    fake.script("interaction", rejected, rejected)
    handler = Recorder()
    run(fake, handler, news("help"))  # dispatch() would raise if the invoker task failed
    assert len(handler.calls) == 1
    assert [c.status for c in fake.calls_to("interaction")] == [400, 400]  # the reply, then the apology


# -- registration and lifecycle ------------------------------------------------------------


def test_the_registered_commands():
    adapter = DiscordAdapter(TOKEN, "http://127.0.0.1:9/api/v10")
    adapter.attach_commands(Recorder())
    assert adapter.commands is not None
    tree = adapter.commands.tree
    group = tree.get_command("news")
    payload = group.to_dict(tree)
    # Discord applies default_member_permissions to a whole top-level command only, so /news
    # stays open to everyone and the managing subcommands are checked when they run.
    assert payload["default_member_permissions"] is None
    assert [o["name"] for o in payload["options"]] == [
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "search",
        "event",
        "recent",
        "feeds",
        "feed",
        "filter",
        "pause",
        "resume",
        "quiet",
        "template",
        "updates",
        "missed",
        "reports",
        "help",
    ]
    options = {o["name"]: o for o in payload["options"]}
    [where] = options["updates"]["options"]
    assert [c["value"] for c in where["choices"]] == ["thread", "channel", "none"] and not where.get("required")
    assert {o["name"]: (o["type"], o.get("required")) for o in options["search"]["options"]} == {
        "query": (3, True),
        "since": (3, False),
        "until": (3, False),
        "share": (5, False),
    }
    assert options["event"]["options"][0] == {
        "type": 4,
        "name": "event_id",
        "required": True,
        "description": "The event's number, as shown by search",
    }
    assert options["feed"]["type"] == 2 and [o["name"] for o in options["feed"]["options"]] == [
        "add",
        "remove",
        "preview",
    ]
    managing = [
        group.get_command("subscribe"),
        group.get_command("unsubscribe"),
        group.get_command("feed").get_command("add"),
        group.get_command("feed").get_command("remove"),
        *(group.get_command("filter").get_command(name) for name in ("add", "remove", "list")),
        group.get_command("pause"),
        group.get_command("resume"),
        group.get_command("quiet"),
        group.get_command("updates"),
        group.get_command("feed").get_command("preview"),
        *(group.get_command("template").get_command(name) for name in ("show", "header", "fields", "reset")),
    ]
    assert all(len(command.checks) == 2 for command in managing)
    assert not group.get_command("search").checks


def test_start_runs_the_gateway_in_the_background_syncs_once_and_stop_closes_it(fake):
    async def scenario() -> None:
        adapter = DiscordAdapter(TOKEN, fake.api_url, gateway=True)
        adapter.attach_commands(Recorder())
        client = adapter.commands
        assert client is not None
        connected = asyncio.Event()

        async def no_gateway(*, reconnect: bool = True) -> None:  # stands in for the websocket loop
            connected.set()
            await asyncio.Event().wait()

        client.connect = no_gateway  # type: ignore[method-assign]
        await adapter.start()
        await asyncio.wait_for(connected.wait(), 5)
        assert client.application_id == int(APPLICATION_ID)

        await adapter.send(ChannelAddress("discord", CHANNEL), DiscordMessage("digest"))
        client.dispatch("ready")
        client.dispatch("ready")  # READY again after a new session: no second sync
        for _ in range(100):
            await asyncio.sleep(0.02)
            if fake.calls_to("commands"):
                break
        await asyncio.sleep(0.1)

        session = client.rest.session
        await adapter.stop()
        assert client.is_closed() and session.closed and adapter._http is None

    asyncio.run(scenario())
    [sync] = fake.calls_to("commands")
    assert sync.method == "PUT" and sync.path == f"/api/v10/applications/{APPLICATION_ID}/commands"
    assert [c["name"] for c in sync.json] == ["news"]
    assert [o["name"] for o in sync.json[0]["options"]][:2] == ["subscribe", "unsubscribe"]
    assert sync.headers["authorization"] == f"Bot {TOKEN}"
    assert [c.json["content"] for c in fake.delivered()] == ["digest"]


@pytest.mark.parametrize("attach", [False, True])
def test_start_opens_no_gateway_without_commands_or_off_discords_api(fake, attach):
    async def scenario() -> DiscordAdapter:
        adapter = DiscordAdapter(TOKEN, fake.api_url)
        if attach:  # the API is not Discord's, and discord.py's gateway always is: stay closed
            adapter.attach_commands(Recorder())
        await adapter.start()
        started = adapter._gateway
        await adapter.stop()
        assert started is None
        return adapter

    adapter = asyncio.run(scenario())
    assert (adapter.commands is not None) is attach
    assert [c.route for c in fake.calls] == ["me"]  # the delivery login only


def test_the_gateway_is_opened_by_default_only_for_discords_own_api():
    assert DiscordAdapter(TOKEN, "https://discord.com/api/v10").open_gateway
    assert not DiscordAdapter(TOKEN, "http://127.0.0.1:9/api/v10").open_gateway
    assert DiscordAdapter(TOKEN, "http://127.0.0.1:9/api/v10", gateway=True).open_gateway
    assert not DiscordAdapter(TOKEN, "https://discord.com/api/v10", gateway=False).open_gateway


# -- the real core ---------------------------------------------------------------------


def test_search_gsomia_through_the_real_core(fake, tmp_path):
    store = open_store(tmp_path / "x.db")
    try:
        seed_archive(store)
        core = CommandCore(store, load_config(EXAMPLES))
        run(
            fake,
            core.run,
            news("search", query="gsomia"),
            news("search", query="gsomia", share=True),
            news("subscribe", permissions=MEMBER | MANAGE_CHANNELS, topic="japan-korea", mode="hourly"),
            news("subscribe", topic="japan-korea"),
        )
        subscriptions = [(s.platform, s.workspace, s.channel, s.topic, s.mode.kind) for s in all_subscriptions(store)]
    finally:
        store.close()

    private, shared, subscribed, refused = (c.json for c in fake.calls_to("interaction"))
    embed = embed_of(private["data"])
    assert embed["title"].startswith("Events matching 'gsomia'")
    assert "GSOMIA" in embed["description"]
    assert private["type"] == 4 and private["data"]["flags"] == EPHEMERAL
    assert private["data"]["allowed_mentions"] == {"parse": []}
    assert "flags" not in shared["data"] and "GSOMIA" in embed_of(shared["data"])["description"]
    assert embed_of(subscribed["data"])["title"].startswith("Subscribed: this channel gets")
    assert subscribed["data"]["flags"] == EPHEMERAL  # a managing answer, only to the caller
    assert embed_of(refused["data"])["title"].startswith("Sorry, only people who manage this channel")
    assert subscriptions == [("discord", GUILD, CHANNEL, "japan-korea", "hourly")]


def test_channel_controls_through_the_real_core(fake, tmp_path):
    store = open_store(tmp_path / "x.db")
    manager = MEMBER | MANAGE_CHANNELS
    try:
        core = CommandCore(store, load_config(EXAMPLES))
        run(
            fake,
            core.run,
            news("subscribe", permissions=manager, topic="japan-korea"),
            news("filter add", permissions=manager, words="gsomia 지소미아 -boycott"),
            news("quiet", permissions=manager, hours="22:00-07:00 Asia/Seoul"),
            news("pause", permissions=manager),
            news("quiet", permissions=manager, hours="22:00-07:00 Mars/Base"),
            news("filter list", permissions=manager),
        )
        [sub] = all_subscriptions(store)
        words = store.query("SELECT word, kind FROM subscription_filters ORDER BY word")
    finally:
        store.close()
    answers = [c.json["data"] for c in fake.calls_to("interaction")]
    assert all(answer["flags"] == EPHEMERAL for answer in answers)  # managing answers only to the caller
    _, filtered, quiet, paused, refused, listed = (embed_of(answer) for answer in answers)
    assert listed["title"] == "This channel's filters:"
    assert filtered["title"].startswith("Added gsomia 지소미아 -boycott.")
    assert quiet["title"].startswith("Quiet hours 22:00–07:00 (Asia/Seoul)")
    assert paused["title"].startswith("Paused: this channel gets no news")
    assert refused["title"].startswith("unknown time zone 'Mars/Base'")
    assert sub.muted and str(sub.quiet) == "22:00-07:00 Asia/Seoul" and sub.zone == "Asia/Seoul"
    assert [(w["word"], w["kind"]) for w in words] == [
        ("boycott", "exclude"),
        ("gsomia", "include"),
        ("지소미아", "include"),
    ]


def test_any_command_that_waits_is_deferred_within_half_a_second_then_answered(fake):
    """A command waiting for the write turn (a poll storing a big feed) never runs into Discord's 3 s."""
    calls: list[float] = []

    async def waiting(text: str, context: CommandContext) -> CommandReply:
        calls.append(time.monotonic())
        await asyncio.sleep(1.2)
        return CommandReply("Subscribed: this channel gets news.", ephemeral=False)

    run(fake, waiting, news("subscribe", permissions=MEMBER | MANAGE_CHANNELS))
    [deferred] = fake.calls_to("interaction")
    assert deferred.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert deferred.at - calls[0] < 1.0  # acknowledged well before the answer was ready (1.2 s)
    [followup] = fake.calls_to("webhook")
    assert embed_of(followup.json)["title"].startswith("Subscribed")
