"""discord.py's REST layer pointed at a configurable API base, and its failures for the outbox.

Posting needs no gateway connection, so delivery goes through discord.py's HTTP layer
only, which brings its rate-limit handling (429s are waited out and retried) and its
typed errors; :func:`delivery_errors` turns those into :class:`DeliveryError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

from adapters.base import DeliveryError
from adapters.webhook_urls import DISCORD_HOSTS

DEFAULT_API_URL = "https://discord.com/api/v10"
API_URL_ENV = "BOTSVC_DISCORD_API_URL"


def _rebase(url: str, base_url: str) -> str:
    """``url`` (built on discord.py's ``Route.BASE``) moved onto ``base_url``."""
    return base_url + url[len(Route.BASE) :] if url.startswith(Route.BASE) else url


class RestClient(HTTPClient):
    """discord.py's HTTP client with every route rebased onto ``base_url``.

    HTTPClient builds its routes on the class attribute ``Route.BASE``; setting that would
    redirect every client in the process, so this client rewrites each route it sends
    instead. It also bounds each request with ``timeout`` (discord.py sets none).
    """

    def __init__(self, base_url: str, timeout: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # max_ratelimit_timeout: a 429 asking for more than 30 s raises RateLimited instead
        # of holding the delivery for minutes; the caller reschedules. ``loop`` is for a
        # discord.Client built outside a loop: it fills in the real loop at login.
        super().__init__(loop if loop is not None else asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
        self.base_url = base_url
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def request(self, route: Route, **kwargs: Any) -> Any:
        route.url = _rebase(route.url, self.base_url)
        kwargs.setdefault("timeout", self.timeout)
        return await super().request(route, **kwargs)


class WebhookTransport(AsyncWebhookAdapter):
    """discord.py's webhook transport with routes rebased onto ``base_url``.

    ``Webhook`` looks its transport up in the context variable ``async_context`` on every
    call; :class:`DiscordWebhookAdapter` sets this one only around its own sends.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    async def request(self, route: Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        route.url = _rebase(route.url, self.base_url)
        return await super().request(route, session, **kwargs)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


# Discord JSON error codes on a 400 that are about the channel, not the message.
CHANNEL_CODES = frozenset({50008})  # Cannot send messages in a non-text channel


def _from_http_error(exc: discord.HTTPException, what: str) -> DeliveryError:
    detail = exc.text or exc.response.reason or "no detail"
    message = f"Discord answered {exc.status} for {what}: {detail}" + (f" (code {exc.code})" if exc.code else "")
    if exc.status == 429:  # discord.py retried and gave up, or the limiter had no Via header
        return DeliveryError(message, retry_after=_seconds(exc.response.headers.get("Retry-After")))
    if exc.status >= 500:
        return DeliveryError(message)
    if exc.status == 401:  # the bot token: every channel alike, until it is fixed
        return DeliveryError(message, scope="auth")
    if exc.status in (400, 413) and exc.code not in CHANNEL_CODES:
        # Invalid Form Body (50035: a malformed link, a limit), empty message: this message only.
        return DeliveryError(message, scope="message")
    # 403 Missing Access (50001) / Permissions (50013), 404 Unknown Channel (10003) or Webhook (10015).
    return DeliveryError(message, scope="channel")


UNREADABLE_ANSWER = (TypeError, KeyError, AttributeError, ValueError)
"""What discord.py raises when it reads a message out of an answer that is not one (not JSON)."""


def message_id(data: Any, what: str) -> str:
    """The id in Discord's answer to a post; an answer without one is not resent (it may have posted)."""
    if isinstance(data, dict) and data.get("id"):
        return str(data["id"])
    raise DeliveryError(f"Discord answered the post to {what} without a message id (not JSON?); it may have been "
                        "posted, so it is not resent by itself", scope="message")


@contextlib.contextmanager
def delivery_errors(what: str, *, webhook: bool = False) -> Iterator[None]:
    """discord.py and aiohttp failures as :class:`DeliveryError`.

    A webhook's token is part of its URL, so a refused token ends that one webhook
    (``channel``), where a refused bot token stops the whole bot (``auth``).
    """
    try:
        yield
    except discord.RateLimited as exc:
        raise DeliveryError(f"rate limited sending to {what}", retry_after=exc.retry_after) from exc
    except discord.LoginFailure as exc:
        raise DeliveryError(f"Discord rejected the bot token: {exc}", scope="auth") from exc
    except discord.HTTPException as exc:
        error = _from_http_error(exc, what)
        if webhook and error.scope == "auth":
            error.scope = "channel"
        raise error from exc
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        # A connection error names the host, never the path (where a webhook's token is).
        detail = f": {exc}" if isinstance(exc, aiohttp.ClientConnectorError) else ""
        raise DeliveryError(f"could not reach Discord for {what}: {type(exc).__name__}{detail}") from exc
