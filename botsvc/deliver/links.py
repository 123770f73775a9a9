"""Feed links made into addresses that chat platforms accept as links.

Feed links are untrusted and often sloppy: spaces, non-ASCII, broken percent escapes,
a space inside the host, or thousands of characters of tracking data. Discord refuses
the whole message (400, code 50035 "Not a well formed URL") when an embed's ``url`` is
not a well-formed http(s) address of at most 2,048 characters; Slack shows a broken link.
So a link is repaired where it can be (escapes added, host IDNA-encoded) and dropped
(None) where it cannot: the headline is then shown without a link.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters kept as they are in each part; everything else is percent-encoded. None of
# them can end a Slack ``<url|text>`` or a Discord ``[text](url)`` link.
_PATH_SAFE = "!$%&'()*+,/:;=@~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _host(hostname: str) -> str | None:
    """``hostname`` as an ASCII host, or None unless it is a valid DNS name or IP address."""
    try:
        return str(ipaddress.ip_address(hostname)) if ":" not in hostname else f"[{ipaddress.IPv6Address(hostname)}]"
    except ValueError:
        pass
    try:
        ascii_host = hostname.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_host.split(".")
    if not ascii_host or len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return ascii_host


def _escaped(text: str, safe: str) -> str:
    return quote(_BAD_ESCAPE.sub("%25", text), safe=safe)


def web_link(url: str | None, max_length: int) -> str | None:
    """``url`` as a well-formed http(s) address of at most ``max_length`` characters, or None.

    Spaces, quotes, ``<``, ``>``, ``|``, non-ASCII and stray ``%`` in the path, query and
    fragment are percent-encoded; credentials (``user:pass@``) are dropped; the scheme is
    kept as written. A missing or malformed host, a bad port, or an address still too
    long after that gives None.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = _host(parts.hostname)
    if host is None:
        return None
    link = f"{url[: len(parts.scheme)]}://{host}" + (f":{port}" if port is not None else "")
    link += _escaped(parts.path, _PATH_SAFE) or ""
    if parts.query:
        link += "?" + _escaped(parts.query, _QUERY_SAFE)
    if parts.fragment:
        link += "#" + _escaped(parts.fragment, _QUERY_SAFE)
    return link if len(link) <= max_length else None
