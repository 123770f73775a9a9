"""Slack adapters: Block Kit digests through the Web API (bot token) or an incoming webhook.

Feed text is untrusted. Before it goes into a message every piece of it (titles, source
names, the digest title) is flattened to one line, has ``&``, ``<`` and ``>`` turned into
entities (so ``<!channel>``, ``<@U123>`` or ``<https://evil|click>`` show as text) and has
mrkdwn's formatting marks swapped for look-alikes (see ``_LOOKALIKES``). Only http(s)
links become ``<url|text>``, with the address percent-encoded so it cannot end the link.

Neither adapter retries: a failure becomes a :class:`DeliveryError` (permanent, temporary
or with ``retry_after``) and the outbox decides when to try again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import Adapter, ChannelAddress, DeliveryError, Limits
from botsvc.models import Digest, DigestEvent, DigestStory

__all__ = [
    "API_URL_ENV",
    "EVENTS_PER_MESSAGE",
    "PERMANENT_ERRORS",
    "SlackAdapter",
    "SlackWebhookAdapter",
    "WebhookURLError",
    "check_webhook_url",
    "mrkdwn_text",
    "plain_text",
    "render_blocks",
    "render_event",
    "safe_link",
]

API_URL_ENV = "BOTSVC_SLACK_API_URL"
DEFAULT_API_URL = AsyncWebClient.BASE_URL

MAX_TEXT = 3000  # Slack's limit for one text object
MAX_HEADER = 150  # ... and for a header block's text
EVENTS_PER_MESSAGE = 20  # one header + 20 sections: well under the 50-block limit

# Budgets for the parts of one event's text. Their sum plus markup stays under MAX_TEXT,
# so no event ever needs splitting or dropping; an over-long part is cut with "…".
MAX_URL = 1000  # longer addresses are shown unlinked rather than cut (a cut URL is broken)
TITLE_BUDGET = 1500
SOURCE_BUDGET = 100
NAMES_BUDGET = 270
FALLBACK_TITLE_BUDGET = 200

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

_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)

# --- safe text -----------------------------------------------------------------------

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# mrkdwn has no escape character, so formatting marks in feed text are replaced by their
# fullwidth look-alikes (＊ ＿ ～ ｀). They read the same but never open or close bold,
# italics, strike-through or code, whatever surrounds them (link labels included).
_LOOKALIKES = {"*": "＊", "_": "＿", "~": "～", "`": "｀"}
_MRKDWN = str.maketrans({**_ENTITIES, **_LOOKALIKES})
_PLAIN = str.maketrans(_ENTITIES)


def _inert(text: str, limit: int, table: dict[int, str]) -> str:
    text = " ".join(text.split())  # one line: feed text cannot add lines of its own
    out = text.translate(table)
    if len(out) <= limit:
        return out
    kept: list[str] = []
    size = 0
    for char in text:  # cut between characters, never inside an entity
        piece = char.translate(table)
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept).rstrip() + "…"


def mrkdwn_text(text: str, limit: int = MAX_TEXT) -> str:
    """Feed text that shows literally inside mrkdwn, at most ``limit`` characters."""
    if text.lstrip().startswith(">"):
        text = "＞" + text.lstrip()[1:]  # a line starting with > would become a quote
    return _inert(text, limit, _MRKDWN)


def plain_text(text: str, limit: int = MAX_TEXT) -> str:
    """Feed text for a ``plain_text`` object (no mrkdwn there, so only entities)."""
    return _inert(text, limit, _PLAIN)


def safe_link(url: str) -> str | None:
    """``url`` ready to go inside ``<url|text>``, or None unless it is an http(s) address."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode everything outside URL syntax (|, <, >, spaces, quotes, non-ASCII):
    # nothing in the address can close the link or open another. & becomes an entity.
    url = quote(url, safe="!#$%&'()*+,/:;=?@[]~").replace("&", "&amp;")
    return url if len(url) <= MAX_URL else None


# --- rendering -----------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "date unknown"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%d %b %Y %H:%M UTC")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _linked(story: DigestStory) -> str:
    title = mrkdwn_text(story.title, TITLE_BUDGET) or "(untitled)"
    url = safe_link(story.link) if story.link else None
    return f"<{url}|{title}>" if url else title


def _names(stories: tuple[DigestStory, ...]) -> str:
    return mrkdwn_text(", ".join(story.source for story in stories), NAMES_BUDGET)


def render_event(entry: DigestEvent) -> str:
    """One event as mrkdwn: a new alert, or a single line when an event only grew."""
    lead = entry.headline
    if entry.update:
        everyone = (lead, *entry.others)
        return f"Update: {_linked(lead)} — now {_plural(len(everyone), 'source')}: {_names(everyone)}"
    lines = [f"*{_linked(lead)}*", f"{mrkdwn_text(lead.source, SOURCE_BUDGET)} · {_when(lead.published)}"]
    if entry.others:
        lines.append(f"+{len(entry.others)} more source{'s' if len(entry.others) > 1 else ''}: {_names(entry.others)}")
    return "\n".join(lines)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fallback(title: str, events: tuple[DigestEvent, ...], part: str) -> str:
    """The notification / screen-reader text: no feed text except the digest title."""
    updates = sum(entry.update for entry in events)
    counts = [_plural(len(events) - updates, "new event")] + ([_plural(updates, "update")] if updates else [])
    return f"{mrkdwn_text(title, FALLBACK_TITLE_BUDGET)}: {', '.join(counts)}{part}"


def render_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Block Kit payloads ``{"text", "blocks"}`` for ``digest``, in order, every event kept.

    Each payload has a header and up to ``EVENTS_PER_MESSAGE`` sections; when there is more
    than one, the header and fallback say which part ("(2/6)").
    """
    events = digest.events
    chunks = [events[i : i + EVENTS_PER_MESSAGE] for i in range(0, len(events), EVENTS_PER_MESSAGE)] or [()]
    payloads = []
    for number, chunk in enumerate(chunks, 1):
        part = f" ({number}/{len(chunks)})" if len(chunks) > 1 else ""
        header = plain_text(digest.title, MAX_HEADER - len(part)) + part
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": header}}]
        blocks += [_section(render_event(entry)) for entry in chunk] or [_section("Nothing new.")]
        payloads.append({"text": _fallback(digest.title, chunk, part), "blocks": blocks})
    return payloads


# --- errors --------------------------------------------------------------------------


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "")))
    except ValueError:
        return None


def _failure(where: str, status: int | None, code: str | None, headers: Mapping[str, str] | None,
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


class _SlackBase(Adapter):
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


class SlackAdapter(_SlackBase):
    """Posts through the Web API (``chat.postMessage``) with a bot token."""

    name = "slack"

    def __init__(self, token: str, base_url: str | None = None) -> None:
        super().__init__()
        base_url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        # No retry handlers: retries and backoff belong to the outbox.
        self.client = AsyncWebClient(token=token, base_url=base_url, timeout=self.timeout, retry_handlers=[])

    async def start(self) -> None:
        await super().start()
        self.client.session = self._session

    async def stop(self) -> None:
        await super().stop()
        self.client.session = None

    async def send(self, channel: ChannelAddress, payload: dict[str, Any]) -> str:
        """Post one payload; the message id is Slack's ``ts``."""
        try:
            response = await self.client.chat_postMessage(
                channel=channel.channel,
                text=payload["text"],
                blocks=payload["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            # ``response`` is a SlackResponse, or aiohttp's response when the body was not JSON.
            response = exc.response
            data = getattr(response, "data", None)
            raise _failure(
                "Slack API",
                getattr(response, "status_code", None) or getattr(response, "status", None),
                data.get("error") if isinstance(data, dict) else None,
                getattr(response, "headers", None),
            ) from exc
        except _NETWORK_ERRORS as exc:
            raise DeliveryError(f"Slack API unreachable: {type(exc).__name__}: {exc}") from exc
        return str(response["ts"])


class WebhookURLError(DeliveryError, ValueError):
    """A webhook address that is not http(s): a ValueError, and permanent for the outbox."""

    def __init__(self) -> None:
        super().__init__("Slack webhook address must be an http(s) URL", permanent=True)


def check_webhook_url(url: str) -> str:
    """``url`` if it can be an incoming-webhook address, else :class:`WebhookURLError`."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise WebhookURLError() from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise WebhookURLError()
    return url


class SlackWebhookAdapter(_SlackBase):
    """Posts to an incoming webhook; the channel address *is* the webhook URL.

    The URL is a credential, so it never appears in error messages.
    """

    name = "slack-webhook"

    async def send(self, channel: ChannelAddress, payload: dict[str, Any]) -> str:
        """Post one payload; webhooks return no id, so the id is derived from the payload."""
        client = AsyncWebhookClient(
            check_webhook_url(channel.channel), timeout=self.timeout, session=self._session, retry_handlers=[]
        )
        try:
            response = await client.send(
                text=payload["text"], blocks=payload["blocks"], unfurl_links=False, unfurl_media=False
            )
        except _NETWORK_ERRORS as exc:
            raise DeliveryError(f"Slack webhook unreachable: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            code = (response.body or "").strip()[:100] or None
            raise _failure("Slack webhook", response.status_code, code, response.headers, PERMANENT_WEBHOOK_STATUSES)
        digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return f"webhook-{digest[:12]}"
