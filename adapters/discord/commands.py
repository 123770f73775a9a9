"""``/news`` as Discord app commands: the command tree, its checks, and the gateway client.

App commands arrive as interactions over the gateway, so :class:`NewsClient` is opened
only when commands are attached to the bot adapter. Presses of an alert's buttons
(``botsvc:<command>:<event id>``, see :func:`adapters.discord.render.alert_buttons`) arrive
the same way, as component interactions, and go to the core as ``<command> <event id>``
(:meth:`NewsClient.on_interaction`). Each subcommand rebuilds the text
the core parses; replies are one neutralised embed with mentions disabled.

discord.py receives and routes the interactions (its public ``Client`` and
``app_commands``); what the bot sends back (the token check, command registration,
interaction responses and followups) goes through :class:`~adapters.discord.rest.DiscordRest`
at the configured API base, never through discord.py's private HTTP layer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any, cast

import discord
from discord import app_commands

from adapters.discord.render import BUTTONS, CUSTOM_ID_PREFIX, EPHEMERAL, message_body, render_reply
from adapters.discord.rest import DiscordRest
from botsvc.deliver.adapter import CommandHandler
from botsvc.models import CommandContext, CommandReply, ReplyLine

log = logging.getLogger(__name__)

CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
ACK_WITHIN = 0.5
"""Seconds a command or press may take before it is deferred (Discord allows 3) and answered by a followup."""
ANSWERED = "botsvc.answered"
"""Key in ``Interaction.extras``: the interaction has had its one callback, so the next answer is a followup."""

BUTTON_COMMANDS = frozenset(command for command, _, _ in BUTTONS)
EVENT_ID = re.compile(r"[0-9]{1,12}")
GUILD_ONLY = CommandReply("These buttons work only in a server channel.", ok=False)

FAILED = CommandReply("Sorry, that failed on our side; it has been logged. Please try again later.", ok=False)


def interaction_context(interaction: discord.Interaction) -> CommandContext:
    """Who and where, from the interaction itself.

    ``can_manage`` is the member's resolved permissions in this channel as Discord sent them
    with this interaction, so it is checked again at every use, whatever was registered.
    """
    in_guild = interaction.guild_id is not None
    return CommandContext(
        platform="discord",
        channel=str(interaction.channel_id or ""),
        workspace=str(interaction.guild_id or ""),
        user=str(interaction.user.id),
        can_manage=in_guild and interaction.permissions.manage_channels,
    )


def button_text(custom_id: str) -> str | None:
    """The core's command text for one of our buttons' ``custom_id`` (``botsvc:mute:12`` → ``mute 12``).

    None when the component is not ours. A malformed event id is passed on without it, so
    the core answers with its usage line rather than running anything.
    """
    prefix, _, rest = custom_id.partition(":")
    command, _, event = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or command not in BUTTON_COMMANDS:
        return None
    return f"{command} {event}" if EVENT_ID.fullmatch(event) else command


def command_text(*words: str | None, share: bool = False) -> str:
    """The text after ``/news`` that the core parses; options are kept as given."""
    text = " ".join(word.strip() for word in words if word and word.strip())
    return text + " share" if share else text


def _keyed(key: str, value: str | None) -> str | None:
    """``key:value`` for the core's search syntax, or nothing for an empty option."""
    return f"{key}:{value.strip()}" if value and value.strip() else None


def _in_guild(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return True


guild_only = app_commands.check(_in_guild)
"""Checked when run: Discord honours ``guild_only`` on top-level commands only, not subcommands.

Checks run bottom decorator first; this one goes below the permission check, since in a
DM there are no channel permissions to speak of.
"""

manage_channels_only = app_commands.checks.has_permissions(manage_channels=True)
"""Checked when run, from the interaction's permissions.

Discord takes ``default_member_permissions`` (and the guild-only context) for a whole
top-level command, never per subcommand, and discord.py drops them from subcommand
payloads; restricting ``/news`` itself would lock everyone out of search. So the
managing subcommands are gated here, and the core refuses them again without
``can_manage``.
"""


class NewsGroup(app_commands.Group, name="news", description="News monitoring: subscriptions, search, feeds"):
    """``/news``: each subcommand rebuilds the core's command text for :meth:`NewsClient.answer`."""

    def __init__(self, client: NewsClient) -> None:
        super().__init__()
        self.news_client = client

    async def _run(self, interaction: discord.Interaction, text: str, *, slow: bool = False) -> None:
        await self.news_client.answer(interaction, text, slow=slow)

    @app_commands.command(description="Send this channel a topic's news (Manage Channels)")
    @app_commands.describe(
        topic="Topic name; the default topic if empty", mode="realtime, hourly, or daily HH:MM [Area/City]"
    )
    @manage_channels_only
    @guild_only
    async def subscribe(
        self, interaction: discord.Interaction, topic: str | None = None, mode: str | None = None
    ) -> None:
        await self._run(interaction, command_text("subscribe", topic, mode))

    @app_commands.command(description="Stop sending this channel a topic's news, or all (Manage Channels)")
    @app_commands.describe(topic="Topic name; all of this channel's subscriptions if empty")
    @manage_channels_only
    @guild_only
    async def unsubscribe(self, interaction: discord.Interaction, topic: str | None = None) -> None:
        await self._run(interaction, command_text("unsubscribe", topic))

    @app_commands.command(description="This channel's subscriptions")
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "subscriptions")

    @app_commands.command(description="Search past events, best match first")
    @app_commands.describe(
        query="Words to search for",
        since="From this day (YYYY-MM-DD)",
        until="Up to this day (YYYY-MM-DD)",
        share="Show the answer to the channel",
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: str,
        since: str | None = None,
        until: str | None = None,
        share: bool = False,
    ) -> None:
        await self._run(
            interaction, command_text("search", query, _keyed("since", since), _keyed("until", until), share=share)
        )

    @app_commands.command(description="An event's timeline, first report first")
    @app_commands.describe(event_id="The event's number, as shown by search", share="Show the answer to the channel")
    async def event(self, interaction: discord.Interaction, event_id: int, share: bool = False) -> None:
        await self._run(interaction, command_text("event", str(event_id), share=share))

    @app_commands.command(description="The latest events of this channel's topics")
    @app_commands.describe(n="How many (1-20)", share="Show the answer to the channel")
    async def recent(self, interaction: discord.Interaction, n: int = 5, share: bool = False) -> None:
        await self._run(interaction, command_text("recent", str(n), share=share))

    @app_commands.command(description="Each feed's health")
    @app_commands.describe(share="Show the answer to the channel")
    async def feeds(self, interaction: discord.Interaction, share: bool = False) -> None:
        await self._run(interaction, command_text("feeds", share=share))

    feed = app_commands.Group(name="feed", description="Add, remove or preview feeds (Manage Channels)")

    @feed.command(name="add", description="Poll a new RSS/Atom feed (Manage Channels)")
    @app_commands.describe(
        url="The feed's http(s) address, or its site's page", name="A name for it; the feed's title if empty"
    )
    @manage_channels_only
    @guild_only
    async def feed_add(self, interaction: discord.Interaction, url: str, name: str | None = None) -> None:
        # Checking the feed fetches it, which can outlast Discord's 3 s to answer: defer first.
        await self._run(interaction, command_text("feed", "add", url, name), slow=True)

    @feed.command(name="remove", description="Stop polling a feed added from chat (Manage Channels)")
    @app_commands.describe(name="The feed's name, as shown by /news feeds")
    @manage_channels_only
    @guild_only
    async def feed_remove(self, interaction: discord.Interaction, name: str) -> None:
        await self._run(interaction, command_text("feed", "remove", name))

    @feed.command(name="preview", description="What a feed's latest items would do; nothing stored (Manage Channels)")
    @app_commands.describe(url="The feed's (or the site's) http(s) address")
    @manage_channels_only
    @guild_only
    async def feed_preview(self, interaction: discord.Interaction, url: str) -> None:
        await self._run(interaction, command_text("feed", "preview", url), slow=True)

    filter = app_commands.Group(name="filter", description="Words this channel's news must or must not mention")

    @filter.command(name="add", description="Only news with these words; -word: never news with it (Manage Channels)")
    @app_commands.describe(words="e.g. gsomia 지소미아 -boycott; a phrase with hyphens: export-controls")
    @manage_channels_only
    @guild_only
    async def filter_add(self, interaction: discord.Interaction, words: str) -> None:
        await self._run(interaction, command_text("filter", "add", words))

    @filter.command(name="remove", description="Remove filter words (Manage Channels)")
    @app_commands.describe(words="The words to remove; -word for an exclude word")
    @manage_channels_only
    @guild_only
    async def filter_remove(self, interaction: discord.Interaction, words: str) -> None:
        await self._run(interaction, command_text("filter", "remove", words))

    @filter.command(name="list", description="This channel's filter words (Manage Channels)")
    @manage_channels_only
    @guild_only
    async def filter_list(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "filter list")

    @app_commands.command(description="Send this channel nothing until resume (Manage Channels)")
    @manage_channels_only
    @guild_only
    async def pause(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "pause")

    @app_commands.command(description="Send news again; what opened while paused is skipped (Manage Channels)")
    @manage_channels_only
    @guild_only
    async def resume(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "resume")

    @app_commands.command(description="Hold alerts during these hours, then send one digest (Manage Channels)")
    @app_commands.describe(hours="e.g. 22:00-07:00 Asia/Seoul, or off; empty: show the setting")
    @manage_channels_only
    @guild_only
    async def quiet(self, interaction: discord.Interaction, hours: str | None = None) -> None:
        await self._run(interaction, command_text("quiet", hours))

    template = app_commands.Group(name="template", description="What this channel's alerts show (Manage Channels)")

    @template.command(
        name="show", description="The fields this channel's alerts show, and its header (Manage Channels)"
    )
    @manage_channels_only
    @guild_only
    async def template_show(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "template show")

    @template.command(name="header", description="A header instead of the topic title, 80 characters (Manage Channels)")
    @app_commands.describe(text="e.g. Morning brief")
    @manage_channels_only
    @guild_only
    async def template_header(self, interaction: discord.Interaction, text: str) -> None:
        await self._run(interaction, command_text("template", "set", "header", text))

    @template.command(name="fields", description="Which parts alerts show; the others are hidden (Manage Channels)")
    @app_commands.describe(fields="Any of outlet,time,link,sources,summary")
    @manage_channels_only
    @guild_only
    async def template_fields(self, interaction: discord.Interaction, fields: str) -> None:
        await self._run(interaction, command_text("template", "set", "fields", fields))

    @template.command(name="reset", description="Back to the default alerts (Manage Channels)")
    @app_commands.describe(part="header or fields; everything if empty")
    @manage_channels_only
    @guild_only
    async def template_reset(self, interaction: discord.Interaction, part: str | None = None) -> None:
        await self._run(interaction, command_text("template", "reset", part))

    @app_commands.command(description="Where later reports of an event go: its thread, the channel, or nowhere")
    @app_commands.describe(where="thread (default), channel or none; empty: show the setting")
    @app_commands.choices(where=[app_commands.Choice(name=mode, value=mode) for mode in ("thread", "channel", "none")])
    @manage_channels_only
    @guild_only
    async def updates(self, interaction: discord.Interaction, where: app_commands.Choice[str] | None = None) -> None:
        await self._run(interaction, command_text("updates", where.value if where else None))

    @app_commands.command(description="Report a story the bot missed, so it keeps stories like it")
    @app_commands.describe(url="The story's http(s) address")
    async def missed(self, interaction: discord.Interaction, url: str) -> None:
        # Reading the story fetches it, which can outlast Discord's 3 s to answer: defer first.
        await self._run(interaction, command_text("missed", url), slow=True)

    @app_commands.command(description="The latest missed-story and not-relevant reports, and whether they apply")
    async def reports(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "reports")

    @app_commands.command(name="help", description="What /news can do")
    async def help_(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "help")


def _error_reply(interaction: discord.Interaction, error: app_commands.AppCommandError) -> CommandReply:
    command = interaction.command
    name = f"/{command.qualified_name}" if command is not None else "that command"
    if isinstance(error, app_commands.NoPrivateMessage):
        return CommandReply(f"{name} works only in a server channel.", ok=False)
    if isinstance(error, app_commands.MissingPermissions):
        return CommandReply(
            f"Sorry, only people who manage this channel can use {name}.",
            (ReplyLine("That needs the Manage Channels permission here."),),
            ok=False,
        )
    if isinstance(error, app_commands.TransformerError):
        return CommandReply(f"{name}: an option has a value it cannot take. Try /news help.", ok=False)
    return FAILED


class NewsTree(app_commands.CommandTree):
    """The command tree; errors become a short reply to the user, details go to the log."""

    client: NewsClient

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        if not isinstance(error, app_commands.CheckFailure):
            log.error(
                "/news command failed (guild %s, channel %s)",
                interaction.guild_id,
                interaction.channel_id,
                exc_info=error,
            )
        try:
            await self.client.reply(interaction, _error_reply(interaction, error))
        except Exception:
            log.exception("could not answer a failed /news command")


class NewsClient(discord.Client):
    """The gateway connection that receives ``/news`` interactions and answers them.

    :meth:`login` checks the token and reads the application id through ``rest`` (the
    configured API base); commands are registered and interactions answered through it
    too. The gateway itself is always Discord's, so discord.py's own login, which opens
    it, waits for :meth:`connect`. Interactions need no intent; ``guilds`` (not
    privileged) only keeps discord.py's guild cache, which it expects, coherent.
    """

    def __init__(self, handler: CommandHandler, rest: DiscordRest) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.rest = rest
        self.handler = handler
        self.tree = NewsTree(self)
        self.tree.add_command(NewsGroup(self))
        self.synced = False
        self._token: str | None = None
        self._application_id: int | None = None

    @property
    def application_id(self) -> int | None:
        """The application id read at :meth:`login`, else the one discord.py learnt."""
        return self._application_id if self._application_id is not None else super().application_id

    async def login(self, token: str) -> None:
        """Check ``token`` and read the application id at the API base (:class:`LoginRefused` on 401)."""
        await self.__aenter__()  # ``async with client``'s setup: discord.py's asyncio objects on this loop
        token = token.strip()
        self.rest.token = token
        me = await self.rest.current_user()
        application = await self.rest.application()
        # discord.py builds an Interaction around its own user (``Client.user``), which its
        # login or the gateway's READY would set; this is what its login sets.
        self._connection.user = discord.ClientUser(state=self._connection, data=me)
        self._application_id = int(application["id"])
        self._token = token

    async def connect(self, *, reconnect: bool = True) -> None:
        """discord.py's own login to Discord, which the gateway needs, then the gateway."""
        if self._token is None:
            raise RuntimeError("login() first")
        await super().login(self._token)
        await super().connect(reconnect=reconnect)

    async def close(self) -> None:
        await super().close()
        await self.rest.close()

    async def on_ready(self) -> None:
        """Register the commands once per process (READY repeats after each new session)."""
        if self.synced:
            return
        self.synced = True
        try:
            commands = await self.sync_commands()
        except Exception:
            self.synced = False
            log.exception("could not register the /news commands with Discord")
        else:
            log.info("registered %d Discord command(s) as application %s", len(commands), self.application_id)

    async def sync_commands(self) -> list[Any]:
        """Replace the application's global commands with this tree's (what ``tree.sync()`` sends)."""
        if self.application_id is None:
            raise RuntimeError("the application id is unknown before login")
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        return await self.rest.bulk_overwrite_commands(self.application_id, payload)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A press of an alert's button (a component interaction; app commands go through the tree).

        The member's permissions come with the interaction, so ``mute`` is checked by the core
        at every press; the answer is always ephemeral, and the alert is left as it is.
        """
        if interaction.type is not discord.InteractionType.component:
            return
        data = cast(Mapping[str, Any], interaction.data or {})  # a component's: custom_id, component_type
        text = button_text(str(data.get("custom_id") or ""))
        if text is None:
            return  # someone else's component; not ours to answer
        try:
            if interaction.guild_id is None:
                reply = GUILD_ONLY
            else:
                work = asyncio.ensure_future(self.handler(text, interaction_context(interaction)))
                try:
                    await self._defer_if_slow(interaction, work)
                    reply = await work
                except Exception:
                    log.exception("Discord: button %r failed", text)
                    reply = FAILED
            await self.reply(interaction, CommandReply(reply.title, reply.lines, True, reply.ok))
        except Exception:
            log.exception("could not answer a button press")

    async def answer(self, interaction: discord.Interaction, text: str, *, slow: bool = False) -> None:
        """Run ``/news text`` through the core and reply; ``slow`` commands defer first, any other
        that takes longer than ``ACK_WITHIN`` (waiting for the write turn, say) once that has passed."""
        if slow:
            await self._defer(interaction)
        work = asyncio.ensure_future(self.handler(text, interaction_context(interaction)))
        await self._defer_if_slow(interaction, work)
        # The core turns failures into replies; anything that still escapes reaches
        # NewsTree.on_error, which answers with an apology (after a defer, as a followup).
        await self.reply(interaction, await work)

    async def _defer_if_slow(self, interaction: discord.Interaction, work: asyncio.Future[CommandReply]) -> None:
        """Defer the interaction unless ``work`` is done within ``ACK_WITHIN`` or it was deferred already."""
        if interaction.extras.get(ANSWERED):
            return
        done, _ = await asyncio.wait({work}, timeout=ACK_WITHIN)
        if not done:
            await self._defer(interaction)

    async def _defer(self, interaction: discord.Interaction) -> None:
        """Acknowledge now (Discord shows "thinking…", only to the caller); the answer follows."""
        await self._callback(interaction, {"type": DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, "data": {"flags": EPHEMERAL}})

    async def reply(self, interaction: discord.Interaction, reply: CommandReply) -> None:
        """Send ``reply`` as the interaction's response, or as a followup once it has one."""
        body = message_body(None, [render_reply(reply)], ephemeral=reply.ephemeral)
        if interaction.extras.get(ANSWERED):
            await self.rest.execute_webhook(interaction.application_id, interaction.token, body)
        else:
            await self._callback(interaction, {"type": CHANNEL_MESSAGE_WITH_SOURCE, "data": body})

    async def _callback(self, interaction: discord.Interaction, body: dict[str, Any]) -> None:
        await self.rest.interaction_callback(interaction.id, interaction.token, body)
        interaction.extras[ANSWERED] = True
