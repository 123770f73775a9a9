"""The Discord bot: digests to channels by id over REST with a bot token, and ``/news``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import discord

from adapters.discord.commands import NewsClient
from adapters.discord.render import MAX_EMBED_TOTAL, MAX_EMBEDS, DiscordMessage, message_body, render_embeds
from adapters.discord.rest import (
    API_URL_ENV,
    DEFAULT_API_URL,
    DISCORD_HOSTS,
    DiscordHTTPError,
    DiscordRest,
    LoginRefused,
    delivery_errors,
    message_id,
    parent_gone,
    snowflake_at,
)
from botsvc.deliver.adapter import (
    Adapter,
    AddressError,
    ChannelAddress,
    CommandHandler,
    DeliveryError,
    Limits,
    ParentGone,
)
from botsvc.models import Digest

log = logging.getLogger(__name__)

LOOKUP_MARGIN = timedelta(minutes=2)
"""How much earlier than a cut-off send's start the lookup of recent messages begins (clocks differ)."""
LOOKUP_PAGES = 5
"""Pages of 100 recent messages read at most when looking for a cut-off send."""


def _channel_id(channel: ChannelAddress) -> int:
    if not (channel.channel.isascii() and channel.channel.isdigit()):
        raise AddressError("a Discord channel id is a number")
    return int(channel.channel)


class DiscordAdapter(Adapter):
    """Posts as a bot with a token over REST: ``channel`` is a channel id.

    Delivery never needs the gateway; it is opened only once ``/news`` commands are attached.
    The API base is ``base_url``, else ``$BOTSVC_DISCORD_API_URL``, else Discord's v10 API.
    discord.py always connects the gateway to Discord itself, whatever the API base, so by
    default it is opened only when the API base is Discord's too: a test server or a local
    stand-in never leads to a connection to Discord. ``gateway=True`` opens it anyway (posts
    and replies through a proxy; the gateway, and discord.py's login that opens it, direct),
    ``gateway=False`` never.
    """

    name = "discord"
    limits = Limits(max_chars=MAX_EMBED_TOTAL, max_events=MAX_EMBEDS)

    def __init__(
        self, token: str, base_url: str | None = None, *, timeout: float = 30.0, gateway: bool | None = None
    ) -> None:
        if not token:
            raise ValueError("a Discord bot token is required")
        self.token = token
        self.base_url = (base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"Discord API URL must be http(s): {self.base_url!r}")
        self.timeout = timeout
        self._bot_id: str | None = None
        self.open_gateway = parts.hostname in DISCORD_HOSTS if gateway is None else gateway
        self._http: DiscordRest | None = None
        self._login = asyncio.Lock()
        self.commands: NewsClient | None = None
        """The gateway client for ``/news``, once :meth:`attach_commands` was called."""
        self._gateway: asyncio.Task[None] | None = None

    def render(self, digest: Digest) -> list[DiscordMessage]:
        """Embeds, with each alert's buttons when the gateway client receives their presses."""
        return render_embeds(digest, buttons=self.commands is not None and self.open_gateway)

    async def _client(self) -> DiscordRest:
        """The REST client, once ``GET /users/@me`` has accepted the token."""
        async with self._login:
            if self._http is None:
                http = DiscordRest(self.base_url, token=self.token, timeout=self.timeout)
                try:
                    me = await http.current_user()
                except BaseException:
                    await http.close()
                    raise
                self._http = http
                self._bot_id = str(me.get("id")) if isinstance(me, dict) else None
            return self._http

    def attach_commands(self, handler: CommandHandler) -> None:
        """Answer ``/news`` app commands with ``handler``; :meth:`start` connects to receive them."""
        if self.commands is None:
            self.commands = NewsClient(handler, DiscordRest(self.base_url, timeout=self.timeout))
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
                log.warning(
                    "/news commands are not received: the Discord API is %s, so the gateway (always "
                    "Discord's) stays closed; pass gateway=True to open it anyway",
                    self.base_url,
                )
        with delivery_errors("login"):
            await self._client()

    async def _run_gateway(self, client: NewsClient) -> None:
        """``client.start`` (login, then connect; it reconnects by itself), retried if it falls over."""
        delay = 5.0
        while not client.is_closed():
            try:
                await client.start(self.token)
                return
            except (LoginRefused, discord.LoginFailure, discord.PrivilegedIntentsRequired) as exc:
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
        with delivery_errors(f"channel {channel_id}"):
            http = await self._client()
            data = await http.create_message(
                channel_id, message_body(payload.content, payload.embeds, nonce=key, components=payload.components)
            )
        return message_id(data, f"channel {channel_id}", look_up=True)

    reads_back = True

    async def find_sent(
        self,
        channel: ChannelAddress,
        key: str,
        *,
        since: datetime,
        parent_id: str | None = None,
        payload: DiscordMessage | None = None,
    ) -> str | None:
        """The id of the bot's message since ``since`` that is ``payload`` (replying to ``parent_id``
        when given), else None.

        Discord keeps no nonce on a stored message, so recent messages are compared with what
        was sent. None also when the bot may not read the channel's history: then the resend
        carries the same enforced nonce, which Discord answers with the first message for a few
        minutes after it.
        """
        if payload is None:
            return None
        channel_id = _channel_id(channel)
        try:
            with delivery_errors(f"channel {channel_id}"):
                http = await self._client()
                try:
                    found = await self._recent(http, channel_id, snowflake_at(since - LOOKUP_MARGIN))
                except DiscordHTTPError as exc:
                    if exc.status != 403:
                        raise
                    log.warning(
                        "Discord: cannot read channel %s's history to check a cut-off send (%s; grant Read "
                        "Message History); sending it again with its nonce",
                        channel_id,
                        exc,
                    )
                    return None
        except DeliveryError as exc:
            exc.maybe_sent = True
            raise
        wanted = _fingerprint(message_body(payload.content, payload.embeds))
        for message in found:
            if str((message.get("author") or {}).get("id")) != self._bot_id:
                continue
            replied = (message.get("message_reference") or {}).get("message_id")
            if parent_id is not None and str(replied) != parent_id:
                continue
            if _fingerprint(message) == wanted:
                return str(message["id"])
        return None

    async def _recent(self, http: DiscordRest, channel_id: int, after: int) -> list[dict[str, Any]]:
        """The channel's messages after the snowflake ``after``, up to ``LOOKUP_PAGES`` pages of 100."""
        found: list[dict[str, Any]] = []
        for _ in range(LOOKUP_PAGES):
            page = await http.channel_messages(channel_id, after=after, limit=100)
            page = [m for m in page if isinstance(m, dict) and m.get("id")] if isinstance(page, list) else []
            found += page
            if len(page) < 100:
                break
            after = max(int(m["id"]) for m in page)
        return found

    threads = True

    async def send_in_thread(
        self, channel: ChannelAddress, payload: DiscordMessage, parent_id: str, *, key: str
    ) -> str:
        """Post as a reply to ``parent_id`` (``message_reference``), which works in every text channel."""
        channel_id = _channel_id(channel)
        body = message_body(payload.content, payload.embeds, nonce=key)
        body["message_reference"] = {"message_id": parent_id, "fail_if_not_exists": True}
        with self._parent_gone(), delivery_errors(f"channel {channel_id}"):
            http = await self._client()
            data = await http.create_message(channel_id, body)
        return message_id(data, f"channel {channel_id}", look_up=True)

    async def edit(self, channel: ChannelAddress, message_id: str, payload: DiscordMessage) -> None:
        channel_id = _channel_id(channel)
        body = message_body(payload.content, payload.embeds)
        with self._parent_gone(), delivery_errors(f"channel {channel_id}"):
            http = await self._client()
            await http.edit_message(channel_id, int(message_id), body)

    @contextlib.contextmanager
    def _parent_gone(self) -> Iterator[None]:
        """Discord's Unknown Message for the referenced or edited message as :class:`ParentGone`."""
        try:
            yield
        except DeliveryError as exc:
            cause = exc.__cause__
            if isinstance(cause, DiscordHTTPError) and parent_gone(cause):
                raise ParentGone(str(exc)) from cause
            raise

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


def _fingerprint(message: dict[str, Any]) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """What identifies a message the bot posted: its text and each embed's title, link and description."""
    embeds = message.get("embeds") or []
    return (
        str(message.get("content") or ""),
        tuple(
            (str(e.get("title") or ""), str(e.get("url") or ""), str(e.get("description") or ""))
            for e in embeds
            if isinstance(e, dict)
        ),
    )
