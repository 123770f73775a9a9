"""Discord's REST API over plain aiohttp at a configurable API base, and its failures for the outbox.

Posting needs no gateway connection, and only a few documented endpoints: create
message, execute webhook, interaction callbacks. They are called here directly rather
than through discord.py's HTTP layer, which is private: its route base is a class
attribute shared by the whole process, and its internals change between releases, so
pointing it at another API base broke silently on upgrades. What that layer did for us
is kept: 429s are waited out (up to :data:`MAX_RATE_LIMIT_WAIT`), an exhausted
``X-RateLimit-Remaining`` bucket is waited for before the next request, server errors
are retried with the same back-off, and :func:`delivery_errors` turns failures into
:class:`DeliveryError`. Tokens never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import discord

from botsvc.deliver.adapter import DeliveryError
from botsvc.deliver.webhook_urls import DISCORD_HOSTS as DISCORD_HOSTS  # re-exported for the bot

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://discord.com/api/v10"
API_URL_ENV = "BOTSVC_DISCORD_API_URL"
USER_AGENT = (
    f"DiscordBot (https://github.com/Rapptz/discord.py {discord.__version__}) "
    f"Python/{sys.version_info[0]}.{sys.version_info[1]} aiohttp/{aiohttp.__version__}"
)
"""The User-Agent discord.py sent, which Discord's format (``DiscordBot (url, version)``) accepts."""

TRIES = 5
MAX_RATE_LIMIT_WAIT = 30.0
"""A 429 asking for longer raises :class:`RateLimited`: the outbox reschedules rather than hold a send."""
BOT_RETRIED = frozenset({500, 502, 504, 524})
"""Server errors retried on bot routes (as discord.py did); webhook routes retry every 5xx."""
_RESET_ERRNOS = frozenset({54, 10054, errno.ECONNRESET})


class DiscordHTTPError(Exception):
    """Discord answered an error status; ``code`` is its JSON error code (0 if none)."""

    def __init__(self, status: int, reason: str, data: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = dict(headers)
        self.code = int(data.get("code", 0) or 0) if isinstance(data, dict) else 0
        self.text = _error_text(data)
        super().__init__(f"{status} {reason} (error code: {self.code}): {self.text}")


class RateLimited(Exception):
    """A 429 that asked to wait longer than :data:`MAX_RATE_LIMIT_WAIT`."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.2f} s")
        self.retry_after = retry_after


class LoginRefused(Exception):
    """Discord answered 401 to the bot token."""


def _error_text(data: Any) -> str:
    """Discord's message, with each field error of an Invalid Form Body as ``In a.b: why``."""
    if not isinstance(data, dict):
        return str(data or "")
    text = str(data.get("message", ""))
    problems = [f"In {where}: {why}" for where, why in _field_errors(data.get("errors"), "")]
    return "\n".join([text, *problems]) if problems else text


def _field_errors(errors: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if not isinstance(errors, dict):
        return
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            yield prefix or "body", " ".join(str(e.get("message", "")) for e in value if isinstance(e, dict))
        else:
            yield from _field_errors(value, f"{prefix}.{key}" if prefix else str(key))


async def _json_or_text(response: aiohttp.ClientResponse) -> Any:
    text = await response.text(encoding="utf-8", errors="replace")
    if response.content_type == "application/json":
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return text


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class _Bucket:
    """Requests to one route and channel/webhook: one at a time, and none before ``resume_at``."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resume_at: float = 0.0


class DiscordRest:
    """Documented Discord REST endpoints at ``base_url``, with rate limits and retries.

    ``token`` (a bot token) is sent as ``Authorization: Bot <token>`` on bot routes only;
    webhook and interaction routes carry their own token in the path and no header.
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None
        self._buckets: dict[str, _Bucket] = {}
        self._global_resume_at = 0.0

    def _open(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar())
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- the endpoints -------------------------------------------------------------------

    async def current_user(self) -> Any:
        """``GET /users/@me``: checks the bot token (:class:`LoginRefused` on 401)."""
        try:
            return await self.request("GET", "/users/@me", bucket="users/@me")
        except DiscordHTTPError as exc:
            if exc.status == 401:
                raise LoginRefused("Improper token has been passed.") from exc
            raise

    async def application(self) -> Any:
        """``GET /oauth2/applications/@me``: the bot's application (its id)."""
        return await self.request("GET", "/oauth2/applications/@me", bucket="applications/@me")

    async def create_message(self, channel_id: int, body: dict[str, Any]) -> Any:
        """``POST /channels/{id}/messages``."""
        return await self.request(
            "POST", f"/channels/{channel_id}/messages", json=body, bucket=f"messages:{channel_id}"
        )

    async def channel_messages(self, channel_id: int, *, after: int, limit: int = 100) -> Any:
        """``GET /channels/{id}/messages?after=…``: up to ``limit`` messages newer than the snowflake ``after``."""
        return await self.request(
            "GET",
            f"/channels/{channel_id}/messages",
            params={"after": str(after), "limit": str(limit)},
            bucket=f"history:{channel_id}",
        )

    async def edit_message(self, channel_id: int, message_id: int, body: dict[str, Any]) -> Any:
        """``PATCH /channels/{id}/messages/{message_id}``: edit a message the bot sent."""
        return await self.request(
            "PATCH", f"/channels/{channel_id}/messages/{message_id}", json=body, bucket=f"edit:{channel_id}"
        )

    async def execute_webhook(self, webhook_id: int, token: str, body: dict[str, Any]) -> Any:
        """``POST /webhooks/{id}/{token}?wait=true``: the answer is the posted message."""
        return await self.request(
            "POST",
            f"/webhooks/{webhook_id}/{token}",
            json=body,
            params={"wait": "true"},
            bucket=f"webhook:{webhook_id}",
            authorized=False,
            retried=None,
        )

    async def interaction_callback(self, interaction_id: int, token: str, body: dict[str, Any]) -> Any:
        """``POST /interactions/{id}/{token}/callback``: the first answer to an interaction."""
        return await self.request(
            "POST",
            f"/interactions/{interaction_id}/{token}/callback",
            json=body,
            bucket=f"interaction:{interaction_id}",
            authorized=False,
            retried=None,
        )

    async def bulk_overwrite_commands(self, application_id: int, commands: list[dict[str, Any]]) -> Any:
        """``PUT /applications/{id}/commands``: registers the global app commands."""
        return await self.request(
            "PUT", f"/applications/{application_id}/commands", json=commands, bucket=f"commands:{application_id}"
        )

    # -- the transport -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        bucket: str,
        authorized: bool = True,
        retried: frozenset[int] | None = BOT_RETRIED,
    ) -> Any:
        """Send one request, waiting out rate limits and retrying server errors (``retried``;
        None: every 5xx) up to :data:`TRIES` times; the answer's JSON (or text) on 2xx.

        Raises :class:`DiscordHTTPError`, :class:`RateLimited`, or aiohttp's errors.
        """
        session = self._open()
        headers = {"User-Agent": USER_AGENT}
        if authorized and self.token is not None:
            headers["Authorization"] = f"Bot {self.token}"
        state = self._buckets.setdefault(bucket, _Bucket())
        loop = asyncio.get_running_loop()
        error: DiscordHTTPError | None = None
        async with state.lock:
            for tries in range(TRIES):
                wait = max(state.resume_at, self._global_resume_at) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    async with session.request(
                        method, self.base_url + path, json=json, params=params, headers=headers
                    ) as response:
                        data = await _json_or_text(response)
                        status, answer = response.status, response.headers
                except OSError as exc:  # aiohttp's connection errors are OSErrors too
                    if tries < TRIES - 1 and exc.errno in _RESET_ERRNOS:
                        await asyncio.sleep(1 + tries * 2)
                        continue
                    raise
                if answer.get("X-RateLimit-Remaining") == "0" and status != 429:
                    state.resume_at = loop.time() + (_seconds(answer.get("X-RateLimit-Reset-After")) or 0.0)
                if 200 <= status < 300:
                    return data
                error = DiscordHTTPError(status, response.reason or "", data, answer)
                if status == 429:
                    # Without Via the 429 is not Discord's (Cloudflare's ban): not waited out.
                    if not answer.get("Via") or not isinstance(data, dict):
                        raise error
                    retry_after = _seconds(data.get("retry_after")) or 0.0
                    if retry_after > MAX_RATE_LIMIT_WAIT:
                        raise RateLimited(retry_after)
                    log.warning("Discord rate limited %s %s; retrying in %.2f s", method, bucket, retry_after)
                    if data.get("global"):
                        self._global_resume_at = loop.time() + retry_after
                    await asyncio.sleep(retry_after)
                    continue
                if status >= 500 and (retried is None or status in retried):
                    await asyncio.sleep(1 + tries * 2)
                    continue
                raise error
        assert error is not None
        raise error


DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_at(moment: datetime) -> int:
    """The smallest snowflake of a moment: ``after`` it means every message from then on."""
    return max(0, int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


# -- failures for the outbox ----------------------------------------------------------------


# Discord JSON error codes on a 400 that are about the channel, not the message.
CHANNEL_CODES = frozenset({50008})  # Cannot send messages in a non-text channel


def _from_http_error(exc: DiscordHTTPError, what: str) -> DeliveryError:
    detail = exc.text or exc.reason or "no detail"
    message = f"Discord answered {exc.status} for {what}: {detail}" + (f" (code {exc.code})" if exc.code else "")
    if exc.status == 429:  # retried and still limited, or a 429 without Via
        return DeliveryError(message, retry_after=_seconds(exc.headers.get("Retry-After")))
    if exc.status >= 500:
        return DeliveryError(message)
    if exc.status == 401:  # the bot token: every channel alike, until it is fixed
        return DeliveryError(message, scope="auth")
    if exc.status in (400, 413) and exc.code not in CHANNEL_CODES:
        # Invalid Form Body (50035: a malformed link, a limit), empty message: this message only.
        return DeliveryError(message, scope="message")
    # 403 Missing Access (50001) / Permissions (50013), 404 Unknown Channel (10003) or Webhook (10015).
    return DeliveryError(message, scope="channel")


UNKNOWN_MESSAGE = 10008


def parent_gone(exc: DiscordHTTPError) -> bool:
    """Discord says the message a reply references, or an edit names, does not exist (any more)."""
    return (
        exc.status == 404
        and exc.code == UNKNOWN_MESSAGE
        or (exc.status == 400 and exc.code in (UNKNOWN_MESSAGE, 50035) and "message_reference" in exc.text)
    )


def message_id(data: Any, what: str, *, look_up: bool = False) -> str:
    """The id in Discord's answer to a post. An answer without one may mean it was posted:
    ``look_up`` (the bot, whose channel can be read back) has the outbox look before any
    resend; else (a webhook) it is not resent by itself."""
    if isinstance(data, dict) and data.get("id"):
        return str(data["id"])
    if look_up:
        raise DeliveryError(
            f"Discord answered the post to {what} without a message id (not JSON?); it may have been "
            "posted, so it is looked up before any resend",
            answered=True,
        )
    raise DeliveryError(
        f"Discord answered the post to {what} without a message id (not JSON?); it may have been "
        "posted, so it is not resent by itself",
        scope="message",
    )


@contextlib.contextmanager
def delivery_errors(what: str, *, webhook: bool = False) -> Iterator[None]:
    """REST and aiohttp failures as :class:`DeliveryError`.

    A webhook's token is part of its URL, so a refused token ends that one webhook
    (``channel``), where a refused bot token stops the whole bot (``auth``).
    """
    try:
        yield
    except RateLimited as exc:
        raise DeliveryError(f"rate limited sending to {what}", retry_after=exc.retry_after) from exc
    except LoginRefused as exc:
        raise DeliveryError(f"Discord rejected the bot token: {exc}", scope="auth") from exc
    except DiscordHTTPError as exc:
        error = _from_http_error(exc, what)
        if webhook and error.scope == "auth":
            error.scope = "channel"
        raise error from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # A connection error names the host, never the path (where a webhook's token is).
        connect = isinstance(exc, aiohttp.ClientConnectorError)
        detail = f": {exc}" if connect else ""
        raise DeliveryError(
            f"could not reach Discord for {what}: {type(exc).__name__}{detail}",
            maybe_sent=not connect,  # a request that went out may have been posted
        ) from exc
