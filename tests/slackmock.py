"""A loopback stand-in for Slack's Web API and incoming webhooks, for adapter tests.

It runs an aiohttp server on 127.0.0.1 (random port) in a background thread with its
own event loop, so plain synchronous tests can drive real Slack SDK clients against it:

    with SlackMock() as slack:
        slack.script((429, {"Retry-After": "7"}, {"ok": False, "error": "ratelimited"}))
        adapter = SlackAdapter("xoxb-test", base_url=slack.base_url)
        ...
        assert slack.calls[0].body["channel"] == "C1"

Scripted responses are used in order, one per request (to either route); after that
``chat.postMessage`` succeeds with an increasing ``ts`` and webhooks answer ``ok``.

For commands it also answers ``auth.test``, ``users.info`` (from ``users``: id -> fields
such as ``{"is_admin": True}``) and ``apps.connections.open`` (pointing at its own
websocket, ``/socket``, for Socket Mode: ``push`` sends an envelope down it, and what the
client sends back lands in ``socket_received``). These never use scripted responses.
A hook URL doubles as a slash command's ``response_url``.

Threads and edits: every message posted is kept in ``messages`` (ts -> channel, text,
blocks, thread_ts). A post with a ``thread_ts`` that names no kept message answers
``thread_not_found``; ``chat.update`` replaces a kept message's text and blocks, or answers
``message_not_found``. ``delete(ts)`` forgets a message, as if someone deleted it;
``update_down`` answers every ``chat.update`` (an outage of edits alone).

Message metadata, as Slack documents it: a post's ``metadata`` must be an object with a
string ``event_type`` and an object ``event_payload`` (else ``invalid_metadata_format``); it
is kept with the message. ``conversations.history`` (a channel's messages outside threads,
newest first) and ``conversations.replies`` (a thread: its parent, then the replies) take
``oldest``/``latest`` (compared with when the mock received each post, since its ``ts`` are
counters), ``limit`` and ``cursor`` (with ``has_more`` and ``response_metadata.next_cursor``),
and return a message's metadata only with ``include_all_metadata=true``. ``missing_scope``
(a set of method names) answers those calls ``missing_scope``, as for a token without the
history scopes.

Hangs: ``hang`` (seconds) makes every ``chat.postMessage`` wait that long before answering,
after the message is posted (what a slow Slack that accepted the post looks like to a client
that gives up); ``hang_first`` does it for the next that many posts only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

Response = tuple[int, dict[str, str], Any]
"""(status, headers, body): a dict (or None) body is sent as JSON, a string as text/plain, or
as it is when the headers give a Content-Type."""

DISCONNECT: Response = (0, {}, None)
"""Scripted instead of a response: the server hangs up without answering."""


@dataclass(frozen=True)
class Call:
    """One request as received: path, headers (names lower-cased), parsed and raw body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str
    status: int = 0
    """For chat.postMessage: the HTTP status answered when the post succeeded, else 0."""


class SlackMock:
    """``POST /api/chat.postMessage`` (JSON or form body), ``POST /hooks/<id>`` and the few
    calls commands need (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._responses: deque[Response] = deque()
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slackmock", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.down: Response | None = None
        """While set, every chat.postMessage gets this answer (an outage)."""
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.update_down: Response | None = None
        self.socket_received: list[dict[str, Any]] = []
        self.hang = 0.0
        self.hang_first = 0
        self.missing_scope: set[str] = set()
        self._by_channel: dict[str, deque[tuple[Response | None, bool]]] = {}
        self._released: asyncio.Event | None = None  # set at stop: hung answers end
        self._sockets: list[web.WebSocketResponse] = []

    def script(self, *responses: Response) -> None:
        """Queue responses for the next requests, in order."""
        with self._lock:
            self._responses.extend(responses)

    def script_for(self, channel: str, *responses: Response, posted: bool = False, after: int = 0) -> None:
        """Queue answers for ``chat.postMessage`` calls to ``channel`` alone (before the shared
        script), from its next call, or after ``after`` calls answered as usual. ``posted``:
        the message is posted first, then answered this way (a Slack that accepted it, with
        an answer mangled on the way back)."""
        with self._lock:
            queued = self._by_channel.setdefault(channel, deque())
            queued.extend([(None, False)] * after)
            queued.extend((response, posted) for response in responses)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def hook_url(self, hook_id: str = "T000/B000/secret") -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{hook_id}"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> SlackMock:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=5)
        return self

    def stop(self) -> None:
        if self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SlackMock:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._post_message)
        app.router.add_post("/api/chat.update", self._update_message)
        app.router.add_route("*", "/api/conversations.history", self._history)
        app.router.add_route("*", "/api/conversations.replies", self._replies)
        app.router.add_post("/hooks/{hook_id:.+}", self._webhook)
        app.router.add_route("*", "/api/auth.test", self._auth_test)
        app.router.add_route("*", "/api/users.info", self._users_info)
        app.router.add_route("*", "/api/apps.connections.open", self._connections_open)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- routes --------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Call:
        raw = await request.text()
        if request.content_type == "application/json":
            body = json.loads(raw) if raw else {}
        else:
            body = dict(await request.post())
            for name in ("blocks", "metadata"):  # form-encoded, they arrive as JSON strings
                if isinstance(body.get(name), str):
                    body[name] = json.loads(body[name])
        body = {**request.query, **body}  # GET calls (users.info) carry their arguments here
        call = Call(request.path, {k.lower(): v for k, v in request.headers.items()}, body, raw)
        with self._lock:
            self.calls.append(call)
        return call

    def _next(self) -> Response | None:
        with self._lock:
            return self._responses.popleft() if self._responses else None

    async def _post_message(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        with self._lock:
            own = self._by_channel.get(str(call.body.get("channel")))
            scripted_here, posted = own.popleft() if own else (None, False)
        scripted = self.down or (None if posted else scripted_here) or self._next()
        thread_ts = call.body.get("thread_ts")
        if scripted is None and thread_ts and thread_ts not in self.messages:
            scripted = (200, {}, {"ok": False, "error": "thread_not_found"})
        metadata = call.body.get("metadata")
        if scripted is None and metadata is not None and not _valid_metadata(metadata):
            scripted = (200, {}, {"ok": False, "error": "invalid_metadata_format"})
        if scripted is None:
            ts = f"1700000000.{next(self._ts):06d}"
            with self._lock:
                self.messages[ts] = {
                    "channel": call.body.get("channel"),
                    "text": call.body.get("text"),
                    "blocks": call.body.get("blocks"),
                    "thread_ts": thread_ts,
                    "metadata": metadata,
                    "received": time.time(),
                }
            scripted = scripted_here or (200, {}, {"ok": True, "channel": call.body.get("channel"), "ts": ts})
        succeeded = scripted[0] == 200 and not (isinstance(scripted[2], dict) and scripted[2].get("ok") is False)
        object.__setattr__(call, "status", 200 if succeeded else 0)  # Call is frozen: set once, here
        with self._lock:
            hang = self.hang
            if self.hang_first > 0:
                self.hang_first -= 1
                hang = max(hang, 3600.0)
        if hang:
            assert self._released is not None
            try:
                await asyncio.wait_for(self._released.wait(), hang)
            except TimeoutError:
                pass
        return _respond(request, *scripted)

    async def _history(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if "conversations.history" in self.missing_scope:
            return _missing_scope("channels:history")
        channel = call.body.get("channel")
        with self._lock:
            found = [
                (ts, m) for ts, m in self.messages.items() if m["channel"] == channel and m["thread_ts"] in (None, ts)
            ]
        return self._page(call.body, sorted(found, reverse=True))

    async def _replies(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if "conversations.replies" in self.missing_scope:
            return _missing_scope("channels:history")
        channel, parent = call.body.get("channel"), call.body.get("ts")
        with self._lock:
            if parent not in self.messages or self.messages[parent]["channel"] != channel:
                return web.json_response({"ok": False, "error": "thread_not_found"})
            found = [(ts, m) for ts, m in self.messages.items() if ts == parent or m["thread_ts"] == parent]
        return self._page(call.body, sorted(found))

    def _page(self, query: dict[str, Any], found: list[tuple[str, dict[str, Any]]]) -> web.Response:
        """One page of ``found`` as Slack pages history: ``oldest``/``latest``, ``limit``, ``cursor``."""
        oldest, latest = float(query.get("oldest") or 0), float(query.get("latest") or "inf")
        found = [(ts, m) for ts, m in found if oldest <= m["received"] <= latest]
        start = int(query.get("cursor") or 0)
        limit = min(int(query.get("limit") or 100), 1000)
        page = found[start : start + limit]
        with_metadata = str(query.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = []
        for ts, m in page:
            message = {"type": "message", "ts": ts, "text": m["text"], "bot_id": "B0BOT", "blocks": m["blocks"]}
            if m["thread_ts"]:
                message["thread_ts"] = m["thread_ts"]
            if with_metadata and m.get("metadata"):
                message["metadata"] = m["metadata"]
            messages.append(message)
        more = start + limit < len(found)
        return web.json_response(
            {
                "ok": True,
                "messages": messages,
                "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""},
            }
        )

    async def _update_message(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        ts = call.body.get("ts", "")
        with self._lock:
            message = self.messages.get(ts)
            if self.update_down is None and message is not None:
                message.update(text=call.body.get("text"), blocks=call.body.get("blocks"), edited=True)
        if self.update_down is not None:
            return _respond(request, *self.update_down)
        if message is None:
            return web.json_response({"ok": False, "error": "message_not_found"})
        return web.json_response({"ok": True, "channel": call.body.get("channel"), "ts": ts})

    def delete(self, ts: str) -> None:
        """Forget a posted message, as if someone deleted it."""
        with self._lock:
            del self.messages[ts]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """The messages posted in the thread of ``ts``, in order."""
        with self._lock:
            return [m for m in self.messages.values() if m["thread_ts"] == ts]

    async def _webhook(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _respond(request, *(self._next() or (200, {}, "ok")))

    async def _auth_test(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(
            {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "botsvc",
                "team_id": "T0TEST",
                "user_id": "U0BOT",
                "bot_id": "B0BOT",
            }
        )

    async def _users_info(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        user = call.body.get("user", "")
        with self._lock:
            fields = self.users.get(user)
        if fields is None:
            return web.json_response({"ok": False, "error": "user_not_found"})
        return web.json_response({"ok": True, "user": {"id": user, **fields}})

    async def _connections_open(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})

    # -- Socket Mode -----------------------------------------------------------------

    def push(self, envelope: dict[str, Any]) -> None:
        """Send one Socket Mode envelope to every connected client."""

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_json(envelope)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=5)

    @property
    def socket_clients(self) -> int:
        return len(self._sockets)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    with self._lock:
                        self.socket_received.append(json.loads(message.data))
        finally:
            self._sockets.remove(ws)
        return ws


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    )


def _missing_scope(needed: str) -> web.Response:
    return web.json_response({"ok": False, "error": "missing_scope", "needed": needed, "provided": "chat:write"})


def _respond(request: web.Request, status: int, headers: dict[str, str], body: Any) -> web.Response:
    if status == 0:
        assert request.transport is not None
        request.transport.abort()
        raise ConnectionResetError("hung up on purpose")
    if isinstance(body, str) and "content-type" in {name.lower() for name in headers}:  # raw, as labelled
        return web.Response(status=status, headers=headers, body=body.encode())
    if isinstance(body, str):
        return web.Response(status=status, headers=headers, text=body, content_type="text/plain")
    return web.json_response(body, status=status, headers=headers)
