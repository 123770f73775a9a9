"""Slack: Block Kit digests through the Web API (bot token) or an incoming webhook, and
``/news`` slash commands through slack-bolt.

* :mod:`adapters.slack.render`: digests and replies as Block Kit, feed text made inert;
* :mod:`adapters.slack.sending`: Slack's failures as the outbox's DeliveryError;
* :mod:`adapters.slack.bot`: :class:`SlackAdapter` (``SLACK_BOT_TOKEN``, commands over
  HTTP or Socket Mode);
* :mod:`adapters.slack.webhook`: :class:`SlackWebhookAdapter`.
"""

from adapters.slack.bot import (
    ACK_WITHIN,
    API_URL_ENV,
    COMMAND,
    EVENTS_PATH,
    MANAGER_CACHE_SECONDS,
    WORKING,
    SlackAdapter,
)
from adapters.slack.render import (
    EVENTS_PER_MESSAGE,
    MAX_BLOCKS,
    MAX_TEXT,
    mrkdwn_text,
    plain_text,
    render_blocks,
    render_event,
    render_reply,
    safe_link,
)
from adapters.slack.sending import PERMANENT_ERRORS
from adapters.slack.webhook import SlackWebhookAdapter, WebhookURLError, check_webhook_url

__all__ = [
    "ACK_WITHIN",
    "API_URL_ENV",
    "COMMAND",
    "EVENTS_PATH",
    "EVENTS_PER_MESSAGE",
    "MANAGER_CACHE_SECONDS",
    "MAX_BLOCKS",
    "MAX_TEXT",
    "PERMANENT_ERRORS",
    "WORKING",
    "SlackAdapter",
    "SlackWebhookAdapter",
    "WebhookURLError",
    "check_webhook_url",
    "mrkdwn_text",
    "plain_text",
    "render_blocks",
    "render_event",
    "render_reply",
    "safe_link",
]
