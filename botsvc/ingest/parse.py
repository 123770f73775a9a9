"""Turn fetched feed bytes into normalised :class:`FeedItem` objects.

Two readers give the same items: the fast one on lxml (:mod:`botsvc.ingest.fastparse`)
for well-formed RSS and Atom, and feedparser, the reference, for everything the fast one
declines. feedparser only ever sees bytes here; it never does its own HTTP. The function
is pure and picklable so a cycle can run it in worker processes.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import feedparser

from botsvc.ingest.fastparse import Declined, parse_fast
from botsvc.ingest.normalise import canonical_url, clean_text, estimate_missing_dates, strip_html, to_utc
from botsvc.models import FeedItem


def _strip_html(markup: str | None) -> str:
    """``strip_html``, going straight to :func:`clean_text` for markup-free text."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    return strip_html(markup)


class FeedParseError(ValueError):
    """The body is not a feed we can read (HTML page, empty file, broken XML with no items)."""


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    items: list[FeedItem] = field(default_factory=list)
    warning: str | None = None
    """Set when the XML was malformed but items could still be recovered."""
    reader: str = "feedparser"
    """Which reader read it: "lxml" (the fast path) or "feedparser"."""


#: ``reader=`` values of :func:`parse_feed`: the fast path with feedparser behind it, or one of them alone.
READERS = ("auto", "lxml", "feedparser")


def _entry_date(entry) -> time.struct_time | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return value
    return None


def _content_text(entry) -> str:
    """Full text from content:encoded / atom:content, when the feed carries it."""
    contents = entry.get("content")
    if not contents:
        return ""
    parts = [_strip_html(c.get("value", "")) for c in contents]
    return clean_text(" ".join(p for p in parts if p))


def _guid(entry, link: str, title: str, summary: str) -> str:
    guid = clean_text(str(entry.get("id") or ""))
    if guid:
        return guid
    if link:
        return link
    digest = hashlib.sha1(f"{title}\x1f{summary}".encode()).hexdigest()
    return f"sha1:{digest}"


def default_source(feed_title: str, url: str) -> str:
    """Outlet name for ad-hoc feeds: the feed's own title, else the host name."""
    if feed_title:
        return feed_title
    return urlsplit(url).hostname or url


# A document type declaration, with its internal subset if any. Feeds have no use for
# one, and it is where entity bombs ("billion laughs"), external entities (XXE) and
# external DTD fetches live; it is removed before parsing. Bounded: searched for only
# in the head of the document, the subset at most DOCTYPE_MAX bytes long.
DOCTYPE_HEAD = 4096
DOCTYPE_MAX = 1 << 20
_DOCTYPE_OPEN = re.compile(rb"<!DOCTYPE\b", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE\b[^\[>]{0,4096}(?:\[.{0,%d}?\]\s*)?>" % DOCTYPE_MAX, re.IGNORECASE | re.DOTALL)

#: Dates before this are placeholders (the Unix epoch, "0001-01-01"), not publication times.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=timezone.utc)
#: Dates further ahead than this are wrong clocks or scheduled placeholders.
FUTURE_TOLERANCE = timedelta(days=1)


def strip_doctype(body: bytes) -> tuple[bytes, bool]:
    """``body`` without its DOCTYPE declaration, and whether there was one.

    Only the first ``<!DOCTYPE`` in the head is tried, and only there (a search from
    every later position would be quadratic on a body of repeated openers). One that
    does not end within :data:`DOCTYPE_MAX` bytes makes the body unreadable: it is
    hostile or broken, and what follows it cannot be told apart from the declaration.
    """
    opener = _DOCTYPE_OPEN.search(body, 0, DOCTYPE_HEAD)
    if opener is None:
        return body, False
    found = _DOCTYPE.match(body, opener.start(), opener.start() + DOCTYPE_HEAD + DOCTYPE_MAX)
    if found is None:
        raise FeedParseError("not a readable feed (a DOCTYPE declaration that is unterminated or too long)")
    return body[: found.start()] + body[found.end() :], True


# A numeric character reference, however many digits (one scan: the run ends at ";" or not).
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _xml_char(code: int) -> bool:
    """Whether XML 1.0 allows the character ``code`` at all."""
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _replace_bad_char_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.groups()
    digits = (hex_digits or decimal).lstrip(b"0")
    if len(digits) > 8:  # far beyond U+10FFFF; int() of a huge run would be slow for nothing
        return b"&#xFFFD;"
    code = int(digits or b"0", 16 if hex_digits else 10)
    return match.group(0) if _xml_char(code) else b"&#xFFFD;"


def replace_bad_char_refs(body: bytes) -> bytes:
    """``body`` with references to characters XML forbids (``&#xD800;``, ``&#0;``) as U+FFFD.

    feedparser's lenient parser would turn a lone surrogate into a crash that loses the
    whole feed; one replacement character loses nothing worth keeping.
    """
    if b"&#" not in body:
        return body
    return _CHAR_REF.sub(_replace_bad_char_ref, body)


def plausible_date(value: datetime | None, now: datetime) -> datetime | None:
    """``value`` unless it is a placeholder from long ago or lies in the future."""
    if value is None or value < EARLIEST_DATE or value > now + FUTURE_TOLERANCE:
        return None
    return value


def _byline(entry) -> str:
    """The entry's own origin: its RSS ``<source>`` title, else its author (dc:creator), clipped."""
    source = entry.get("source") or {}
    name = source.get("title") if isinstance(source, dict) else ""
    return _strip_html(name or entry.get("author", "") or "")[:200]


def parse_feed(
    body: bytes,
    *,
    feed: str,
    source: str | None = None,
    url: str = "",
    language: str | None = None,
    content_type: str | None = None,
    now: datetime | None = None,
    reader: str = "auto",
) -> ParsedFeed:
    """Parse ``body`` into items in feed order.

    ``source`` is the outlet shown to users (defaults to the feed's title). Raises
    :class:`FeedParseError` when nothing feed-like can be read. Dates before 1990 or more
    than a day after ``now`` are dropped (the item is placed by its neighbours instead).
    ``reader`` "auto" tries the fast lxml path and falls back to feedparser for whatever
    it declines; "lxml" raises :class:`FeedParseError` instead of falling back, and
    "feedparser" reads with the reference alone (tests and benchmarks compare them).
    """
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}")
    now = now or datetime.now(timezone.utc)
    body, had_doctype = strip_doctype(body)
    body = replace_bad_char_refs(body)
    if reader != "feedparser":
        try:
            fast = parse_fast(body, url=url, content_type=content_type)
        except Declined as exc:
            if reader == "lxml":
                raise FeedParseError(f"not a readable feed (fast path declined: {exc})") from exc
        else:
            return _parsed(
                fast.title, fast.language, fast.entries, None, had_doctype, "lxml", feed, source, url, language, now
            )
    headers = {"content-location": url} if url.startswith(("http://", "https://")) else {}
    if content_type:
        headers["content-type"] = content_type
    # Titles, summaries and content are reduced to plain text below (strip_html keeps no
    # attributes), so rewriting relative URIs inside their markup would be thrown away;
    # it is feedparser's costliest step (an SGML re-serialisation of every description).
    # Item links and GUIDs are still resolved against the feed's URL: feedparser does
    # that for link/id elements whatever this flag says.
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser's lenient parser on input nobody foresaw
        raise FeedParseError(f"not a readable feed (parser failed: {type(exc).__name__}: {exc})") from exc
    feed_meta = parsed.get("feed", {})
    version = parsed.get("version") or ""
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.entries and (not version or problem is not None):
        reason = f"{type(problem).__name__}: {problem}" if problem is not None else "no RSS/Atom feed found"
        raise FeedParseError(f"not a readable feed ({reason})")
    return _parsed(
        feed_meta.get("title", ""),
        feed_meta.get("language") or None,
        parsed.entries,
        problem,
        had_doctype,
        "feedparser",
        feed,
        source,
        url,
        language,
        now,
    )


def _parsed(
    raw_title: str,
    feed_language: str | None,
    entries: list,
    problem: BaseException | None,
    had_doctype: bool,
    reader: str,
    feed: str,
    source: str | None,
    url: str,
    language: str | None,
    now: datetime,
) -> ParsedFeed:
    """Items from either reader's entries (feedparser's dicts, or the fast path's in the same shape)."""
    feed_title = _strip_html(raw_title)
    outlet = source or default_source(feed_title, url)
    lang = language or feed_language
    items: list[FeedItem] = []
    for entry in entries:
        title = _strip_html(entry.get("title", ""))  # already clean: strip_html ends with clean_text
        summary = _strip_html(entry.get("summary", ""))
        body_text = _content_text(entry)
        if body_text == summary:
            body_text = ""
        link = canonical_url(entry.get("link", ""))
        if not link.startswith(("http://", "https://")):
            link = ""  # e.g. a non-URL GUID that feedparser took for a permalink
        if not (title or summary):
            continue  # nothing to judge or to show
        items.append(
            FeedItem(
                feed=feed,
                guid=_guid(entry, link, title, summary),
                link=link,
                title=title or summary[:120],
                summary=summary,
                published=plausible_date(to_utc(_entry_date(entry)), now),
                source=outlet,
                language=lang,
                body=body_text,
                byline=_byline(entry),
            )
        )
    estimates = estimate_missing_dates([item.published for item in items])
    items = [
        replace(item, estimated_published=estimate) if estimate else item for item, estimate in zip(items, estimates)
    ]
    warnings = []
    if had_doctype:
        warnings.append("DOCTYPE removed: entity declarations and external DTDs are not processed")
    if problem is not None:
        warnings.append(f"malformed feed, items recovered ({type(problem).__name__})")
    warning = "; ".join(warnings) or None
    return ParsedFeed(title=feed_title, items=items, warning=warning, reader=reader)
