"""A loopback stand-in for Discord's REST API, for testing the Discord adapters.

An aiohttp server on 127.0.0.1 (random port) in a background thread with its own event
loop, so plain sync tests can drive real clients against it. It answers the routes
discord.py uses to post messages, under any prefix (``/api/v10/...``, ``/api/...``):

* ``GET  .../users/@me``                  the bot user (``static_login`` checks the token)
* ``POST .../channels/{id}/messages``     a message object with an increasing snowflake id; a
  ``nonce`` with ``enforce_nonce: true`` that the same author used within ``nonce_memory``
  seconds returns that message again and creates none, as Discord does
* ``GET  .../channels/{id}/messages``     the channel's messages newest first, ``after`` a
  snowflake (compared with when the fake received each post, as a real snowflake encodes
  it, since the fake's ids are counters) and ``limit``; 403 (code 50001) while
  ``history_refused`` is set. Like Discord, a stored message carries no ``nonce``.
* ``POST .../webhooks/{id}/{token}``      the same with ``?wait=1``/``true``; 204 without
  (interaction followups use this route too, with the application id and interaction token)
* ``PATCH .../channels/{id}/messages/{message_id}``  edits a message posted before; 404
  (code 10008, Unknown Message) for one never posted or deleted (``delete_message``)
* ``GET  .../oauth2/applications/@me``    the application (``Client.login`` reads its id)
* ``PUT  .../applications/{id}/commands`` the synced commands, echoed back with ids
* ``POST .../interactions/{id}/{token}/callback``  an interaction response; with
  ``?with_response=1`` (discord.py always asks) the callback object with the message

Every request is recorded (method, path, query, lower-cased headers, JSON body, including
the ``payload_json`` part of multipart bodies). Tests script the next answers per route::

    with DiscordFake() as fake:
        fake.script("message", (429, {"Retry-After": "0.1"}, {"retry_after": 0.1, "global": False}))
        ... point a client at fake.api_url ...
        assert fake.calls_to("message")[-1].json["allowed_mentions"] == {"parse": []}

A post with a ``message_reference`` to a message never posted (or deleted) is refused with
400 (code 50035, ``message_reference``: Unknown message), as Discord does when
``fail_if_not_exists`` is true. ``messages`` keeps every message posted, by id.

Like Discord, message routes reject bodies over its limits, and embeds whose ``url`` is not
a well-formed http(s) address of at most 2,048 characters ("Not a well formed URL"), with
400 (code 50035); every response carries ``Via`` (discord.py only trusts a 429 that has it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Route = str  # "me", "message", "edit", "webhook", "application", "commands" or "interaction"

_ROUTES: list[tuple[Route, str, re.Pattern[str]]] = [
    ("me", "GET", re.compile(r".*/users/@me")),
    ("message", "POST", re.compile(r".*/channels/(?P<channel>[0-9]+)/messages")),
    ("history", "GET", re.compile(r".*/channels/(?P<channel>[0-9]+)/messages")),
    ("edit", "PATCH", re.compile(r".*/channels/(?P<channel>[0-9]+)/messages/(?P<message>[0-9]+)")),
    ("webhook", "POST", re.compile(r".*/webhooks/(?P<webhook>[0-9]+)/(?P<token>[^/]+)")),
    ("application", "GET", re.compile(r".*/oauth2/applications/@me")),
    ("commands", "PUT", re.compile(r".*/applications/(?P<application>[0-9]+)/commands")),
    ("interaction", "POST", re.compile(r".*/interactions/(?P<interaction>[0-9]+)/(?P<token>[^/]+)/callback")),
]
WEBHOOK_CHANNEL = "555000000000000001"
DISCORD_EPOCH_MS = 1_420_070_400_000
BOT_USER = {"id": "444000000000000001", "username": "botsvc", "discriminator": "0", "avatar": None, "bot": True}
APPLICATION_ID = "444000000000000002"
APPLICATION = {
    "id": APPLICATION_ID,
    "name": "botsvc",
    "description": "",
    "icon": None,
    "bot_public": False,
    "bot_require_code_grant": False,
    "verify_key": "0" * 64,
    "flags": 0,
    "team": None,
    "owner": {"id": "444000000000000003", "username": "owner", "discriminator": "0", "avatar": None},
    "bot": BOT_USER,
}


@dataclass(frozen=True)
class Reply:
    """A scripted answer; ``delay`` seconds pass before it is sent."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


@dataclass
class Call:
    """One request as the fake saw it, and the status it answered."""

    route: Route | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    at: float
    status: int = 0


class DiscordFake:
    """The fake server; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._scripts: dict[Route, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._ids = itertools.count(1_100_000_000_000_000_001)
        self.messages: dict[str, dict[str, Any]] = {}
        """Messages posted to channels (and webhooks), by id, as edited since."""
        self.nonce_memory = 300.0
        """Seconds a repeated enforced nonce returns the first message ("the past few minutes")."""
        self.history_refused = False
        self._received: dict[str, float] = {}
        self._nonces: dict[tuple[str, str], tuple[str, float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> DiscordFake:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="discordfake", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Discord server did not start")
        return self

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)

        async def begin() -> None:
            self._stopping = asyncio.Event()
            await runner.setup()
            await web.SockSite(runner, sock).start()

        loop.run_until_complete(begin())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._shutdown)
            self._thread.join(timeout=10)
        self._loop = self._thread = None

    def _shutdown(self) -> None:
        assert self._loop is not None and self._stopping is not None
        self._stopping.set()  # cut delayed replies short
        self._loop.stop()

    def __enter__(self) -> DiscordFake:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What a bot client uses as its API base."""
        return f"{self.base_url}/api/v10"

    def webhook_url(self, webhook_id: int = 123456789012345678, token: str = "tok-en_1.2") -> str:
        return f"{self.base_url}/api/webhooks/{webhook_id}/{token}"

    # -- scripting and the log -----------------------------------------------------

    def script(self, route: Route, *replies: Reply | tuple[int, dict[str, str], Any]) -> None:
        """Answer the next requests to ``route`` with ``replies``, then as usual."""
        with self._lock:
            self._scripts[route].extend(r if isinstance(r, Reply) else Reply(*r) for r in replies)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, route: Route) -> list[Call]:
        return [call for call in self.calls if call.route == route]

    def delete_message(self, message_id: str) -> None:
        """Forget a posted message, as if someone deleted it."""
        with self._lock:
            del self.messages[message_id]

    def delivered(self) -> list[Call]:
        """Message and webhook posts that were answered with success."""
        return [c for c in self.calls if c.route in ("message", "webhook") and 200 <= c.status < 300]

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        """Messages posted as replies to ``message_id``, in order."""
        with self._lock:
            return [
                m for m in self.messages.values() if (m.get("message_reference") or {}).get("message_id") == message_id
            ]

    # -- the server ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        route, params = _match(request.method, request.path)
        call = Call(
            route,
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            await _body(request),
            time.monotonic(),
        )
        with self._lock:
            self._calls.append(call)
            scripted = self._scripts[route].popleft() if route and self._scripts[route] else None
        reply = scripted or self._default(route, params, call)
        if reply.delay:
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
            except TimeoutError:
                pass
        call.status = reply.status
        headers = {"Via": "1.1 google", **reply.headers}
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        # Exactly "application/json": discord.py does not parse "application/json; charset=...".
        headers["Content-Type"] = "application/json"
        return web.Response(status=reply.status, headers=headers, body=json.dumps(reply.body).encode())

    def _default(self, route: Route | None, params: dict[str, str], call: Call) -> Reply:
        if route is None:
            return Reply(404, body={"message": "404: Not Found", "code": 0})
        if route == "me":
            return Reply(200, body=BOT_USER)
        if route == "application":
            return Reply(200, body=APPLICATION)
        if route == "commands":
            return Reply(
                200,
                body=[
                    {**command, "id": str(next(self._ids)), "application_id": params["application"], "version": "1"}
                    for command in call.json
                ],
            )
        if route == "interaction":
            return self._interaction_callback(params, call)
        if route == "history":
            return self._history(params, call)
        problem = _over_limits(call.json)
        if problem:
            return Reply(400, body={"message": f"Invalid Form Body: {problem}", "code": 50035})
        if route == "edit":
            return self._edit(params, call)
        reference = (call.json.get("message_reference") or {}).get("message_id")
        if reference is not None and str(reference) not in self.messages:
            return Reply(
                400,
                body={
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": {
                        "message_reference": {
                            "_errors": [{"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                        }
                    },
                },
            )
        if route == "webhook" and call.query.get("wait") not in ("1", "true", "True"):
            return Reply(204)
        author = BOT_USER if route == "message" else {**BOT_USER, "id": params["webhook"], "username": "Captain Hook"}
        nonce = call.json.get("nonce") if route == "message" and call.json.get("enforce_nonce") else None
        if nonce is not None:
            with self._lock:
                earlier = self._nonces.get((author["id"], str(nonce)))
                if earlier and time.time() - earlier[1] <= self.nonce_memory and earlier[0] in self.messages:
                    return Reply(200, body=dict(self.messages[earlier[0]]))
        message = self._message(params.get("channel", WEBHOOK_CHANNEL), call.json, author)
        if route == "webhook":
            message["webhook_id"] = params["webhook"]
        if reference is not None:
            message["message_reference"] = {"message_id": str(reference), "channel_id": message["channel_id"]}
            message["type"] = 19  # REPLY
        with self._lock:
            self.messages[message["id"]] = message
            self._received[message["id"]] = time.time()
            if nonce is not None:
                self._nonces[(author["id"], str(nonce))] = (message["id"], time.time())
        return Reply(200, body=message)

    def _history(self, params: dict[str, str], call: Call) -> Reply:
        if self.history_refused:
            return Reply(403, body={"message": "Missing Access", "code": 50001})
        after = int(call.query.get("after") or 0)
        since = ((after >> 22) + DISCORD_EPOCH_MS) / 1000
        limit = min(int(call.query.get("limit") or 50), 100)
        with self._lock:
            found = [
                dict(m)
                for mid, m in self.messages.items()
                if m["channel_id"] == params["channel"] and self._received.get(mid, 0) > since
            ]
        found.sort(key=lambda m: int(m["id"]))  # those right after ``after``, newest first
        return Reply(200, body=found[:limit][::-1])

    def _edit(self, params: dict[str, str], call: Call) -> Reply:
        with self._lock:
            message = self.messages.get(params["message"])
            if message is None or message["channel_id"] != params["channel"]:
                return Reply(404, body={"message": "Unknown Message", "code": 10008})
            for key in ("content", "embeds"):
                if key in call.json:
                    message[key] = call.json[key]
            message["edited_timestamp"] = "2019-08-22T09:31:00.000000+00:00"
            return Reply(200, body=dict(message))

    def _message(self, channel: str, body: dict[str, Any], author: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": channel,
            "content": body.get("content", ""),
            "embeds": body.get("embeds", []),
            "author": author,
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": "2019-08-22T09:30:00.000000+00:00",
            "edited_timestamp": None,
            "flags": body.get("flags", 0),
            "type": 0,
        }

    def _interaction_callback(self, params: dict[str, str], call: Call) -> Reply:
        """Discord's answer to an interaction response: 204, or the callback object when asked."""
        body = call.json if isinstance(call.json, dict) else {}
        kind, data = body.get("type"), body.get("data") or {}
        if kind in (4, 7):  # a message: the same limits as any other
            problem = _over_limits(data)
            if problem:
                return Reply(400, body={"message": f"Invalid Form Body: {problem}", "code": 50035})
        if call.query.get("with_response") not in ("1", "true", "True"):
            return Reply(204)
        flags = data.get("flags", 0) | (128 if kind == 5 else 0)  # 128: LOADING ("is thinking…")
        message = self._message(WEBHOOK_CHANNEL, {**data, "flags": flags}, BOT_USER)
        callback: dict[str, Any] = {
            "interaction": {
                "id": params["interaction"],
                "type": 2,
                "response_message_id": message["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & 64),
            },
        }
        if kind in (4, 5):
            callback["resource"] = {"type": kind, "message": message}
        return Reply(200, body=callback)


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route, route_method, pattern in _ROUTES:
        found = pattern.fullmatch(path)
        if found and method == route_method:
            return route, found.groupdict()
    return None, {}


async def _body(request: web.Request) -> Any:
    """The JSON body, or the ``payload_json`` part of a multipart body; None if neither."""
    if request.content_type == "application/json":
        return await request.json()
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "name", None) == "payload_json":
                return json.loads(await part.text())
    return None


MAX_URL = 2048
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")


def _bad_url(url: Any) -> str | None:
    """Why Discord would refuse ``url`` as an embed's url: its error text, or None.

    What Discord is known to refuse: more than 2,048 characters, a scheme other than
    http(s), and an address that is not well formed (whitespace or control characters
    anywhere, a missing or malformed host).
    """
    if not isinstance(url, str):
        return "Not a well formed URL."
    if len(url) > MAX_URL:
        return f"Must be {MAX_URL} or fewer in length."
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return f"Scheme \"{scheme}\" is not supported. Scheme must be one of ('http', 'https')."
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        return "Not a well formed URL."
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):
        return None if host.endswith("]") or "]:" in host else "Not a well formed URL."
    name, _, port = host.partition(":")
    labels = name.rstrip(".").split(".")
    if not name or (port and not port.isdigit()) or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "Not a well formed URL."
    return None


def _over_limits(body: Any) -> str | None:
    """Which of Discord's message limits ``body`` breaks, if any."""
    if not isinstance(body, dict):
        return "no JSON body"
    embeds = body.get("embeds") or []
    for index, embed in enumerate(embeds):
        problem = _bad_url(embed["url"]) if "url" in embed else None
        if problem:
            return f"embeds.{index}.url: {problem}"
    if len(body.get("content") or "") > 2000:
        return "content over 2000 characters"
    if len(embeds) > 10:
        return "more than 10 embeds"
    total = 0
    for embed in embeds:
        title, description = embed.get("title") or "", embed.get("description") or ""
        if len(title) > 256 or len(description) > 4096:
            return "embed title over 256 or description over 4096 characters"
        total += len(title) + len(description) + len((embed.get("footer") or {}).get("text", ""))
        total += len((embed.get("author") or {}).get("name", ""))
        total += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields") or [])
    if total > 6000:
        return "embeds over 6000 characters in total"
    return None
