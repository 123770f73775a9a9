"""Discord: digests as embeds over the REST API (a bot token or a webhook URL), and
``/news`` app commands for the bot.

* :mod:`adapters.discord.render`: embeds and replies, feed text neutralised;
* :mod:`adapters.discord.rest`: Discord's documented REST endpoints over aiohttp at a
  configurable API base (discord.py's own HTTP layer is private), and their failures as
  the outbox's DeliveryError;
* :mod:`adapters.discord.commands`: the ``/news`` command tree and gateway client;
* :mod:`adapters.discord.bot`: :class:`DiscordAdapter` (``DISCORD_BOT_TOKEN``);
* :mod:`adapters.discord.webhook`: :class:`DiscordWebhookAdapter`.

Inside this package ``import discord`` is discord.py, not this package
(``adapters.discord``): imports are absolute.
"""

from adapters.discord.bot import DiscordAdapter
from adapters.discord.commands import NewsClient, NewsGroup, NewsTree, command_text, interaction_context
from adapters.discord.render import (
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_TITLE,
    NO_MENTIONS,
    DiscordMessage,
    neutralise,
    render_embed,
    render_embeds,
    render_reply,
    render_reply_line,
)
from adapters.discord.rest import API_URL_ENV, DEFAULT_API_URL
from adapters.discord.webhook import DiscordWebhookAdapter, WebhookTarget, parse_webhook_url

__all__ = [
    "API_URL_ENV",
    "DEFAULT_API_URL",
    "MAX_CONTENT",
    "MAX_DESCRIPTION",
    "MAX_EMBEDS",
    "MAX_EMBED_TOTAL",
    "MAX_TITLE",
    "NO_MENTIONS",
    "DiscordAdapter",
    "DiscordMessage",
    "DiscordWebhookAdapter",
    "NewsClient",
    "NewsGroup",
    "NewsTree",
    "WebhookTarget",
    "command_text",
    "interaction_context",
    "neutralise",
    "parse_webhook_url",
    "render_embed",
    "render_embeds",
    "render_reply",
    "render_reply_line",
]
