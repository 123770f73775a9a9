"""Admitting requests to Slack's request URL: signed, fresh, small and not seen before,
checked before slack-bolt reads a byte of them.

Bolt checks signatures too (and still does, behind this gate), but only after reading
the whole body into a string: invalid UTF-8 or a timestamp such as ``nan`` or 400 digits
is a 500 with a traceback there, and every refused request's body is logged in full at
INFO. Anyone who can reach the port can send those. Here a refusal costs the headers, at
most :data:`MAX_BODY` bytes and one short log line at most every
:data:`REFUSAL_LOG_INTERVAL` seconds (with a count of the ones left out), and the
connection is closed after the answer (aiohttp drops whatever of the body still comes, for
at most its 10 s lingering time, without keeping it).

A correctly signed request is still good for five minutes, so one seen again (a replay by
whoever captured it) is refused too. ``botsvc run`` remembers them in the database
(:attr:`SignedRequestGate.shared`, :mod:`botsvc.service.replays`), so a restart forgets
none and a request admitted by one web process behind a load balancer is refused by the
others once it is recorded (just after the answer). This process's own memory refuses
replays sent to it in any case, and alone decides while the database fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable

from aiohttp import web

from botsvc.deliver.adapter import RequestMemory
from botsvc.service.logs import RateLimitedLog

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""Bytes a request body may have; a slash command's is a few hundred."""
WINDOW = 300
"""Seconds a signed request stays valid either side of now (Slack's and Bolt's five minutes)."""
BODY_DEADLINE = 10.0
"""Seconds a client has to send the body."""
REFUSAL_LOG_INTERVAL = 60.0
REPLAY_MEMORY = 10_000
"""Signed requests remembered at most; Slack sends a workspace's commands far slower than
that many per five minutes, and only a correctly signed request takes a place."""

_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refusal(Exception):
    """Why a request is not passed on: an HTTP status and a short reason for the log."""

    def __init__(self, status: int, reason: str, error: str = "invalid request") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error = error

    def response(self) -> web.Response:
        """The answer: a JSON error, then the connection is closed (no keep-alive after a refusal)."""
        response = web.json_response({"error": self.error}, status=self.status)
        response.force_close()
        return response


class ReplayMemory:
    """Signatures of admitted requests until they expire, at most ``size`` of them."""

    def __init__(self, size: int = REPLAY_MEMORY, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock
        self._expiry: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def first_time(self, signature: str, expires: float) -> bool:
        """Remember ``signature`` until ``expires``; False if it is already remembered."""
        now = self.clock()
        if self._expiry.get(signature, 0.0) > now:
            return False
        if len(self._expiry) >= self.size:
            self._expiry = {key: until for key, until in self._expiry.items() if until > now}
            while len(self._expiry) >= self.size:  # all still valid: forget the oldest admitted
                del self._expiry[next(iter(self._expiry))]
        self._expiry[signature] = expires
        return True


class SignedRequestGate:
    """Checks a request's Slack signature and returns its body as text, or raises :class:`Refusal`."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self.clock = clock
        self.replays = ReplayMemory(clock=clock)
        self.shared: RequestMemory | None = None
        """The replay memory shared with other processes (the database); else :attr:`replays` only."""
        self.refusals = RateLimitedLog(log, REFUSAL_LOG_INTERVAL)
        self.memory_failures = RateLimitedLog(log, REFUSAL_LOG_INTERVAL)

    async def admit(self, request: web.Request) -> str:
        """The verified body of ``request``; a refusal is logged (rate-limited) before it is raised."""
        try:
            return await self._check(request)
        except Refusal as refusal:
            self.refusals.log(
                "Slack: refused a request to %s from %s: %s (HTTP %d)",
                request.path,
                request.remote or "?",
                refusal.reason,
                refusal.status,
            )
            raise

    def close(self) -> None:
        """Log the count of refusals not yet logged."""
        self.refusals.flush("refused Slack requests")
        self.memory_failures.flush("failures of the shared replay memory")

    async def _first_time(self, signature: str, expires: int) -> bool:
        """Whether the request is new: to the shared memory if there is one (this process's too)."""
        local = self.replays.first_time(signature, expires)
        if self.shared is None or not local:
            return local
        try:
            return await self.shared(signature, expires)
        except Exception as exc:  # a database failure must not stop every command: this process's memory decides
            self.memory_failures.log(
                "Slack: the shared replay memory failed (%s); this process's memory decides", type(exc).__name__
            )
            return local

    async def _check(self, request: web.Request) -> str:
        signature = request.headers.get("X-Slack-Signature", "")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not signature:
            raise Refusal(401, "no signature")
        if not _SIGNATURE.fullmatch(signature):
            raise Refusal(401, "malformed signature")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Refusal(401, "no timestamp" if not timestamp else "malformed timestamp")
        if abs(self.clock() - int(timestamp)) > WINDOW:
            raise Refusal(401, "timestamp more than five minutes off")
        body = await _read_body(request)
        expected = "v0=" + hmac.new(self._secret, b"v0:%s:%s" % (timestamp.encode(), body), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Refusal(401, "wrong signature")
        if not await self._first_time(expected, int(timestamp) + WINDOW + 1):
            raise Refusal(409, "replay of a request already received", "request already received")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "body is not UTF-8", "request body is not UTF-8") from None


async def _read_body(request: web.Request) -> bytes:
    """At most MAX_BODY bytes within BODY_DEADLINE, else a refusal."""
    too_large = Refusal(413, f"body over {MAX_BODY // 1024} KiB", "request body too large")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_DEADLINE):
            while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
                body += chunk
                if len(body) > MAX_BODY:
                    raise too_large
    except TimeoutError:
        raise Refusal(408, "body not sent in time", "request timeout") from None
    return bytes(body)
