"""Pure helpers that turn raw feed fields into comparable, displayable values."""

from __future__ import annotations

import calendar
import html
import re
import time
import unicodedata
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botsvc.models import FeedItem

# Query parameters that only track the reader; they never change the article.
_TRACKING_EXACT = {
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_ga",
    "_gl",
    "ocid",
    "cmpid",
    "ncid",
    "sr_share",
    "smid",
    "ref_src",
    "ref_url",
}
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__hs", "oly_", "vero_", "at_")

_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "table",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "pre",
    "hr",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "object", "svg", "head"}
_WS = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become spaces so words don't glue together."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters (feeds carry both)."""
    text = "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch)[0] != "C")
    return _WS.sub(" ", text).strip()


def outlet_name(text: str) -> str:
    """An outlet name as shown and compared: NFKC, no control or format characters
    (zero-width spaces, direction marks), spaces collapsed, so look-alike names collide."""
    return clean_text(unicodedata.normalize("NFKC", text))


def strip_html(markup: str | None) -> str:
    """Plain text of an HTML fragment, entities decoded, whitespace collapsed."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # pragma: no cover - HTMLParser is lenient; be safe anyway
        text = re.sub(r"<[^>]*>", " ", markup)
    return clean_text(html.unescape(text) if "&" in text else text)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str:
    """The article's address without tracking parameters, fragment or default port.

    Scheme and host are lower-cased; path and remaining query keep their case and order,
    because servers treat them as significant.
    """
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc = f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)],
        doseq=True,
    )
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def to_utc(value: time.struct_time | datetime | None) -> datetime | None:
    """A timezone-aware UTC datetime (feedparser's ``*_parsed`` fields are already UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


_TITLE_NOISE = re.compile(r"[^\w\s]", re.UNICODE)


def normalise_title(title: str) -> str:
    """Title reduced for identity comparison: NFKC, case-folded, punctuation and spacing removed."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return _WS.sub(" ", _TITLE_NOISE.sub(" ", text)).strip()


def identity_keys(item: FeedItem) -> list[str]:
    """Keys under which an item counts as already seen: GUID in its feed, canonical URL,
    and normalised title from the same outlet."""
    keys = [f"guid:{item.feed}\x1f{item.guid}"]
    if item.link:
        keys.append(f"url:{item.link}")
    title = normalise_title(item.title)
    if title:
        keys.append(f"title:{item.source.casefold()}\x1f{title}")
    return keys


def estimate_missing_dates(dates: list[datetime | None]) -> list[datetime | None]:
    """For each missing date in feed order, the date of the nearest dated entry after it, else before it.

    Feeds list entries newest first (or, rarely, oldest first), so an undated entry sits
    between the entries published just before and just after it. The entry after it is
    preferred: in the usual newest-first order that is the earlier one, so the estimate
    never lies in the future. Entries that have a date get None.
    """
    estimates: list[datetime | None] = [None] * len(dates)
    following: datetime | None = None
    for i in range(len(dates) - 1, -1, -1):
        if dates[i] is not None:
            following = dates[i]
        else:
            estimates[i] = following
    preceding: datetime | None = None
    for i, date in enumerate(dates):
        if date is not None:
            preceding = date
        elif estimates[i] is None:
            estimates[i] = preceding
    return estimates
