"""Fetching one story a person reports as missed: ``/news missed <url>``.

The address is fetched exactly as ``/news feed add`` checks a feed
(:mod:`botsvc.ingest.feedcheck`): every connection and redirect hop only to public
addresses, at most :data:`~botsvc.ingest.feedcheck.MAX_REQUESTS` requests, all within one
total deadline, and every failure given the same answer. What the story says is taken
from a feed item whose link is the address (the feed the page names, or the address
itself when it is a feed), else from the page: its ``og:title`` / ``<title>`` and its
``og:description`` / description / first paragraph. Parsing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import urlsplit

from botsvc.ingest.connect import FetchClient
from botsvc.ingest.discover import candidates, looks_like_html
from botsvc.ingest.feedcheck import FeedCheckError, _Budget, _fetch, check_address
from botsvc.ingest.fetch import UNREACHABLE, FetchPolicy, make_client
from botsvc.ingest.normalise import canonical_url
from botsvc.ingest.parse import FeedParseError, parse_feed
from botsvc.models import FeedItem

REPORTED_FEED = "reported"
"""The feed name articles stored from reports carry."""
LEAD_CHARS = 600
NO_STORY = "no story title was found at that address"


@dataclass(frozen=True)
class Story:
    url: str
    title: str
    lead: str
    published: datetime | None = None
    source: str = ""

    def item(self) -> FeedItem:
        """The story as a feed item of the ``reported`` feed."""
        return FeedItem(
            feed=REPORTED_FEED,
            guid=self.url,
            link=self.url,
            title=self.title,
            summary=self.lead,
            published=self.published,
            source=self.source or urlsplit(self.url).hostname or REPORTED_FEED,
        )


class _Page(HTMLParser):
    """The few things of a page that say what its story is."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.paragraph = ""
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and values.get("content") and key not in self.meta:
                self.meta[key] = values["content"]
        elif tag in ("title", "p") and self._in is None and not (tag == "p" and self.paragraph):
            self._in, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != self._in:
            return
        text = _clean(" ".join(self._text))
        if tag == "title" and not self.title:
            self.title = text
        elif tag == "p" and len(text) >= 40:  # a caption or a byline is not the lead
            self.paragraph = text
        self._in = None


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _date(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def read_page(url: str, body: bytes) -> Story | None:
    """The story of an HTML page, or None when it has no title."""
    page = _Page()
    page.feed(body.decode("utf-8", errors="replace"))
    page.close()
    meta = page.meta
    title = _clean(meta.get("og:title") or meta.get("twitter:title") or page.title)
    lead = _clean(meta.get("og:description") or meta.get("description") or page.paragraph)
    if not title:
        return None
    published = _date(meta.get("article:published_time", "")) if meta.get("article:published_time") else None
    return Story(url, title[:500], lead[:LEAD_CHARS], published, _clean(meta.get("og:site_name", ""))[:80])


def read_feed_item(url: str, feed_url: str, body: bytes, content_type: str | None) -> Story | None:
    """The item of a feed whose link is ``url``, or None (also when the body is no feed)."""
    try:
        parsed = parse_feed(body, feed=feed_url, source=feed_url, url=feed_url, content_type=content_type)
    except FeedParseError:
        return None
    wanted = canonical_url(url)
    for item in parsed.items:
        if item.link and canonical_url(item.link) == wanted and item.title:
            lead = item.summary or item.body
            return Story(url, item.title, lead[:LEAD_CHARS], item.published, parsed.title or "")
    return None


async def fetch_story(url: str, policy: FetchPolicy = FetchPolicy()) -> Story:
    """What the story at ``url`` says; FeedCheckError (one generic line for any network refusal) otherwise."""
    check_address(url)
    try:
        async with asyncio.timeout(policy.total_deadline):
            return await _story(url, policy)
    except TimeoutError:
        raise FeedCheckError(UNREACHABLE) from None


async def _story(url: str, policy: FetchPolicy) -> Story:
    budget = _Budget()
    async with make_client(policy) as client:
        client.request_hooks.append(budget.count)
        return await _read_story(client, url, policy, budget)


async def _read_story(client: FetchClient, url: str, policy: FetchPolicy, budget: _Budget) -> Story:
    result = await _fetch(client, url, policy, budget)
    body = result.body or b""
    if not looks_like_html(body, result.content_type):
        found = await asyncio.to_thread(read_feed_item, url, result.final_url or url, body, result.content_type)
        if found is None:
            raise FeedCheckError(NO_STORY)
        return found
    page = await asyncio.to_thread(read_page, url, body)
    for candidate in candidates(body, result.final_url or url)[:2]:  # the feed the page names knows its date
        if budget.left <= 0:
            break
        try:
            feed = await _fetch(client, candidate, policy, budget)
        except FeedCheckError:
            continue
        if looks_like_html(feed.body or b"", feed.content_type):
            continue
        item = await asyncio.to_thread(read_feed_item, url, candidate, feed.body or b"", feed.content_type)
        if item is not None:
            return item
    if page is None:
        raise FeedCheckError(NO_STORY)
    return page
