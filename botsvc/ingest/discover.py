"""Finding the feed behind a web page, so people can paste the site's address.

A page names its feeds in ``<link rel="alternate" type="application/rss+xml" href=…>``
in its head; sites that do not often still serve one at a conventional path. This module
only reads HTML and proposes addresses: fetching them (each one address-checked, and how
many) is the caller's job (see :mod:`botsvc.ingest.feedcheck`).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

FEED_TYPES = ("application/rss+xml", "application/atom+xml")
"""Preferred, in this order; RDF and plain XML alternates come after them."""
OTHER_FEED_TYPES = ("application/rdf+xml", "application/xml", "text/xml")
COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml")
HTML_HEAD_BYTES = 512 * 1024
"""Only this much of a page is read for links: they belong in its head."""
MAX_LINKS = 4
"""Most ``<link rel="alternate">`` addresses taken from one page."""


class _AlternateLinks(HTMLParser):
    """Collects ``<base href>`` and the feed alternates of a page, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[tuple[str, str]] = []  # (type, href)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "").strip() for name, value in attrs}
        if tag == "base" and values.get("href") and self.base is None:
            self.base = values["href"]
        elif tag in ("link", "a") and "alternate" in values.get("rel", "").lower().split():
            kind = values.get("type", "").lower().split(";")[0].strip()
            if values.get("href") and kind in FEED_TYPES + OTHER_FEED_TYPES:
                self.links.append((kind, values["href"]))

    handle_startendtag = handle_starttag


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """Whether a fetched body is a web page rather than (a broken) feed."""
    if content_type and "html" in content_type.lower() and "xml" not in content_type.lower():
        return True
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def feed_links(body: bytes, page_url: str) -> list[str]:
    """The feed addresses a page links to, absolute, RSS and Atom first, without repeats."""
    parser = _AlternateLinks()
    try:
        parser.feed(body[:HTML_HEAD_BYTES].decode("utf-8", errors="replace"))
        parser.close()
    except Exception:  # html.parser is lenient; whatever it still raises means "no links"
        pass
    base = urljoin(page_url, parser.base) if parser.base else page_url
    ranked = sorted(
        parser.links,
        key=lambda link: FEED_TYPES.index(link[0]) if link[0] in FEED_TYPES else len(FEED_TYPES),
    )
    found: list[str] = []
    for _, href in ranked:
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https") and url not in found and url != page_url:
            found.append(url)
    return found[:MAX_LINKS]


def common_feed_urls(page_url: str) -> list[str]:
    """The conventional feed paths on the page's own host."""
    parts = urlsplit(page_url)
    return [urlunsplit((parts.scheme, parts.netloc, path, "", "")) for path in COMMON_PATHS]


def candidates(body: bytes, page_url: str) -> list[str]:
    """Addresses to try for a page, best first: its alternate links, then the common paths."""
    found = feed_links(body, page_url)
    found += [url for url in common_feed_urls(page_url) if url not in found and url != page_url]
    return found
