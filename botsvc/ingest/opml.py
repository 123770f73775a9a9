"""OPML 2.0 feed lists, read and written, for moving feeds between botsvc and feed readers.

Reading takes every ``<outline>`` with an ``xmlUrl``, however deeply nested in
categories. OPML files come from elsewhere, so a document declaring a DOCTYPE or entities
is refused before it is parsed: no entity expansion, no external DTDs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

MAX_OPML_BYTES = 5 * 1024 * 1024
_DECLARATIONS = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class OpmlError(ValueError):
    """The file is not an OPML document botsvc will read; the message says why."""


@dataclass(frozen=True)
class Outline:
    """One feed of an OPML file."""

    url: str
    title: str = ""
    html_url: str = ""
    language: str = ""
    category: str = ""
    """The enclosing outlines' titles, joined with " / "."""


def _attribute(element: ET.Element, name: str) -> str:
    """An attribute by name, ignoring case (``xmlUrl``, ``xmlurl`` and ``XMLURL`` are all seen)."""
    for key, value in element.attrib.items():
        if key.lower() == name.lower():
            return value.strip()
    return ""


def _walk(element: ET.Element, path: tuple[str, ...]) -> Iterator[Outline]:
    for child in element:
        if child.tag != "outline":
            continue
        title = _attribute(child, "title") or _attribute(child, "text")
        url = _attribute(child, "xmlUrl")
        if url:
            yield Outline(
                url=url,
                title=title,
                html_url=_attribute(child, "htmlUrl"),
                language=_attribute(child, "language"),
                category=" / ".join(path),
            )
        yield from _walk(child, (*path, title) if title else path)


def read_opml(data: bytes) -> list[Outline]:
    """The feeds listed in an OPML document, in document order; raise OpmlError if unreadable."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"the file is larger than {MAX_OPML_BYTES // (1024 * 1024)} MB")
    if _DECLARATIONS.search(data):
        raise OpmlError("DOCTYPE and entity declarations are not accepted in OPML files")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML ({exc})") from None
    if root.tag != "opml":
        raise OpmlError(f"the root element is <{root.tag[:40]}>, not <opml>")
    body = root.find("body")
    if body is None:
        raise OpmlError("there is no <body> element")
    return list(_walk(body, ()))


@dataclass(frozen=True)
class ListedFeed:
    """A feed to write into an OPML file."""

    name: str
    url: str
    language: str | None = None


def write_opml(feeds: Iterable[ListedFeed], *, title: str, created: datetime) -> str:
    """An OPML 2.0 document listing ``feeds`` as flat ``type="rss"`` outlines."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.language:
            attributes["language"] = feed.language
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
