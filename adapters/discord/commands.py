"""``/news`` as Discord app commands: the command tree, its checks, and the gateway client.

App commands arrive as interactions over the gateway, so :class:`NewsClient` is opened
only when commands are attached to the bot adapter. Each subcommand rebuilds the text
the core parses; replies are one neutralised embed with mentions disabled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import discord
from discord import app_commands
from discord.webhook.async_ import async_context

from adapters.base import CommandHandler
from adapters.discord.render import NO_MENTIONS, render_reply
from adapters.discord.rest import RestClient, WebhookTransport
from botsvc.models import CommandContext, CommandReply, ReplyLine

log = logging.getLogger(__name__)

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
    @app_commands.describe(topic="Topic name; the default topic if empty",
                           mode="realtime, hourly, or daily HH:MM [Area/City]")
    @manage_channels_only
    @guild_only
    async def subscribe(self, interaction: discord.Interaction, topic: str | None = None,
                        mode: str | None = None) -> None:
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
    @app_commands.describe(query="Words to search for", since="From this day (YYYY-MM-DD)",
                           until="Up to this day (YYYY-MM-DD)", share="Show the answer to the channel")
    async def search(self, interaction: discord.Interaction, query: str, since: str | None = None,
                     until: str | None = None, share: bool = False) -> None:
        await self._run(interaction, command_text("search", query, _keyed("since", since), _keyed("until", until),
                                                  share=share))

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

    feed = app_commands.Group(name="feed", description="Add or remove feeds (Manage Channels)")

    @feed.command(name="add", description="Poll a new RSS/Atom feed (Manage Channels)")
    @app_commands.describe(url="The feed's http(s) address", name="A name for it; the feed's title if empty")
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

    @app_commands.command(name="help", description="What /news can do")
    async def help_(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "help")


def _error_reply(interaction: discord.Interaction, error: app_commands.AppCommandError) -> CommandReply:
    command = interaction.command
    name = f"/{command.qualified_name}" if command is not None else "that command"
    if isinstance(error, app_commands.NoPrivateMessage):
        return CommandReply(f"{name} works only in a server channel.", ok=False)
    if isinstance(error, app_commands.MissingPermissions):
        return CommandReply(f"Sorry, only people who manage this channel can use {name}.",
                            (ReplyLine("That needs the Manage Channels permission here."),), ok=False)
    if isinstance(error, app_commands.TransformerError):
        return CommandReply(f"{name}: an option has a value it cannot take. Try /news help.", ok=False)
    return FAILED


class NewsTree(app_commands.CommandTree):
    """The command tree; errors become a short reply to the user, details go to the log."""

    client: NewsClient

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        if not isinstance(error, app_commands.CheckFailure):
            log.error("/news command failed (guild %s, channel %s)", interaction.guild_id, interaction.channel_id,
                      exc_info=error)
        try:
            await self.client.reply(interaction, _error_reply(interaction, error))
        except Exception:
            log.exception("could not answer a failed /news command")


class NewsClient(discord.Client):
    """The gateway connection that receives ``/news`` interactions and answers them.

    Its REST calls (login, command sync) and its interaction replies go to ``base_url``
    like the delivery client's. Interactions need no intent; ``guilds`` (not privileged)
    only keeps discord.py's guild cache, which it expects, coherent.
    """

    def __init__(self, handler: CommandHandler, base_url: str, timeout: float) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.http = RestClient(base_url, timeout, loop=self.loop)
        self._connection.http = self.http
        self.handler = handler
        self.transport = WebhookTransport(base_url)
        self.tree = NewsTree(self)
        self.tree.add_command(NewsGroup(self))
        self.synced = False

    async def on_ready(self) -> None:
        """Register the commands once per process (READY repeats after each new session)."""
        if self.synced:
            return
        self.synced = True
        try:
            commands = await self.tree.sync()
        except Exception:
            self.synced = False
            log.exception("could not register the /news commands with Discord")
        else:
            log.info("registered %d Discord command(s) as application %s", len(commands), self.application_id)

    @contextlib.contextmanager
    def _rest(self) -> Iterator[None]:
        """Interaction replies use discord.py's webhook transport; point it at ``base_url``."""
        token = async_context.set(self.transport)
        try:
            yield
        finally:
            async_context.reset(token)

    async def answer(self, interaction: discord.Interaction, text: str, *, slow: bool = False) -> None:
        """Run ``/news text`` through the core and reply; ``slow`` commands defer first."""
        if slow:
            with self._rest():
                await interaction.response.defer(ephemeral=True, thinking=True)
        # The core turns failures into replies; anything that still escapes reaches
        # NewsTree.on_error, which answers with an apology (after a defer, as a followup).
        await self.reply(interaction, await self.handler(text, interaction_context(interaction)))

    async def reply(self, interaction: discord.Interaction, reply: CommandReply) -> None:
        """Send ``reply`` as the interaction's response, or as a followup once deferred."""
        embed = render_reply(reply)
        with self._rest():
            if interaction.response.is_done():
                await interaction.followup.send(embed=embed, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(embed=embed, ephemeral=reply.ephemeral,
                                                        allowed_mentions=NO_MENTIONS)
