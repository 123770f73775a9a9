"""What both Slack adapters share: mapping Slack's failures for the outbox, and a session.

Neither adapter retries: a failure becomes a :class:`DeliveryError` (permanent, temporary
or with ``retry_after``) and the outbox decides when to try again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from adapters.base import Adapter, DeliveryError, Limits
from adapters.slack.render import EVENTS_PER_MESSAGE, MAX_TEXT, render_blocks
from botsvc.models import Digest

# Slack error codes that retrying cannot fix: the channel, the bot's place in it or the
# token is gone, or the message itself is refused. The outbox holds these for a person.
PERMANENT_ERRORS = frozenset({
    # Web API: channel and membership
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
    "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
    # Web API: token and workspace
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "no_permission", "not_allowed_token_type", "access_denied",
    "team_access_not_granted", "ekm_access_denied", "org_login_required",
    # Web API: the payload (the same payload will be refused again)
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
    # Incoming webhooks
    "no_service", "no_team", "team_disabled", "invalid_token", "action_prohibited",
    "posting_to_general_channel_denied", "user_not_found", "no_active_hooks", "invalid_payload",
})
# Incoming-webhook statuses that mean the hook is gone or refuses this payload for good.
PERMANENT_WEBHOOK_STATUSES = frozenset({400, 403, 404, 410})

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "")))
    except ValueError:
        return None


def failure(where: str, status: int | None, code: str | None, headers: Mapping[str, str] | None,
             permanent_statuses: frozenset[int] = frozenset()) -> DeliveryError:
    """Map an HTTP status and Slack error code to a DeliveryError the outbox understands."""
    what = f"{where}: {code or 'error'} (HTTP {status})"
    if status == 429:
        return DeliveryError(f"{what}, rate limited", retry_after=_retry_after(headers))
    if status is not None and status >= 500:
        return DeliveryError(what)
    if code in PERMANENT_ERRORS or status in permanent_statuses:
        return DeliveryError(what, permanent=True)
    return DeliveryError(what)


class SlackBase(Adapter):
    """Shared by both adapters: rendering, limits and an optional pooled HTTP session."""

    limits = Limits(max_chars=MAX_TEXT, max_events=EVENTS_PER_MESSAGE)
    timeout = 30

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def render(self, digest: Digest) -> list[dict[str, Any]]:
        return render_blocks(digest)

    async def start(self) -> None:
        """Open one keep-alive session for all sends (without it each send opens its own)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
