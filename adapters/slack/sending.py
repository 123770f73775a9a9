"""What both Slack adapters share: mapping Slack's failures for the outbox, and a session.

Neither adapter retries: a failure becomes a :class:`DeliveryError` whose scope says how
far it reaches (this message, the channel, the workspace's token, or retry later) and the
outbox decides what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from adapters.slack.render import EVENTS_PER_MESSAGE, MAX_TEXT, render_blocks
from botsvc.deliver.adapter import Adapter, DeliveryError, Limits, Scope
from botsvc.models import Digest

# Slack error codes that retrying cannot fix, by how far they reach (see botsvc.deliver.adapter.Scope).
AUTH_ERRORS = frozenset(
    {
        # The token or the workspace: every channel fails alike until the token is fixed.
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "access_denied",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "two_factor_setup_required",
    }
)
CHANNEL_ERRORS = frozenset(
    {
        # Web API: the channel and the bot's place in it
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        # Incoming webhooks: the hook is gone (its URL is its credential)
        "no_service",
        "no_team",
        "team_disabled",
        "invalid_token",
        "action_prohibited",
        "posting_to_general_channel_denied",
        "user_not_found",
        "no_active_hooks",
    }
)
MESSAGE_ERRORS = frozenset(
    {
        # The payload: the same message will be refused again, other messages are fine.
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_attachments",
        "too_many_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "markdown_text_conflict",
        "invalid_payload",
    }
)
PARENT_GONE = frozenset({"message_not_found", "thread_not_found", "cant_update_message"})
"""The message a thread reply or an edit names is gone (or not the bot's): the update goes in the channel."""
PERMANENT_ERRORS = AUTH_ERRORS | CHANNEL_ERRORS | MESSAGE_ERRORS
# Incoming-webhook statuses without a known code: 400 refuses the payload, the others the hook.
WEBHOOK_STATUS_SCOPES: dict[int, Scope] = {400: "message", 403: "channel", 404: "channel", 410: "channel"}

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
SEND_TIMEOUT = 5.0
"""Default seconds per request to Slack when delivering (``BOTSVC_CHAT_TIMEOUT`` sets it)."""
UNREADABLE_ANSWER = (AttributeError, TypeError, ValueError, KeyError)
"""What slack_sdk raises when Slack (or something in between) answers 200 with a body that is not JSON."""


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "")))
    except ValueError:
        return None


def failure(
    where: str, status: int | None, code: str | None, headers: Mapping[str, str] | None, *, webhook: bool = False
) -> DeliveryError:
    """Map an HTTP status and Slack error code to a DeliveryError the outbox understands.

    On a webhook the URL is the credential, so what would be a token problem on the Web
    API ends that one hook (``channel``), not the workspace.
    """
    what = f"{where}: {code or 'error'} (HTTP {status})"
    if status == 429:
        return DeliveryError(f"{what}, rate limited", retry_after=_retry_after(headers))
    if status is not None and status >= 500:
        return DeliveryError(what)
    if code in AUTH_ERRORS:
        return DeliveryError(what, scope="channel" if webhook else "auth")
    if code in CHANNEL_ERRORS:
        return DeliveryError(what, scope="channel")
    if code in MESSAGE_ERRORS:
        return DeliveryError(what, scope="message")
    if webhook and status in WEBHOOK_STATUS_SCOPES:
        return DeliveryError(what, scope=WEBHOOK_STATUS_SCOPES[status])
    return DeliveryError(what)


def unknown_outcome(where: str, why: str, *, answered: bool = False) -> DeliveryError:
    """The post may have been accepted (a timeout, a dropped connection, a 2xx that is not a
    JSON object: ``answered``): the outbox looks for it in the channel before sending it again."""
    return DeliveryError(
        f"{where}: {why}; it may have been posted, so it is looked up before any resend",
        maybe_sent=True,
        answered=answered,
    )


def network_failure(where: str, exc: BaseException) -> DeliveryError:
    """A request that failed on the way: not sent when no connection was made, else perhaps sent."""
    why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused or unresolved: nothing reached Slack
        return DeliveryError(f"{where} unreachable: {why}")
    return unknown_outcome(f"{where} unreachable", why)


class SlackBase(Adapter):
    """Shared by both adapters: rendering, limits and an optional pooled HTTP session."""

    limits = Limits(max_chars=MAX_TEXT, max_events=EVENTS_PER_MESSAGE)

    def __init__(self, *, timeout: float = SEND_TIMEOUT) -> None:
        self.timeout = timeout
        """Seconds one request may take; a hung API costs one short wait, and the outbox retries later."""
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
