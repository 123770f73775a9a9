"""Discord adapter: digests as embeds, sent over the REST API (a bot token or a webhook URL).

Posting a digest needs no gateway connection, so both adapters use only discord.py's HTTP
layer, which brings its rate-limit handling (429s are waited out and retried) and its typed
errors. Feed text is untrusted: every message is sent with ``AllowedMentions.none()`` and
all feed text is neutralised as well, so a headline can neither ping nor break formatting.

The absolute ``import discord`` below is the discord.py package, not this module
(``adapters.discord``), because imports are absolute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
from discord.http import HTTPClient, Route, handle_message_parameters
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from adapters.base import Adapter, ChannelAddress, DeliveryError, Limits
from botsvc.models import Digest, DigestEvent

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

    def __init__(self, base_url: str, timeout: float) -> None:
        # max_ratelimit_timeout: a 429 asking for more than 30 s raises RateLimited instead
        # of holding the delivery for minutes; the caller reschedules.
        super().__init__(asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
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


class DiscordAdapter(Adapter):
    """Posts as a bot with a token, REST only (no gateway): ``channel`` is a channel id.

    The API base is ``base_url``, else ``$BOTSVC_DISCORD_API_URL``, else Discord's v10 API.
    """

    name = "discord"
    limits = Limits(max_chars=MAX_EMBED_TOTAL, max_events=MAX_EMBEDS)

    def __init__(self, token: str, base_url: str | None = None, *, timeout: float = 30.0) -> None:
        if not token:
            raise ValueError("a Discord bot token is required")
        self.token = token
        self.base_url = (base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"Discord API URL must be http(s): {self.base_url!r}")
        self.timeout = timeout
        self._http: _RestClient | None = None
        self._login = asyncio.Lock()

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

    async def start(self) -> None:
        """Log in now, so a bad token shows at startup rather than at the first digest."""
        with _delivery_errors("login"):
            await self._client()

    async def send(self, channel: ChannelAddress, payload: DiscordMessage) -> str:
        channel_id = _channel_id(channel)
        with _delivery_errors(f"channel {channel_id}"):
            http = await self._client()
            with handle_message_parameters(
                content=payload.content, embeds=list(payload.embeds), allowed_mentions=NO_MENTIONS
            ) as params:
                data = await http.send_message(channel_id, params=params)
        return str(data["id"])

    async def stop(self) -> None:
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

    async def send(self, channel: ChannelAddress, payload: DiscordMessage) -> str:
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
