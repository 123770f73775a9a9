"""The normalisation functions as they were before their fast paths, kept as the reference.

Stored seen keys hold canonical URLs, and items are compared field by field across
versions, so the fast paths must give exactly these results for every input.
"""

from __future__ import annotations

import re
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
