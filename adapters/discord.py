"""Discord adapter: digests as embeds, sent over the REST API (a bot token or a webhook URL),
and ``/news`` app commands for the bot adapter.

Posting a digest needs no gateway connection, so both adapters deliver through discord.py's
HTTP layer only, which brings its rate-limit handling (429s are waited out and retried) and
its typed errors. App commands arrive as interactions over the gateway, so the bot adapter
opens one (:class:`NewsClient`) only when commands are attached. Feed text is untrusted:
every message is sent with ``AllowedMentions.none()`` and all feed text is neutralised as
well, so a headline can neither ping nor break formatting.

The absolute ``import discord`` below is the discord.py package, not this module
(``adapters.discord``), because imports are absolute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
from discord import app_commands
from discord.http import HTTPClient, Route, handle_message_parameters
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from adapters.base import Adapter, ChannelAddress, CommandHandler, DeliveryError, Limits
from botsvc.models import CommandContext, CommandReply, Digest, DigestEvent, ReplyLine

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://discord.com/api/v10"
API_URL_ENV = "BOTSVC_DISCORD_API_URL"

# Discord's documented limits for one message.
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_CONTENT = 2000

NO_MENTIONS = discord.AllowedMentions.none()
_ZWSP = "\u200b"
_DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
_WEBHOOK_PATH = re.compile(r"(?P<prefix>.*)/webhooks/(?P<id>[0-9]{1,20})/(?P<token>[A-Za-z0-9._-]+)/?")


@dataclass(frozen=True)
class DiscordMessage:
    """One message to post: a short text line plus up to ten embeds."""

    content: str
    embeds: tuple[discord.Embed, ...] = ()

    @property
    def embed_chars(self) -> int:
        """Characters Discord counts against the 6000 limit (titles, descriptions, ...)."""
        return sum(len(embed) for embed in self.embeds)


# -- rendering -------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Feed text made inert: no markdown, no mentions, no ``<...>`` syntax, one line.

    ``escape_markdown`` backslash-escapes ``* _ ~ | ` \\``, quotes, headings and masked
    links. ``escape_mentions`` only covers 17-20 digit ids and skips channels, so a zero-width
    space goes after every ``@`` (``@everyone``, ``@here``) and every ``<`` (user, role,
    channel, emoji and timestamp syntax all start with ``<``).
    """
    text = discord.utils.escape_markdown(" ".join(text.split()))
    return text.replace("@", "@" + _ZWSP).replace("<", "<" + _ZWSP)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc(moment: datetime) -> datetime:
    """Models hold UTC; a naive value is UTC too (discord.py would read it as local time)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _when(moment: datetime | None) -> str:
    return _utc(moment).strftime("%d %b %Y %H:%M UTC") if moment else "date unknown"


def _web_link(link: str) -> str | None:
    return link if urlsplit(link).scheme in ("http", "https") else None


def render_embed(entry: DigestEvent) -> discord.Embed:
    """One event as one embed; an update (event grew) is a compact line, not a new alert."""
    lead = entry.headline
    title = neutralise(lead.title) or "(untitled)"
    title = _clip(f"Update: {title}" if entry.update else title, MAX_TITLE)
    if entry.update:
        sources = [lead.source, *(story.source for story in entry.others)]
        description = f"now {len(sources)} sources: " + ", ".join(neutralise(s) for s in sources)
        return discord.Embed(title=title, url=_web_link(lead.link), description=_clip(description, MAX_DESCRIPTION))
    description = f"{neutralise(lead.source)} · {_when(lead.published)}"
    if entry.others:
        count = len(entry.others)
        names = ", ".join(neutralise(story.source) for story in entry.others)
        description += f"\n+{count} more source{'s' if count > 1 else ''}: {names}"
    return discord.Embed(
        title=title,
        url=_web_link(lead.link),
        description=_clip(description, MAX_DESCRIPTION),
        timestamp=_utc(lead.published) if lead.published else None,
    )


def _headline(digest: Digest) -> str:
    updates = sum(entry.update for entry in digest.events)
    new = len(digest.events) - updates
    parts = [f"{new} new event{'s' if new != 1 else ''}"] if new or not updates else []
    if updates:
        parts.append(f"{updates} update{'s' if updates != 1 else ''}")
    return f"**{neutralise(digest.title)}**: " + ", ".join(parts)


def render_embeds(digest: Digest) -> list[DiscordMessage]:
    """The digest as messages of at most 10 embeds and 6000 embed characters; no event dropped.

    A single embed is at most 256 + 4096 characters, so it always fits a message of its own.
    """
    batches: list[list[discord.Embed]] = []
    for embed in map(render_embed, digest.events):
        if not batches or len(batches[-1]) == MAX_EMBEDS or sum(map(len, batches[-1])) + len(embed) > MAX_EMBED_TOTAL:
            batches.append([])
        batches[-1].append(embed)
    headline = _headline(digest)
    if not batches:
        return [DiscordMessage(_clip(headline, MAX_CONTENT))]
    parts = len(batches)
    return [
        DiscordMessage(_clip(headline + (f" ({number}/{parts})" if parts > 1 else ""), MAX_CONTENT), tuple(batch))
        for number, batch in enumerate(batches, 1)
    ]


# -- delivery --------------------------------------------------------------------------


def _rebase(url: str, base_url: str) -> str:
    """``url`` (built on discord.py's ``Route.BASE``) moved onto ``base_url``."""
    return base_url + url[len(Route.BASE) :] if url.startswith(Route.BASE) else url


class _RestClient(HTTPClient):
    """discord.py's HTTP client with every route rebased onto ``base_url``.

    HTTPClient builds its routes on the class attribute ``Route.BASE``; setting that would
    redirect every client in the process, so this client rewrites each route it sends
    instead. It also bounds each request with ``timeout`` (discord.py sets none).
    """

    def __init__(self, base_url: str, timeout: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # max_ratelimit_timeout: a 429 asking for more than 30 s raises RateLimited instead
        # of holding the delivery for minutes; the caller reschedules. ``loop`` is for a
        # discord.Client built outside a loop: it fills in the real loop at login.
        super().__init__(loop if loop is not None else asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
        self.base_url = base_url
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def request(self, route: Route, **kwargs: Any) -> Any:
        route.url = _rebase(route.url, self.base_url)
        kwargs.setdefault("timeout", self.timeout)
        return await super().request(route, **kwargs)


class _WebhookTransport(AsyncWebhookAdapter):
    """discord.py's webhook transport with routes rebased onto ``base_url``.

    ``Webhook`` looks its transport up in the context variable ``async_context`` on every
    call; :class:`DiscordWebhookAdapter` sets this one only around its own sends.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    async def request(self, route: Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        route.url = _rebase(route.url, self.base_url)
        return await super().request(route, session, **kwargs)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _from_http_error(exc: discord.HTTPException, what: str) -> DeliveryError:
    detail = exc.text or exc.response.reason or "no detail"
    message = f"Discord answered {exc.status} for {what}: {detail}" + (f" (code {exc.code})" if exc.code else "")
    if exc.status == 429:  # discord.py retried and gave up, or the limiter had no Via header
        return DeliveryError(message, retry_after=_seconds(exc.response.headers.get("Retry-After")))
    if exc.status >= 500:
        return DeliveryError(message)
    # 400 bad payload, 401 bad token, 403 Missing Access (50001), 404 Unknown Channel (10003):
    # the same request will fail again.
    return DeliveryError(message, permanent=True)


@contextlib.contextmanager
def _delivery_errors(what: str) -> Iterator[None]:
    """discord.py and aiohttp failures as :class:`DeliveryError`."""
    try:
        yield
    except discord.RateLimited as exc:
        raise DeliveryError(f"rate limited sending to {what}", retry_after=exc.retry_after) from exc
    except discord.LoginFailure as exc:
        raise DeliveryError(f"Discord rejected the bot token: {exc}", permanent=True) from exc
    except discord.HTTPException as exc:
        raise _from_http_error(exc, what) from exc
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        raise DeliveryError(f"could not reach Discord for {what}: {exc!r}") from exc


def _channel_id(channel: ChannelAddress) -> int:
    if not channel.channel.isdigit():
        raise ValueError(f"a Discord channel id is a number, not {channel.channel!r}")
    return int(channel.channel)


# -- /news app commands ----------------------------------------------------------------

MAX_REPLY_LINE = 600
_MORE_RESERVE = 32  # room kept for "…and N more"
_LINK_TARGET = re.compile(r"""https?://[^\s()<>\[\]`|\\"']+""", re.IGNORECASE)
FAILED = CommandReply("Sorry, that failed on our side; it has been logged. Please try again later.", ok=False)


def _link_target(link: str | None) -> str | None:
    """``link`` if it can sit inside ``[text](...)`` as is: http(s), nothing that ends or escapes it."""
    return link if link and _LINK_TARGET.fullmatch(link) and _web_link(link) else None


def render_reply_line(line: ReplyLine) -> str:
    """One reply line, neutralised; a masked link only to a plain http(s) URL.

    Brackets in the text become parentheses, so the text cannot close the ``[...]`` early
    and point the link somewhere else.
    """
    text = _clip(neutralise(line.text.replace("[", "(").replace("]", ")")), MAX_REPLY_LINE)
    target = _link_target(line.link)
    if target is None:
        return text
    return f"[{text}]({target})" if text else target


def _fit_lines(lines: list[str], limit: int) -> str:
    """``lines`` joined, cut at a line boundary with a count of those left out."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        cost = len(line) + (1 if kept else 0)
        if size + cost > limit - (0 if index == len(lines) - 1 else _MORE_RESERVE):
            kept.append(f"…and {len(lines) - index} more")
            break
        kept.append(line)
        size += cost
    return "\n".join(kept)


def render_reply(reply: CommandReply) -> discord.Embed:
    """A command reply as one embed: the core's text is untrusted too (feed titles, errors)."""
    description = _fit_lines([render_reply_line(line) for line in reply.lines], MAX_DESCRIPTION)
    return discord.Embed(
        title=_clip(neutralise(reply.title), MAX_TITLE) or None,
        description=description or None,
        colour=None if reply.ok else discord.Colour.red(),
    )


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
        self.http = _RestClient(base_url, timeout, loop=self.loop)
        self._connection.http = self.http
        self.handler = handler
        self.transport = _WebhookTransport(base_url)
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


class DiscordAdapter(Adapter):
    """Posts as a bot with a token over REST: ``channel`` is a channel id.

    Delivery never needs the gateway; it is opened only once ``/news`` commands are attached.
    The API base is ``base_url``, else ``$BOTSVC_DISCORD_API_URL``, else Discord's v10 API.
    discord.py always connects the gateway to Discord itself, whatever the API base, so by
    default it is opened only when the API base is Discord's too: a test server or a local
    stand-in never leads to a connection to Discord. ``gateway=True`` opens it anyway (REST
    through a proxy, gateway direct), ``gateway=False`` never.
    """

    name = "discord"
    limits = Limits(max_chars=MAX_EMBED_TOTAL, max_events=MAX_EMBEDS)

    def __init__(self, token: str, base_url: str | None = None, *, timeout: float = 30.0,
                 gateway: bool | None = None) -> None:
        if not token:
            raise ValueError("a Discord bot token is required")
        self.token = token
        self.base_url = (base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"Discord API URL must be http(s): {self.base_url!r}")
        self.timeout = timeout
        self.open_gateway = parts.hostname in _DISCORD_HOSTS if gateway is None else gateway
        self._http: _RestClient | None = None
        self._login = asyncio.Lock()
        self.commands: NewsClient | None = None
        """The gateway client for ``/news``, once :meth:`attach_commands` was called."""
        self._gateway: asyncio.Task[None] | None = None

    def render(self, digest: Digest) -> list[DiscordMessage]:
        return render_embeds(digest)

    async def _client(self) -> _RestClient:
        """Logged-in client; ``static_login`` opens discord.py's session and checks the token."""
        async with self._login:
            if self._http is None:
                http = _RestClient(self.base_url, self.timeout)
                try:
                    await http.static_login(self.token)
                except BaseException:
                    await http.close()
                    raise
                self._http = http
            return self._http

    def attach_commands(self, handler: CommandHandler) -> None:
        """Answer ``/news`` app commands with ``handler``; :meth:`start` connects to receive them."""
        if self.commands is None:
            self.commands = NewsClient(handler, self.base_url, self.timeout)
        else:
            self.commands.handler = handler

    async def start(self) -> None:
        """Log in now, so a bad token shows at startup rather than at the first digest.

        With commands attached, the gateway runs in the background first, so a delivery
        login failure (reported to the caller) does not also keep commands away.
        """
        if self.commands is not None and self._gateway is None:
            if self.open_gateway:
                self._gateway = asyncio.create_task(self._run_gateway(self.commands), name="discord-gateway")
            else:
                log.warning("/news commands are not received: the Discord API is %s, so the gateway (always "
                            "Discord's) stays closed; pass gateway=True to open it anyway", self.base_url)
        with _delivery_errors("login"):
            await self._client()

    async def _run_gateway(self, client: NewsClient) -> None:
        """``client.start`` (login, then connect; it reconnects by itself), retried if it falls over."""
        delay = 5.0
        while not client.is_closed():
            try:
                await client.start(self.token)
                return
            except (discord.LoginFailure, discord.PrivilegedIntentsRequired) as exc:
                log.error("Discord gateway refused (%s); /news commands are unavailable", exc)
                return
            except Exception:
                if client.is_closed():
                    log.exception("Discord gateway closed; /news commands are unavailable")
                    return
                log.exception("Discord gateway failed; reconnecting in %.0f s", delay)
            await client.http.close()  # login opens a new session
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300.0)

    async def send(self, channel: ChannelAddress, payload: DiscordMessage, *, key: str | None = None) -> str:
        channel_id = _channel_id(channel)
        with _delivery_errors(f"channel {channel_id}"):
            http = await self._client()
            # The nonce makes Discord drop a repeat of this part (a resend after a crash).
            with handle_message_parameters(
                content=payload.content, embeds=list(payload.embeds), allowed_mentions=NO_MENTIONS, nonce=key
            ) as params:
                data = await http.send_message(channel_id, params=params)
        return str(data["id"])

    async def stop(self) -> None:
        if self.commands is not None and not self.commands.is_closed():
            await self.commands.close()
        if self._gateway is not None:
            self._gateway.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gateway
            self._gateway = None
        if self._http is not None:
            await self._http.close()
            self._http = None


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL taken apart: the API base its requests go to, its id and token."""

    base_url: str
    id: int
    token: str


def parse_webhook_url(url: str) -> WebhookTarget:
    """Split ``<base>/webhooks/<id>/<token>``; ValueError if ``url`` is not one.

    ``Webhook.from_url`` only accepts discord.com URLs, so the URL is parsed here and the
    webhook built with ``Webhook.partial``. Discord's own URLs keep discord.py's API base;
    any other host (a proxy, a test server) is used as given.
    """
    parts = urlsplit(url)
    match = _WEBHOOK_PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
        raise ValueError(f"not a Discord webhook URL (http(s)://.../webhooks/<id>/<token>): {url!r}")
    if parts.hostname in _DISCORD_HOSTS:
        base = Route.BASE
    else:
        base = f"{parts.scheme}://{parts.netloc}{match['prefix']}"
    return WebhookTarget(base, int(match["id"]), match["token"])


class DiscordWebhookAdapter(Adapter):
    """Posts through a webhook: ``channel`` is the webhook URL; no bot token needed."""

    name = "discord-webhook"
    limits = Limits(max_chars=MAX_EMBED_TOTAL, max_events=MAX_EMBEDS)

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        # One transport per API base, so discord.py's per-webhook locks are shared by sends.
        self._transports: dict[str, _WebhookTransport] = {}

    def render(self, digest: Digest) -> list[DiscordMessage]:
        return render_embeds(digest)

    async def start(self) -> None:
        self._open()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def send(self, channel: ChannelAddress, payload: DiscordMessage, *, key: str | None = None) -> str:
        target = parse_webhook_url(channel.channel)
        webhook = discord.Webhook.partial(target.id, target.token, session=self._open())
        transport = self._transports.get(target.base_url)
        if transport is None:
            transport = self._transports[target.base_url] = _WebhookTransport(target.base_url)
        context = async_context.set(transport)
        try:
            with _delivery_errors(f"webhook {target.id}"):
                message = await webhook.send(
                    content=payload.content, embeds=list(payload.embeds), allowed_mentions=NO_MENTIONS, wait=True
                )
        finally:
            async_context.reset(context)
        return str(message.id)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
