"""Posting digests through a Discord webhook URL (no bot token needed)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import discord
from discord.http import Route
from discord.webhook.async_ import async_context

from adapters.base import Adapter, ChannelAddress, Limits
from adapters.discord.render import MAX_EMBED_TOTAL, MAX_EMBEDS, NO_MENTIONS, DiscordMessage, render_embeds
from adapters.discord.rest import UNREADABLE_ANSWER, WebhookTransport, delivery_errors, message_id
from adapters.webhook_urls import parse_discord_webhook_url
from botsvc.models import Digest


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL taken apart: the API base its requests go to, its id and token."""

    base_url: str
    id: int
    token: str


def parse_webhook_url(url: str) -> WebhookTarget:
    """Split ``<base>/webhooks/<id>/<token>``; :class:`WebhookURLError` (a ValueError) if not one.

    ``Webhook.from_url`` only accepts discord.com URLs, so the URL is parsed here and the
    webhook built with ``Webhook.partial``. Discord's own URLs keep discord.py's API base;
    any other host (a proxy, a test server) is used as given. The error never repeats the
    URL: its token is a credential.
    """
    parsed = parse_discord_webhook_url(url)
    return WebhookTarget(parsed.base_url or Route.BASE, parsed.id, parsed.token)


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
            with delivery_errors(f"webhook {target.id}", webhook=True):
                message = await webhook.send(
                    content=payload.content, embeds=list(payload.embeds), allowed_mentions=NO_MENTIONS, wait=True
                )
        except UNREADABLE_ANSWER:  # discord.py read a message out of an answer that holds none
            message = None
        finally:
            async_context.reset(context)
        return message_id({"id": message.id} if message is not None else None, f"webhook {target.id}")

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
