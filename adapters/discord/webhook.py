"""Posting digests through a Discord webhook URL (no bot token needed)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.discord.render import MAX_EMBED_TOTAL, MAX_EMBEDS, DiscordMessage, message_body, render_embeds
from adapters.discord.rest import DEFAULT_API_URL, DiscordRest, delivery_errors, message_id
from botsvc.deliver.adapter import Adapter, ChannelAddress, Limits
from botsvc.deliver.webhook_urls import parse_discord_webhook_url
from botsvc.models import Digest


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL taken apart: the API base its requests go to, its id and token."""

    base_url: str
    id: int
    token: str


def parse_webhook_url(url: str) -> WebhookTarget:
    """Split ``<base>/webhooks/<id>/<token>``; :class:`WebhookURLError` (a ValueError) if not one.

    Discord's own URLs (any of its hosts, with or without a version) are sent to
    :data:`DEFAULT_API_URL`; any other host (a proxy, a test server) is used as given. The
    error never repeats the URL: its token is a credential.
    """
    parsed = parse_discord_webhook_url(url)
    return WebhookTarget(parsed.base_url or DEFAULT_API_URL, parsed.id, parsed.token)


class DiscordWebhookAdapter(Adapter):
    """Posts through a webhook: ``channel`` is the webhook URL; no bot token needed."""

    name = "discord-webhook"
    limits = Limits(max_chars=MAX_EMBED_TOTAL, max_events=MAX_EMBEDS)

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        # One client per API base, so sends to one webhook share its rate-limit bucket.
        self._clients: dict[str, DiscordRest] = {}

    def render(self, digest: Digest) -> list[DiscordMessage]:
        return render_embeds(digest)

    async def send(self, channel: ChannelAddress, payload: DiscordMessage, *, key: str | None = None) -> str:
        target = parse_webhook_url(channel.channel)
        client = self._clients.get(target.base_url)
        if client is None:
            client = self._clients[target.base_url] = DiscordRest(target.base_url, timeout=self.timeout)
        with delivery_errors(f"webhook {target.id}", webhook=True):
            data = await client.execute_webhook(target.id, target.token, message_body(payload.content, payload.embeds))
        return message_id(data, f"webhook {target.id}")

    async def stop(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
