"""Checking a feed address before it is added from chat.

A chat user must not be able to make the bot fetch from inside its own network (the
host, a private LAN, cloud metadata services), nor learn what answers there. The feed
is fetched once with ``public_only`` (every connection and redirect hop goes only to
addresses checked at connect time), and every way that can fail, from a refused address
to a 404, gets the same answer. It is parsed before it is saved.

A web page instead of a feed is followed to the feed it names (or one at a common path
on its host, see :mod:`botsvc.ingest.discover`): each of those requests is checked the
same way, and there are at most :data:`MAX_REQUESTS` of them in all, redirect hops
included, all within one deadline (the ``[fetch]`` total deadline) for the whole check, so a
slow site cannot keep a command waiting for six deadlines in a row. Parsing, which takes
seconds for a big feed, runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from botsvc.ingest.addresses import ALLOW_PRIVATE_ENV, AddressGuard, forbidden_address
from botsvc.ingest.connect import FetchClient
from botsvc.ingest.discover import candidates, looks_like_html
from botsvc.ingest.fetch import UNREACHABLE, FetchPolicy, FetchResult, fetch_feed, make_client
from botsvc.ingest.parse import FeedParseError, ParsedFeed, parse_feed

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_REQUESTS = 6
"""Most requests one check makes (redirect hops included): the address given, then feeds found from a page."""
NOT_A_FEED = "that is not a readable RSS or Atom feed"
NO_FEED_ON_PAGE = f"{NOT_A_FEED}, and no feed was found from that page"

__all__ = [
    "ALLOW_PRIVATE_ENV",
    "CheckedFeed",
    "FeedCheckError",
    "check_address",
    "check_feed",
    "check_feeds",
    "forbidden_address",
]


class FeedCheckError(ValueError):
    """The address is refused or is not a working feed; the message says why."""


@dataclass(frozen=True)
class CheckedFeed:
    url: str
    """The feed's address: the one given, or the one found from the page given."""
    title: str
    items: int
    page: str | None = None
    """The web page the feed was found from, when the address given was a page."""
    fetched: FetchResult | None = field(default=None, repr=False, compare=False)
    """The feed as fetched, for callers that look at its items (preview)."""


def check_address(url: str) -> None:
    """Raise FeedCheckError unless ``url`` is a short http(s) URL whose host is not written
    as an internal address. Names are checked when connecting (see :mod:`botsvc.ingest.connect`)."""
    if _CONTROL.search(url):
        raise FeedCheckError("the address contains control characters (a line break?)")
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


def _read(url: str, result: FetchResult) -> ParsedFeed:
    """Parse a fetched body; raise FeedCheckError when it holds no feed."""
    try:
        parsed = parse_feed(
            result.body or b"", feed=url, source=url, url=result.final_url or url, content_type=result.content_type
        )
    except FeedParseError as exc:
        raise FeedCheckError(f"{NOT_A_FEED} ({exc})") from None
    if not parsed.items and not parsed.title:
        raise FeedCheckError(f"{NOT_A_FEED} (no title, no items)")
    return parsed


class _Budget:
    """Counts the requests a check's client sends (each redirect hop is one)."""

    def __init__(self) -> None:
        self.sent = 0

    async def count(self, url: str) -> None:
        self.sent += 1

    @property
    def left(self) -> int:
        return MAX_REQUESTS - self.sent


async def _fetch(client: FetchClient, url: str, policy: FetchPolicy, budget: _Budget) -> FetchResult:
    check_address(url)
    if budget.left <= 0:
        raise FeedCheckError(UNREACHABLE)
    # The redirects this fetch may follow are what is left of the budget after its first request.
    hops = replace(policy, max_redirects=min(policy.max_redirects, budget.left - 1))
    result = await fetch_feed(client, url, policy=hops, public_only=True)
    if result.status != "ok" or result.body is None:
        raise FeedCheckError(UNREACHABLE)
    return result


async def _parsed(url: str, result: FetchResult) -> ParsedFeed:
    """:func:`_read` in a worker thread: a big feed must not hold the event loop."""
    return await asyncio.to_thread(_read, url, result)


async def check_feed(url: str, policy: FetchPolicy = FetchPolicy(), *, discover: bool = True) -> CheckedFeed:
    """Fetch and parse ``url`` once; raise FeedCheckError when it is refused or not a feed.

    With ``discover``, a web page leads to the feed it links to or one at a common path.
    At most :data:`MAX_REQUESTS` requests, all within ``policy.total_deadline`` seconds.
    """
    check_address(url)
    try:
        async with asyncio.timeout(policy.total_deadline):
            return await _check(url, policy, discover)
    except TimeoutError:
        raise FeedCheckError(UNREACHABLE) from None


async def _check(url: str, policy: FetchPolicy, discover: bool) -> CheckedFeed:
    budget = _Budget()
    async with make_client(policy) as client:
        client.request_hooks.append(budget.count)
        result = await _fetch(client, url, policy, budget)
        try:
            parsed = await _parsed(url, result)
            return CheckedFeed(url=url, title=parsed.title or url, items=len(parsed.items), fetched=result)
        except FeedCheckError:
            if not (discover and looks_like_html(result.body or b"", result.content_type)):
                raise
        page = result.final_url or url
        for candidate in candidates(result.body or b"", page):
            if budget.left <= 0:
                break
            try:
                found = await _fetch(client, candidate, policy, budget)  # a refused address costs no request
                if looks_like_html(found.body or b"", found.content_type):
                    continue  # a site answering every path with its home page
                parsed = await _parsed(candidate, found)
            except FeedCheckError:
                continue
            return CheckedFeed(candidate, parsed.title or candidate, len(parsed.items), page=url, fetched=found)
    raise FeedCheckError(NO_FEED_ON_PAGE)


async def check_feeds(
    urls: Iterable[str], policy: FetchPolicy = FetchPolicy(), *, at_once: int = 8
) -> dict[str, CheckedFeed | FeedCheckError]:
    """:func:`check_feed` for each address, ``at_once`` at a time (an imported feed list):
    what was found, or why not, by address."""
    gate = asyncio.Semaphore(at_once)

    async def one(url: str) -> tuple[str, CheckedFeed | FeedCheckError]:
        async with gate:
            try:
                return url, await check_feed(url, policy)
            except FeedCheckError as exc:
                return url, exc

    return dict(await asyncio.gather(*(one(url) for url in dict.fromkeys(urls))))
