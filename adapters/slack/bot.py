"""The Slack bot: digests through the Web API with a bot token, ``/news`` through slack-bolt.

Which environment variables enable what (read by ``botsvc.deliver.platforms``):

* ``SLACK_BOT_TOKEN`` (``xoxb-…``, scopes ``chat:write`` and ``commands``; ``users:read``
  when managers are the workspace admins): delivery. Alone it takes no commands.
* ``SLACK_SIGNING_SECRET``: HTTP mode. Slack posts ``/news`` to ``POST /slack/events`` on
  the bot's HTTP port (``BOTSVC_HTTP_PORT``); set the command's Request URL to
  ``https://<public host>/slack/events``. A bad signature or a timestamp more than five
  minutes off is refused with 401 before Bolt sees the request, as is a body over 64 KiB
  (413) or a request already received (409); see :mod:`adapters.slack.gate`.
* ``SLACK_APP_TOKEN`` (``xapp-…``, scope ``connections:write``): Socket Mode. The bot opens
  a websocket to Slack, so no public URL and no signing secret are needed.

With both set, both work. ``BOTSVC_SLACK_API_URL`` moves every Web API call (delivery,
``auth.test``, ``users.info``, ``apps.connections.open``) to another base URL.

An alert's buttons (Timeline, Mute event, Not relevant) come as ``block_actions`` through
the same gate and Bolt app (the app's Interactivity Request URL is the same
``/slack/events``): each is acknowledged at once and answered through its
``response_url``, visible only to whoever pressed it. Digests carry buttons only when
commands are attached, since only then is anyone there to receive the presses.

Who may manage (``subscribe``, ``unsubscribe``, ``feed``, ``mute``): the workspace's admins and
owners, asked of ``users.info`` and remembered for ``MANAGER_CACHE_SECONDS``, and also the
user ids in ``managers`` (``[slack] managers`` in the configuration). With ``managers_only``
(``[slack] managers_only = true``) the list alone decides and admins are not asked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.commandtext import plain_command_text
from adapters.slack.gate import Refusal, SignedRequestGate
from adapters.slack.render import ACTION_PREFIX, BUTTONS, render_blocks, render_reply
from adapters.slack.sending import (
    NETWORK_ERRORS,
    PARENT_GONE,
    SEND_TIMEOUT,
    UNREADABLE_ANSWER,
    SlackBase,
    failure,
    network_failure,
    unknown_outcome,
)
from botsvc.chat.commands import ASKS_RIGHTS
from botsvc.deliver.adapter import ChannelAddress, CommandHandler, DeliveryError, ParentGone, RequestMemory, Route
from botsvc.models import CommandContext, CommandReply, Digest

log = logging.getLogger(__name__)

API_URL_ENV = "BOTSVC_SLACK_API_URL"
DEFAULT_API_URL = AsyncWebClient.BASE_URL

COMMAND = "/news"
EVENTS_PATH = "/slack/events"
ACK_WITHIN = 0.5
"""Seconds a command may take before it is acknowledged with ``WORKING`` (Slack allows 3): a command
waiting for the write turn, or fetching a feed, is acknowledged within a second and answered later."""
WORKING = "Working on it…"
MANAGER_CACHE_SECONDS = 120.0
"""How long a ``users.info`` answer (admin or not) is trusted."""
SOCKET_CONNECT_WAIT = 10.0
"""Seconds ``start()`` waits for Socket Mode before going on (it keeps trying in the background)."""
STOP_GRACE = 5.0
BOLT_APP_NAME = "botsvc-slack"
COMMAND_TIMEOUT = 30
"""Seconds a Web API call made while answering a command (``users.info``) may take."""
OUTBOX_EVENT = "botsvc_outbox"
"""The ``event_type`` of the metadata every posted part carries; its payload names the outbox key."""
LOOKUP_MARGIN = 120.0
"""Seconds before a cut-off send's start that the history lookup also covers (clocks differ)."""
LOOKUP_PAGES = 10
"""Pages of 200 messages read at most when looking for a cut-off send."""

BUTTON_ACTIONS = re.compile(f"^{ACTION_PREFIX}({'|'.join(command for command, _ in BUTTONS)})$")
"""The ``action_id`` of an alert's buttons (:func:`adapters.slack.render.render_blocks`)."""
EVENT_VALUE = re.compile(r"[0-9]{1,12}")

FAILED = CommandReply("Sorry, that failed on our side; it has been logged. Please try again later.", ok=False)


def _id_of(value: Any) -> str:
    """``"T1"`` or ``{"id": "T1"}`` as ``"T1"``; anything else as ``""``."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def workspace_of(payload: Mapping[str, Any]) -> str:
    """The workspace (tenant) a command or a button press comes from, derived the same way for both.

    It is the workspace the app is installed in where it happened: ``team_id`` of a command,
    ``team.id`` of a button press. An Enterprise Grid org-wide install may send no team with
    a press: then the org (``enterprise_id`` / ``enterprise.id``, an ``E…`` id). Never the
    user's own team (``user.team_id``): in a channel shared between workspaces that is the
    other workspace's, so a stranger's press would count as theirs.
    """
    return (
        _id_of(payload.get("team_id"))
        or _id_of(payload.get("team"))
        or _id_of(payload.get("enterprise_id"))
        or _id_of(payload.get("enterprise"))
    )


class SlackAdapter(SlackBase):
    """Posts through the Web API (``chat.postMessage``) with a bot token, and takes ``/news``.

    Commands arrive over HTTP (``signing_secret``: :meth:`http_routes`) and/or Socket Mode
    (``app_token``: :meth:`start`), both through one slack-bolt :class:`AsyncApp`.
    ``managers`` is a collection of Slack user ids that may manage besides the workspace's
    admins and owners (``users.info``), or instead of them with ``managers_only``.
    """

    name = "slack"
    ack_within = ACK_WITHIN

    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        *,
        signing_secret: str | None = None,
        app_token: str | None = None,
        managers: Collection[str] | None = None,
        managers_only: bool = False,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        # No retry handlers: retries and backoff belong to the outbox. The SDK hints whole
        # seconds, but hands the number to aiohttp, which takes any.
        self.client = AsyncWebClient(
            token=token,
            base_url=self.base_url,
            timeout=self.timeout,  # type: ignore[arg-type]  # seconds, a float is fine
            retry_handlers=[],
        )
        self.signing_secret = signing_secret or None
        self.app_token = app_token or None
        if isinstance(managers, str):  # one id, not a string of characters
            managers = (managers,)
        self.managers: frozenset[str] | None = None if managers is None else frozenset(managers)
        self.managers_only = managers_only and self.managers is not None
        self.bolt: AsyncApp | None = None
        self._gate: SignedRequestGate | None = None
        self._request_memory: RequestMemory | None = None
        self._handler: CommandHandler | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Future[Any] | None = None
        self._admins: dict[tuple[str, str], tuple[float, bool]] = {}
        self._pending: set[asyncio.Future[Any]] = set()

    def render(self, digest: Digest) -> list[dict[str, Any]]:
        """Block Kit, with each alert's buttons when this app receives their presses."""
        return render_blocks(digest, buttons=self.bolt is not None)

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
        if self._gate is not None:
            self._gate.close()
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
        # Bolt gives its loggers the app's name and sets their level to the root logger's
        # (slack_bolt.logger): named "botsvc" it would reset the level of botsvc's own log.
        self.bolt = AsyncApp(
            name=BOLT_APP_NAME,
            signing_secret=self.signing_secret or "",
            client=AsyncWebClient(token=self.client.token, base_url=self.base_url, timeout=COMMAND_TIMEOUT),
            process_before_response=False,
        )
        self.bolt.command(COMMAND)(self._on_command)
        self.bolt.action(BUTTON_ACTIONS)(self._on_button)
        if self.signing_secret:
            self._gate = SignedRequestGate(self.signing_secret)
            self._gate.shared = self._request_memory

    def remember_requests(self, memory: RequestMemory) -> None:
        """Admitted requests go to ``memory`` too (the database): a replay sent to any web process is refused."""
        self._request_memory = memory
        if self._gate is not None:
            self._gate.shared = memory

    def http_routes(self) -> list[Route]:
        """``POST /slack/events`` when commands come over HTTP (a signing secret is set)."""
        if self.bolt is None or not self.signing_secret:
            return []
        return [("POST", EVENTS_PATH, self._events)]

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """One request from Slack: the gate checks its signature, size and freshness and that
        it is new, then Bolt (which checks the signature again) dispatches it."""
        assert self.bolt is not None and self._gate is not None
        try:
            body = await self._gate.admit(request)
        except Refusal as refusal:
            return refusal.response()
        # Bolt hints headers as a dict but only calls .items(), which aiohttp's multidict has;
        # Bolt's own aiohttp adapter passes request.headers with the same ignore.
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]  # hint too narrow
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
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

    async def _on_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """An alert's button: acknowledged at once, answered through the response_url, only to
        whoever pressed it, without touching the alert itself."""
        await ack()
        command = str(action.get("action_id") or "").removeprefix(ACTION_PREFIX)
        value = str(action.get("value") or "")
        # The value is ours, but anyone can post a signed-looking body: only a number goes on.
        text = f"{command} {value}" if EVENT_VALUE.fullmatch(value) else command
        fields = {
            "text": text,
            "team_id": workspace_of(body),
            "user_id": (body.get("user") or {}).get("id"),
            "channel_id": (body.get("channel") or {}).get("id"),
        }
        work = asyncio.ensure_future(self._answer(fields, client))
        later = asyncio.ensure_future(self._respond_later(work, respond, private=True))
        self._pending.add(later)
        later.add_done_callback(self._pending.discard)

    async def _respond_later(
        self, work: asyncio.Future[CommandReply], respond: AsyncRespond, *, private: bool = False
    ) -> None:
        """Post the reply to the response_url; ``private``: only to the caller, leaving the message as it is."""
        reply = await work
        message = render_reply(reply)
        if private:
            message.update(response_type="ephemeral", replace_original=False)
        try:
            response = await respond(message)
        except Exception as exc:  # response_url unreachable; nobody else to tell
            log.warning("Slack: could not post a %s reply: %s: %s", COMMAND, type(exc).__name__, exc)
            return
        if not 200 <= response.status_code < 300:
            log.warning("Slack: response_url refused a %s reply (HTTP %s)", COMMAND, response.status_code)

    async def _answer(self, command: Mapping[str, Any], client: AsyncWebClient) -> CommandReply:
        """The handler's reply; any failure becomes an apology, never a traceback for the user."""
        text = plain_command_text(str(command.get("text") or ""))
        try:
            assert self._handler is not None
            return await self._handler(text, await self._context(command, client))
        except Exception:
            log.exception("Slack: %s %r failed", COMMAND, text[:100])
            return FAILED

    async def _context(self, command: Mapping[str, Any], client: AsyncWebClient) -> CommandContext:
        team = workspace_of(command)
        user = str(command.get("user_id") or "")
        words = str(command.get("text") or "").split()
        # The users.info lookup (admins decide) is only worth a Web API call for managing commands.
        listed = self.managers is not None and user in self.managers
        needed = listed or (bool(words) and words[0].lower() in ASKS_RIGHTS)
        return CommandContext(
            platform=self.name,
            channel=str(command.get("channel_id") or ""),
            workspace=team,
            user=user,
            can_manage=needed and await self.can_manage(team, user, client),
        )

    async def can_manage(self, team: str, user: str, client: AsyncWebClient | None = None) -> bool:
        """Whether ``user`` may manage: listed in ``managers``, or an admin or owner (unless
        ``managers_only``).

        Admin status is asked of ``users.info`` and remembered briefly; when Slack cannot
        say, the answer is no (managing is refused, reading still works).
        """
        if not user:
            return False
        if self.managers is not None and user in self.managers:
            return True
        if self.managers_only:
            return False
        now = time.monotonic()
        cached = self._admins.get((team, user))
        if cached is not None and cached[0] > now:
            return cached[1]
        client = client or (self.bolt.client if self.bolt is not None else self.client)
        try:
            response = await client.users_info(user=user)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
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

    threads = True

    reads_back = True

    async def send(self, channel: ChannelAddress, payload: dict[str, Any], *, key: str | None = None) -> str:
        """Post one payload; the message id is Slack's ``ts``. ``key`` goes in the message's metadata."""
        return await self._post(channel, payload, key)

    async def send_in_thread(
        self, channel: ChannelAddress, payload: dict[str, Any], parent_id: str, *, key: str
    ) -> str:
        """Post one payload in the thread of the message whose ``ts`` is ``parent_id``."""
        return await self._post(channel, payload, key, thread_ts=parent_id)

    async def find_sent(
        self,
        channel: ChannelAddress,
        key: str,
        *,
        since: datetime,
        parent_id: str | None = None,
        payload: Any = None,
    ) -> str | None:
        """The ``ts`` of the message posted with ``key`` in its metadata since ``since``, else None.

        Reads the channel's history (a thread's replies for ``parent_id``) from a little
        before ``since``, with every message's metadata. A token without the history scopes
        (``channels:history``, ``groups:history``) cannot look: the part is sent again.
        """
        oldest = f"{max(0.0, since.timestamp() - LOOKUP_MARGIN):.6f}"
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            arguments: dict[str, Any] = {
                "channel": channel.channel,
                "oldest": oldest,
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                arguments["cursor"] = cursor
            try:
                if parent_id is None:
                    response = await self._call(self.client.conversations_history, **arguments)
                else:
                    response = await self._call(self.client.conversations_replies, ts=parent_id, **arguments)
            except ParentGone:
                return None
            except DeliveryError as exc:
                if exc.scope == "auth" and "missing_scope" in str(exc):
                    log.warning(
                        "Slack: cannot read %s's history to check a cut-off send (%s; add the channels:history "
                        "and groups:history scopes); sending it again",
                        channel.channel,
                        exc,
                    )
                    return None
                raise
            data = response.data if isinstance(response.data, dict) else {}
            for message in data.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == OUTBOX_EVENT
                    and (metadata.get("event_payload") or {}).get("key") == key
                ):
                    return str(message.get("ts"))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not data.get("has_more") or not cursor:
                return None
        return None

    async def edit(self, channel: ChannelAddress, message_id: str, payload: dict[str, Any]) -> None:
        """``chat.update`` the message whose ``ts`` is ``message_id``."""
        await self._call(
            self.client.chat_update,
            channel=channel.channel,
            ts=message_id,
            text=payload["text"],
            blocks=payload["blocks"],
        )

    async def _post(self, channel: ChannelAddress, payload: dict[str, Any], key: str | None, **thread: str) -> str:
        metadata = {"event_type": OUTBOX_EVENT, "event_payload": {"key": key}} if key else None
        response = await self._call(
            self.client.chat_postMessage,
            channel=channel.channel,
            text=payload["text"],
            blocks=payload["blocks"],
            unfurl_links=False,
            unfurl_media=False,
            metadata=metadata,
            **thread,
        )
        ts = response.get("ts") if isinstance(response.data, dict) else None
        if not ts:
            raise unknown_outcome("Slack API", "answer without a message ts", answered=True)
        return str(ts)

    async def _call(self, method: Callable[..., Awaitable[AsyncSlackResponse]], **arguments: Any) -> AsyncSlackResponse:
        """One Web API call, its failures as DeliveryError (ParentGone when the message it names is gone)."""
        try:
            return await method(**arguments)
        except SlackApiError as exc:
            # ``response`` is a SlackResponse, or aiohttp's response when the body was not JSON.
            response = exc.response
            data = getattr(response, "data", None)
            status = getattr(response, "status_code", None) or getattr(response, "status", None)
            code = data.get("error") if isinstance(data, dict) else None
            if code in PARENT_GONE:
                raise ParentGone(f"Slack API: {code}") from exc
            if isinstance(status, int) and 200 <= status < 300 and not isinstance(data, dict):
                # A 2xx whose body is `null`, a list, a string: it may have been posted.
                raise unknown_outcome(
                    "Slack API", f"HTTP {status} with an answer that is not a JSON object", answered=True
                ) from exc
            raise failure("Slack API", status, code, getattr(response, "headers", None)) from exc
        except NETWORK_ERRORS as exc:
            raise network_failure("Slack API", exc) from exc
        except UNREADABLE_ANSWER as exc:
            raise unknown_outcome("Slack API", f"answer not JSON ({type(exc).__name__})", answered=True) from exc
