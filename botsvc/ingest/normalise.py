"""Pure helpers that turn raw feed fields into comparable, displayable values."""

from __future__ import annotations

import calendar
import html
import re
import time
import unicodedata
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botsvc.ingest.controls import remove_controls
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


# Markup in one pass of a compiled pattern (no per-item HTML parser, no per-character
# loop), read as Python's HTMLParser reads it: script and style hold raw text up to their
# end tag; comments, declarations and processing instructions are dropped (an unclosed
# one runs to the end); quoted attribute values may contain ">" (an unclosed quote is a
# character). Anything else, such as a lone "<", stays text. Every alternative stops at
# the next "<" or runs to the end, and never backtracks, so hostile markup costs linear time.
_MARKUP = re.compile(
    r"""<(?P<raw>script|style)(?=[\s/>])(?:[^>"'<]|"[^"]*"|'[^']*'|["'])*+>.*?(?:</(?P=raw)\s*>|\Z)
    |<!--.*?(?:-->|\Z)
    |<(?P<end>/)?(?P<tag>[a-zA-Z][^\t\n\r\f\x20/>\x00<]*)(?:[^>"'<]|"[^"]*"|'[^']*'|["'])*+>
    |<!\[.*?(?:\]\]>|\Z)
    |<!(?![-\[])[^>]*(?:>|\Z)
    |<\?[^>]*(?:>|\Z)""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_HAS_SKIP_TAG = re.compile("<(?:" + "|".join(sorted(_SKIP_TAGS)) + r")(?=[\s/>])", re.IGNORECASE)


def _without_tags(markup: str) -> str:
    """``markup`` with each piece of markup replaced by a space for a block element, else nothing.

    One ``split`` instead of a ``sub`` whose Python callback would run once per tag: the
    pattern's three groups (raw, end, tag) come back after each piece of text, and only
    the tag names are looked at.
    """
    pieces = _MARKUP.split(markup)
    if len(pieces) == 1:
        return markup
    joined: list[str] = [""] * (len(pieces) // 2 + 1)
    joined[0::2] = pieces[0::4]
    joined[1::2] = [" " if tag and tag.lower() in _BLOCK_TAGS else "" for tag in pieces[3::4]]
    return "".join(joined)


def _text_skipping(markup: str) -> str:
    """Visible text when the markup has elements whose content is not shown (noscript, svg...)."""
    parts: list[str] = []
    depth = 0
    at = 0
    for match in _MARKUP.finditer(markup):
        if not depth:
            parts.append(markup[at : match.start()])
        at = match.end()
        tag = (match.group("tag") or "").lower()
        if tag in _SKIP_TAGS:
            if match.group("end"):
                depth = max(0, depth - 1)
            elif not match.group(0).endswith("/>"):
                depth += 1
        elif tag in _BLOCK_TAGS and not depth:
            parts.append(" ")
    if not depth:
        parts.append(markup[at:])
    return "".join(parts)


# Whitespace that is also a control character (category Cc): clean_text removes these
# rather than turning them into a space, so text holding one takes the slow path.
_CONTROL_SPACE = re.compile("[\x0b-\x0d\x1c-\x1f\x85]")


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters (feeds carry both).

    The common case costs two C-level passes: when the whitespace-collapsed text is all
    printable (no category C character is left) and no removable control was whitespace,
    there is nothing to remove; ``str.split`` and ``\\s`` agree on what whitespace is.
    """
    collapsed = " ".join(text.split())
    if collapsed.isprintable() and not _CONTROL_SPACE.search(text):
        return collapsed
    return _WS.sub(" ", remove_controls(text)).strip()


def outlet_name(text: str) -> str:
    """An outlet name as shown and compared: NFKC, no control or format characters
    (zero-width spaces, direction marks), spaces collapsed, so look-alike names collide."""
    return clean_text(unicodedata.normalize("NFKC", text))


def strip_html(markup: str | None) -> str:
    """Plain text of an HTML fragment, entities decoded, whitespace collapsed.

    Entities are decoded twice, as before: feeds often escape their HTML once too often
    (``&amp;amp;``, ``&amp;lt;b&amp;gt;``).
    """
    if not markup:
        return ""
    if "<" in markup:
        text = _text_skipping(markup) if _HAS_SKIP_TAG.search(markup) else _without_tags(markup)
    else:
        text = markup
    if "&" in text:
        text = html.unescape(text)
        if "&" in text:
            text = html.unescape(text)
    return clean_text(text)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


# An http(s) URL that urlsplit, parse_qsl and urlencode would take apart and put back
# unchanged but for the lower-cased host and the dropped fragment and tracking parameters:
# a plain host (no user, port or IDN), a path of printable ASCII, and a query of name=value
# pairs of characters that URL quoting leaves alone. Most feed links look like this.
_PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(/[\x21\x22\x24-\x3e\x40-\x7e]*)?(?:\?([A-Za-z0-9_.~=&-]*))?(?:#.*)?",
    re.DOTALL,
)


def _plain_canonical(scheme: str, host: str, path: str | None, query: str | None) -> str | None:
    """``canonical_url`` of a URL matched by :data:`_PLAIN_URL`, or None if its query is not plain."""
    kept = []
    for pair in query.split("&") if query else ():
        if not pair:
            continue  # parse_qsl skips empty pairs
        name, _, value = pair.partition("=")
        if "=" in value:
            return None  # urlencode would quote the second "="
        if not _is_tracking(name):
            kept.append(f"{name}={value}")
    base = f"{scheme}://{host.lower()}{path or '/'}"
    return f"{base}?{'&'.join(kept)}" if kept else base


def canonical_url(url: str | None) -> str:
    """The article's address without tracking parameters, fragment or default port.

    Scheme and host are lower-cased; path and remaining query keep their case and order,
    because servers treat them as significant.
    """
    if not url:
        return ""
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        fast = _plain_canonical(*plain.groups())
        if fast is not None:
            return fast
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


_ASCII_TITLE_NOISE = str.maketrans(
    {chr(code): " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_" or chr(code).isspace())}
)
"""What ``_TITLE_NOISE`` replaces, among ASCII characters (``\\w`` is letters, digits and ``_`` there)."""


def normalise_title(title: str) -> str:
    """Title reduced for identity comparison: NFKC, case-folded, punctuation and spacing removed.

    An ASCII title (most English ones) takes a fast path with the same result: NFKC leaves
    it as it is, case folding is lowering, and str.split() agrees with ``\\s`` on whitespace.
    The result is part of stored seen keys, so it must never change.
    """
    if title.isascii():
        return " ".join(title.lower().translate(_ASCII_TITLE_NOISE).split())
    text = unicodedata.normalize("NFKC", title).casefold()
    return _WS.sub(" ", _TITLE_NOISE.sub(" ", text)).strip()


def identity_keys(item: FeedItem) -> list[str]:
    """Keys under which an item counts as already seen: GUID in its feed, canonical URL,
    and normalised title from the same outlet."""
    return identity_keys_and_title(item)[0]


def identity_keys_and_title(item: FeedItem) -> tuple[list[str], str]:
    """:func:`identity_keys` and the :func:`normalise_title` of the item's title they contain (one pass)."""
    keys = [f"guid:{item.feed}\x1f{item.guid}"]
    if item.link:
        keys.append(f"url:{item.link}")
    title = normalise_title(item.title)
    if title:
        keys.append(f"title:{item.source.casefold()}\x1f{title}")
    return keys, title


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
