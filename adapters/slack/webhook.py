"""Posting digests to a Slack incoming webhook (no bot token; the address is the credential)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.sending import NETWORK_ERRORS, SlackBase, failure
from botsvc.deliver.adapter import ChannelAddress, DeliveryError
from botsvc.deliver.webhook_urls import WebhookURLError as WebhookURLError  # re-exported by the package
from botsvc.deliver.webhook_urls import check_slack_webhook_url

check_webhook_url = check_slack_webhook_url
"""``url`` if it can be an incoming-webhook address, else :class:`WebhookURLError` (a ValueError)."""


class SlackWebhookAdapter(SlackBase):
    """Posts to an incoming webhook; the channel address *is* the webhook URL.

    The URL is a credential, so it never appears in error messages.
    """

    name = "slack-webhook"

    async def send(self, channel: ChannelAddress, payload: dict[str, Any], *, key: str | None = None) -> str:
        """Post one payload; webhooks return no id, so the id is derived from the payload."""
        client = AsyncWebhookClient(
            check_webhook_url(channel.channel),
            timeout=self.timeout,  # type: ignore[arg-type]  # seconds, a float is fine
            session=self._session,
            retry_handlers=[],
        )
        try:
            response = await client.send(
                text=payload["text"], blocks=payload["blocks"], unfurl_links=False, unfurl_media=False
            )
        except NETWORK_ERRORS as exc:
            raise DeliveryError(f"Slack webhook unreachable: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            code = (response.body or "").strip()[:100] or None
            raise failure("Slack webhook", response.status_code, code, response.headers, webhook=True)
        digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return f"webhook-{digest[:12]}"
