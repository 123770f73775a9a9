"""Checking a feed address before it is added from chat.

A chat user must not be able to make the bot fetch from inside its own network (the
host, a private LAN, cloud metadata services), so an address that resolves to a
loopback, private, link-local, reserved or metadata address is refused, and so is a
redirect that ends on one. The feed is fetched and parsed once before it is saved.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from botsvc.addresses import forbidden_address
from botsvc.fetch import FetchPolicy, fetch_feed, make_client
from botsvc.parse import FeedParseError, parse_feed

ALLOW_PRIVATE_ENV = "BOTSVC_ALLOW_PRIVATE_FEEDS"
"""Test-only escape hatch: "1" lets loopback/private addresses through."""

class FeedCheckError(ValueError):
    """The address is refused or is not a working feed; the message says why."""


@dataclass(frozen=True)
class CheckedFeed:
    url: str
    title: str
    items: int


def allow_private() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"


async def check_address(url: str, *, private_ok: bool | None = None) -> None:
    """Raise FeedCheckError unless ``url`` is http(s) and every address of its host is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedCheckError("only http:// and https:// feed addresses can be added")
    if len(url) > 2000:
        raise FeedCheckError("that address is too long")
    if private_ok if private_ok is not None else allow_private():
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 0,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FeedCheckError(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        reason = forbidden_address(info[4][0])
        if reason:
            raise FeedCheckError(f"{parts.hostname} resolves to {reason}; only public addresses can be added")


async def check_feed(url: str, policy: FetchPolicy = FetchPolicy(), *, private_ok: bool | None = None) -> CheckedFeed:
    """Fetch and parse ``url`` once; raise FeedCheckError when it is refused or not a feed."""
    await check_address(url, private_ok=private_ok)
    async with make_client(policy) as client:
        result = await fetch_feed(client, url, policy=policy)
    if result.status != "ok" or result.body is None:
        raise FeedCheckError(f"could not fetch it: {result.error or result.http_status}")
    if result.final_url and result.final_url != url:
        await check_address(result.final_url, private_ok=private_ok)
    try:
        parsed = parse_feed(result.body, feed=url, source=url, url=result.final_url or url,
                            content_type=result.content_type)
    except FeedParseError as exc:
        raise FeedCheckError(f"that is not a readable RSS or Atom feed ({exc})") from None
    if not parsed.items and not parsed.title:
        raise FeedCheckError("that is not a readable RSS or Atom feed (no title, no items)")
    return CheckedFeed(url=url, title=parsed.title or url, items=len(parsed.items))
