"""Posting digests through a Discord webhook URL (no bot token needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import discord
from discord.http import Route
from discord.webhook.async_ import async_context

from adapters.base import Adapter, ChannelAddress, Limits
from adapters.discord.render import MAX_EMBED_TOTAL, MAX_EMBEDS, NO_MENTIONS, DiscordMessage, render_embeds
from adapters.discord.rest import DISCORD_HOSTS, WebhookTransport, delivery_errors
from botsvc.models import Digest

_WEBHOOK_PATH = re.compile(r"(?P<prefix>.*)/webhooks/(?P<id>[0-9]{1,20})/(?P<token>[A-Za-z0-9._-]+)/?")


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
    if parts.hostname in DISCORD_HOSTS:
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
        self._transports: dict[str, WebhookTransport] = {}

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
            transport = self._transports[target.base_url] = WebhookTransport(target.base_url)
        context = async_context.set(transport)
        try:
            with delivery_errors(f"webhook {target.id}"):
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
