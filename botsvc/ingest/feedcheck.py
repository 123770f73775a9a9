"""Checking a feed address before it is added from chat.

A chat user must not be able to make the bot fetch from inside its own network (the
host, a private LAN, cloud metadata services), nor learn what answers there. The feed
is fetched once with ``public_only`` (every connection and redirect hop goes only to
addresses checked at connect time), and every way that can fail, from a refused address
to a 404, gets the same answer. It is parsed before it is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from botsvc.ingest.addresses import ALLOW_PRIVATE_ENV, AddressGuard, forbidden_address
from botsvc.ingest.fetch import UNREACHABLE, FetchPolicy, fetch_feed, make_client
from botsvc.ingest.parse import FeedParseError, parse_feed

__all__ = ["ALLOW_PRIVATE_ENV", "CheckedFeed", "FeedCheckError", "check_address", "check_feed", "forbidden_address"]


class FeedCheckError(ValueError):
    """The address is refused or is not a working feed; the message says why."""


@dataclass(frozen=True)
class CheckedFeed:
    url: str
    title: str
    items: int


def check_address(url: str) -> None:
    """Raise FeedCheckError unless ``url`` is a short http(s) URL whose host is not written
    as an internal address. Names are checked when connecting (see :mod:`botsvc.ingest.connect`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedCheckError("only http:// and https:// feed addresses can be added")
    if len(url) > 2000:
        raise FeedCheckError("that address is too long")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FeedCheckError(UNREACHABLE) from None
    if AddressGuard.from_env().host_refusal(parts.hostname, port):
        raise FeedCheckError(UNREACHABLE)


async def check_feed(url: str, policy: FetchPolicy = FetchPolicy()) -> CheckedFeed:
    """Fetch and parse ``url`` once; raise FeedCheckError when it is refused or not a feed."""
    check_address(url)
    async with make_client(policy) as client:
        result = await fetch_feed(client, url, policy=policy, public_only=True)
    if result.status != "ok" or result.body is None:
        raise FeedCheckError(UNREACHABLE)
    try:
        parsed = parse_feed(
            result.body, feed=url, source=url, url=result.final_url or url, content_type=result.content_type
        )
    except FeedParseError as exc:
        raise FeedCheckError(f"that is not a readable RSS or Atom feed ({exc})") from None
    if not parsed.items and not parsed.title:
        raise FeedCheckError("that is not a readable RSS or Atom feed (no title, no items)")
    return CheckedFeed(url=url, title=parsed.title or url, items=len(parsed.items))
