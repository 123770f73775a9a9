"""The normalisation functions as they were before their fast paths, kept as the reference.

Stored seen keys hold canonical URLs, and items are compared field by field across
versions, so the fast paths must give exactly these results for every input.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botsvc.ingest.controls import remove_controls
from botsvc.ingest.normalise import _is_tracking

_WS = re.compile(r"\s+")


def clean_text(text: str) -> str:
    return _WS.sub(" ", remove_controls(text)).strip()


def canonical_url(url: str | None) -> str:
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


def strip_html(markup: str | None) -> str:
    """strip_html with the per-tag callback it used before."""
    from botsvc.ingest.normalise import _BLOCK_TAGS, _HAS_SKIP_TAG, _MARKUP, _text_skipping

    def tag_space(match: re.Match[str]) -> str:
        tag = match.group("tag")
        return " " if tag and tag.lower() in _BLOCK_TAGS else ""

    if not markup:
        return ""
    if "<" in markup:
        text = _text_skipping(markup) if _HAS_SKIP_TAG.search(markup) else _MARKUP.sub(tag_space, markup)
    else:
        text = markup
    if "&" in text:
        text = html.unescape(text)
        if "&" in text:
            text = html.unescape(text)
    return clean_text(text)


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text, flags=re.UNICODE)).strip()
