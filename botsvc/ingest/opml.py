"""OPML 2.0 feed lists, read and written, for moving feeds between botsvc and feed readers.

Reading takes every ``<outline>`` with an ``xmlUrl`` nested in categories up to
:data:`MAX_DEPTH` deep, at most :data:`MAX_FEEDS` of them. OPML files come from elsewhere,
so a document declaring a DOCTYPE or entities is refused before it is parsed, in whatever
encoding it is written (UTF-16 included): no entity expansion, no external DTDs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

MAX_OPML_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 50
"""Deepest nesting of elements read (categories in categories); feed readers use two or three."""
MAX_FEEDS = 300
"""Most feeds one file may list: each is fetched and checked before it is added, and each
one added is polled every 15 minutes from then on."""
_DECLARATIONS = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
DECLARATIONS_REFUSED = "DOCTYPE and entity declarations are not accepted in OPML files"


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
        raise OpmlError(DECLARATIONS_REFUSED)
    _scan(data)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML ({exc})") from None
    if root.tag != "opml":
        raise OpmlError(f"the root element is <{root.tag[:40]}>, not <opml>")
    body = root.find("body")
    if body is None:
        raise OpmlError("there is no <body> element")
    outlines = list(_walk(body, ()))
    if len(outlines) > MAX_FEEDS:
        raise OpmlError(f"the file lists {len(outlines)} feeds; at most {MAX_FEEDS} are imported at once (split it)")
    return outlines


def _scan(data: bytes) -> None:
    """Refuse declarations in any encoding, and nesting deeper than :data:`MAX_DEPTH`, before parsing.

    The byte check above only sees ASCII-compatible encodings; expat decodes the document
    (a UTF-16 one too) and reports each declaration as it meets it.
    """
    scanner = expat.ParserCreate()
    depth = 0

    def declared(*_args: object) -> None:
        raise OpmlError(DECLARATIONS_REFUSED)

    def external(*_args: object) -> int:
        raise OpmlError(DECLARATIONS_REFUSED)

    def start(_name: str, _attributes: object) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise OpmlError(f"elements are nested more than {MAX_DEPTH} deep")

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    scanner.StartDoctypeDeclHandler = declared
    scanner.EntityDeclHandler = declared
    scanner.UnparsedEntityDeclHandler = declared
    scanner.NotationDeclHandler = declared
    scanner.ExternalEntityRefHandler = external
    scanner.StartElementHandler = start
    scanner.EndElementHandler = end
    try:
        scanner.Parse(data, True)
    except OpmlError:
        raise
    except expat.ExpatError as exc:
        raise OpmlError(f"not well-formed XML ({exc})") from None
    except ValueError as exc:  # an encoding expat does not read (UTF-32)
        raise OpmlError(f"unreadable encoding ({exc}); save it as UTF-8") from None


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
