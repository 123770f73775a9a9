"""Checking webhook addresses before they are stored, and taking Discord's apart.

A webhook URL is both the channel's address and its credential, so it is checked when a
channel is subscribed (a malformed one is refused there with a clear message) and no
error message here ever repeats it. Kept free of the platform SDKs so that loading the
configuration does not import them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from botsvc.deliver.adapter import AddressError
from botsvc.deliver.links import web_link

DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
_DISCORD_PATH = re.compile(r"(?P<prefix>.*)/webhooks/(?P<id>[0-9]{1,20})/(?P<token>[A-Za-z0-9._-]+)/?")
MAX_WEBHOOK_URL = 500


class WebhookURLError(AddressError):
    """A webhook address that cannot be one; the message says why without repeating it."""


def _well_formed(url: str, platform: str) -> str:
    url = url.strip()
    if not url or len(url) > MAX_WEBHOOK_URL or any(char.isspace() for char in url):
        raise WebhookURLError(f"{platform} webhook address must be one http(s) URL without spaces")
    if web_link(url, MAX_WEBHOOK_URL) is None:
        raise WebhookURLError(f"{platform} webhook address must be a well-formed http(s) URL")
    return url


def check_slack_webhook_url(url: str) -> str:
    """``url`` if it can be a Slack incoming-webhook address, else :class:`WebhookURLError`."""
    return _well_formed(url, "Slack")


@dataclass(frozen=True)
class DiscordWebhook:
    """A Discord webhook URL taken apart; ``base_url`` is None for Discord's own hosts."""

    base_url: str | None
    id: int
    token: str


def parse_discord_webhook_url(url: str) -> DiscordWebhook:
    """Split ``<base>/webhooks/<id>/<token>``, else :class:`WebhookURLError`.

    Discord's own hosts use the library's API base (``base_url`` None); any other host (a
    proxy, a test server) is used as given.
    """
    url = _well_formed(url, "Discord")
    parts = urlsplit(url)
    match = _DISCORD_PATH.fullmatch(parts.path)
    if match is None:
        raise WebhookURLError("Discord webhook address must look like https://discord.com/api/webhooks/<id>/<token>")
    base = None if parts.hostname in DISCORD_HOSTS else f"{parts.scheme}://{parts.netloc}{match['prefix']}"
    return DiscordWebhook(base, int(match["id"]), match["token"])
