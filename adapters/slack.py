"""Slack adapters: Block Kit digests through the Web API (bot token) or an incoming webhook,
and ``/news`` slash commands through slack-bolt.

Feed text is untrusted. Before it goes into a message every piece of it (titles, source
names, the digest title) is flattened to one line, has ``&``, ``<`` and ``>`` turned into
entities (so ``<!channel>``, ``<@U123>`` or ``<https://evil|click>`` show as text) and has
mrkdwn's formatting marks swapped for look-alikes (see ``_LOOKALIKES``). Only http(s)
links become ``<url|text>``, with the address percent-encoded so it cannot end the link.
Command replies go through the same escaping (:func:`render_reply`).

Neither adapter retries: a failure becomes a :class:`DeliveryError` (permanent, temporary
or with ``retry_after``) and the outbox decides when to try again.

Which environment variables enable what (read by ``botsvc.platforms``):

* ``SLACK_BOT_TOKEN`` (``xoxb-…``, scopes ``chat:write`` and ``commands``; ``users:read``
  when managers are the workspace admins): delivery. Alone it takes no commands.
* ``SLACK_SIGNING_SECRET``: HTTP mode. Slack posts ``/news`` to ``POST /slack/events`` on
  the bot's HTTP port (``BOTSVC_HTTP_PORT``); set the command's Request URL to
  ``https://<public host>/slack/events``. Bolt rejects a bad signature or a timestamp more
  than five minutes off with 401.
* ``SLACK_APP_TOKEN`` (``xapp-…``, scope ``connections:write``): Socket Mode. The bot opens
  a websocket to Slack, so no public URL and no signing secret are needed.

With both set, both work. ``BOTSVC_SLACK_API_URL`` moves every Web API call (delivery,
``auth.test``, ``users.info``, ``apps.connections.open``) to another base URL.

Who may manage (``subscribe``, ``unsubscribe``, ``feed``): the user ids in ``managers``
(``[slack] managers`` in the configuration), or by default the workspace's admins and
owners, asked of ``users.info`` and remembered for ``MANAGER_CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import Adapter, ChannelAddress, CommandHandler, DeliveryError, Limits, Route
from botsvc.commands import MANAGING
from botsvc.models import CommandContext, CommandReply, Digest, DigestEvent, DigestStory, ReplyLine

log = logging.getLogger(__name__)

__all__ = [
    "ACK_WITHIN",
    "API_URL_ENV",
    "COMMAND",
    "EVENTS_PER_MESSAGE",
    "EVENTS_PATH",
    "MANAGER_CACHE_SECONDS",
    "PERMANENT_ERRORS",
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

# Command replies: a bold title section, then the lines packed into sections of at most
# MAX_TEXT characters; one line (text budget + a MAX_URL link + markup) always fits one.
MAX_BLOCKS = 50  # Slack's limit for one message
REPLY_TITLE_BUDGET = MAX_TEXT - 2  # room for the bold marks
REPLY_LINE_BUDGET = 1500

COMMAND = "/news"
EVENTS_PATH = "/slack/events"
ACK_WITHIN = 2.0
"""Seconds a command may take before it is acknowledged with ``WORKING`` (Slack allows 3)."""
WORKING = "Working on it…"
MANAGER_CACHE_SECONDS = 120.0
"""How long a ``users.info`` answer (admin or not) is trusted."""
SOCKET_CONNECT_WAIT = 10.0
"""Seconds ``start()`` waits for Socket Mode before going on (it keeps trying in the background)."""
STOP_GRACE = 5.0
"""Seconds ``stop()`` gives slow commands to post their replies."""

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


def _reply_line(line: ReplyLine) -> str:
    text = mrkdwn_text(line.text, REPLY_LINE_BUDGET)
    if not line.link:
        return text
    url = safe_link(line.link)
    if url:
        return f"<{url}|{text}>" if text else f"<{url}>"
    # Not an http(s) address (or too long to link): shown, inert, on its own line.
    shown = mrkdwn_text(line.link, MAX_URL)
    return f"{text}\n{shown}" if text else shown


def render_reply(reply: CommandReply) -> dict[str, Any]:
    """A command reply as ``{"response_type", "text", "blocks"}`` for ``ack()`` or ``respond()``.

    Every piece of the reply is escaped: titles and lines carry feed text. Lines that do not
    fit 50 blocks of 3000 characters end in "…and N more" instead of failing the reply.
    """
    title = mrkdwn_text(reply.title, REPLY_TITLE_BUDGET)
    blocks: list[dict[str, Any]] = [_section(f"*{title}*")] if title else []
    chunks: list[list[str]] = []
    sizes: list[int] = []
    lines = [_reply_line(line) for line in reply.lines]
    left = 0
    for index, text in enumerate(lines):
        if not text:
            continue
        if chunks and sizes[-1] + 1 + len(text) <= MAX_TEXT:
            chunks[-1].append(text)
            sizes[-1] += 1 + len(text)
        elif len(blocks) + len(chunks) < MAX_BLOCKS:
            chunks.append([text])
            sizes.append(len(text))
        else:
            left = sum(1 for rest in lines[index:] if rest)
            break
    if left:
        more = f"…and {left} more"
        while sizes[-1] + 1 + len(more) > MAX_TEXT:  # make room in the last section
            sizes[-1] -= len(chunks[-1].pop()) + 1
            left += 1
            more = f"…and {left} more"
        chunks[-1].append(more)
    blocks += [_section("\n".join(chunk)) for chunk in chunks]
    return {
        "response_type": "ephemeral" if reply.ephemeral else "in_channel",
        "text": mrkdwn_text(reply.title, MAX_TEXT) or "(no text)",
        "blocks": blocks,
    }


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


FAILED = CommandReply("Sorry, that failed on our side; it has been logged. Please try again later.", ok=False)


class SlackAdapter(_SlackBase):
    """Posts through the Web API (``chat.postMessage``) with a bot token, and takes ``/news``.

    Commands arrive over HTTP (``signing_secret``: :meth:`http_routes`) and/or Socket Mode
    (``app_token``: :meth:`start`), both through one slack-bolt :class:`AsyncApp`.
    ``managers`` is a collection of Slack user ids that may manage, or None for the
    workspace's admins and owners (``users.info``).
    """

    name = "slack"
    ack_within = ACK_WITHIN

    def __init__(self, token: str, base_url: str | None = None, *, signing_secret: str | None = None,
                 app_token: str | None = None, managers: Collection[str] | None = None) -> None:
        super().__init__()
        self.base_url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        # No retry handlers: retries and backoff belong to the outbox.
        self.client = AsyncWebClient(token=token, base_url=self.base_url, timeout=self.timeout, retry_handlers=[])
        self.signing_secret = signing_secret or None
        self.app_token = app_token or None
        if isinstance(managers, str):  # one id, not a string of characters
            managers = (managers,)
        self.managers: frozenset[str] | None = None if managers is None else frozenset(managers)
        self.bolt: AsyncApp | None = None
        self._handler: CommandHandler | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Future[Any] | None = None
        self._admins: dict[tuple[str, str], tuple[float, bool]] = {}
        self._pending: set[asyncio.Future[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        self.client.session = self._session
        if self.bolt is not None and self.app_token and self._socket is None:
            await self._connect_socket()

    async def stop(self) -> None:
        """Let slow commands post their replies (briefly), then close Socket Mode and the session."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=STOP_GRACE)
            for task in list(self._pending):
                task.cancel()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._socket_task is not None:
            self._socket_task.cancel()
            self._socket_task = None
        await super().stop()
        self.client.session = None

    async def _connect_socket(self) -> None:
        """Open Socket Mode; if Slack is slow or down, go on and let it keep trying.

        The SDK retries a failed connection forever, so waiting for it could hold up the
        whole bot (delivery included) for as long as Slack is unreachable.
        """
        assert self.bolt is not None and self.app_token is not None
        self._socket = AsyncSocketModeHandler(self.bolt, self.app_token)
        self._socket_task = asyncio.ensure_future(self._socket.connect_async())
        done, _ = await asyncio.wait({self._socket_task}, timeout=SOCKET_CONNECT_WAIT)
        if done and self._socket_task.exception() is None:
            log.info("Slack: Socket Mode connected; taking %s", COMMAND)
        else:
            log.warning("Slack: Socket Mode not connected after %.0fs; still trying", SOCKET_CONNECT_WAIT)

    # -- commands ------------------------------------------------------------------

    def attach_commands(self, handler: CommandHandler) -> None:
        """Answer ``/news`` with ``handler``; a no-op without a signing secret or an app token."""
        if not (self.signing_secret or self.app_token):
            log.info("Slack: no SLACK_SIGNING_SECRET or SLACK_APP_TOKEN, so no %s commands", COMMAND)
            return
        self._handler = handler
        # The token goes in through the client (Bolt takes the client's token and warns when
        # given both), so every Web API call, auth.test and users.info included, and Socket
        # Mode's apps.connections.open use the configured base URL.
        # process_before_response=False is Bolt's mode for a long-running server: it answers
        # the HTTP request as soon as ack() is called. (True is for FaaS, where nothing may
        # run after the response; the listener returns right after its ack either way, and
        # a slow reply goes on in a task of this adapter, see _on_command.)
        # An explicit "" keeps Bolt from reading SLACK_SIGNING_SECRET behind our back; HTTP
        # routes exist only with a secret, and Socket Mode requests are not signed.
        self.bolt = AsyncApp(
            name="botsvc",
            signing_secret=self.signing_secret or "",
            client=AsyncWebClient(token=self.client.token, base_url=self.base_url, timeout=self.timeout),
            process_before_response=False,
        )
        self.bolt.command(COMMAND)(self._on_command)

    def http_routes(self) -> list[Route]:
        """``POST /slack/events`` when commands come over HTTP (a signing secret is set)."""
        if self.bolt is None or not self.signing_secret:
            return []
        return [("POST", EVENTS_PATH, self._events)]

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """One request from Slack: Bolt verifies the signature and timestamp, then dispatches."""
        assert self.bolt is not None
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                          client: AsyncWebClient) -> None:
        """Ack with the answer if it is ready in ``ack_within`` seconds; else ack at once and
        post the answer to the command's response_url when it is ready."""
        work = asyncio.ensure_future(self._answer(command, client))
        done, _ = await asyncio.wait({work}, timeout=self.ack_within)
        if done:
            await ack(render_reply(work.result()))
            return
        await ack({"response_type": "ephemeral", "text": WORKING})
        later = asyncio.ensure_future(self._respond_later(work, respond))
        self._pending.add(later)  # a strong reference, and what stop() waits for
        later.add_done_callback(self._pending.discard)

    async def _respond_later(self, work: asyncio.Future[CommandReply], respond: AsyncRespond) -> None:
        reply = await work
        try:
            response = await respond(render_reply(reply))
        except Exception as exc:  # response_url unreachable; nobody else to tell
            log.warning("Slack: could not post a %s reply: %s: %s", COMMAND, type(exc).__name__, exc)
            return
        if not 200 <= response.status_code < 300:
            log.warning("Slack: response_url refused a %s reply (HTTP %s)", COMMAND, response.status_code)

    async def _answer(self, command: Mapping[str, Any], client: AsyncWebClient) -> CommandReply:
        """The handler's reply; any failure becomes an apology, never a traceback for the user."""
        text = str(command.get("text") or "")
        try:
            assert self._handler is not None
            return await self._handler(text, await self._context(command, client))
        except Exception:
            log.exception("Slack: %s %r failed", COMMAND, text[:100])
            return FAILED

    async def _context(self, command: Mapping[str, Any], client: AsyncWebClient) -> CommandContext:
        team = str(command.get("team_id") or "")
        user = str(command.get("user_id") or "")
        words = str(command.get("text") or "").split()
        # The users.info lookup (admins decide) is only worth a Web API call for managing commands.
        needed = self.managers is not None or (bool(words) and words[0].lower() in MANAGING)
        return CommandContext(platform=self.name, channel=str(command.get("channel_id") or ""), workspace=team,
                              user=user, can_manage=needed and await self.can_manage(team, user, client))

    async def can_manage(self, team: str, user: str, client: AsyncWebClient | None = None) -> bool:
        """Whether ``user`` may manage: listed in ``managers``, or by default an admin or owner.

        Admin status is asked of ``users.info`` and remembered briefly; when Slack cannot
        say, the answer is no (managing is refused, reading still works).
        """
        if not user:
            return False
        if self.managers is not None:
            return user in self.managers
        now = time.monotonic()
        cached = self._admins.get((team, user))
        if cached is not None and cached[0] > now:
            return cached[1]
        client = client or (self.bolt.client if self.bolt is not None else self.client)
        try:
            response = await client.users_info(user=user)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            data = getattr(getattr(exc, "response", None), "data", None)
            why = data.get("error") if isinstance(data, dict) else type(exc).__name__
            log.warning("Slack: users.info for %s failed (%s); not a manager", user, why)
            return False
        info = response.get("user") or {}
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        if len(self._admins) > 1000:
            self._admins = {key: value for key, value in self._admins.items() if value[0] > now}
        self._admins[(team, user)] = (now + MANAGER_CACHE_SECONDS, admin)
        return admin

    async def send(self, channel: ChannelAddress, payload: dict[str, Any], *, key: str | None = None) -> str:
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

    async def send(self, channel: ChannelAddress, payload: dict[str, Any], *, key: str | None = None) -> str:
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
