"""A fast reading of well-formed RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 feeds with lxml.

feedparser stays the reference: for the feeds this module accepts it yields the entry
fields :mod:`botsvc.ingest.parse` reads (title, summary, content, link, id, dates,
author, source title) and the feed's title and language exactly as feedparser would.
Whatever it is not sure of (a parse error, an encoding feedparser would override, an
unknown format, an element it does not model, repeated or nested fields, xml:base, DTD
declarations) raises :class:`Declined`, and the caller asks feedparser instead.

The XML parser resolves no entities, loads no DTD, never touches the network and keeps
libxml2's size limits (no huge_tree); a document with a DOCTYPE or ENTITY declaration
anywhere is declined, so those are only ever handled as the feedparser path handles them.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message

# feedparser's own date parser, character map and URL join (feedparser is pinned): the
# same functions, so dates, repaired characters and resolved links cannot drift apart.
from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.urls import _urljoin
from lxml import etree


class Declined(ValueError):
    """This body is for feedparser to read (the reason says why)."""


#: One item, with the keys :mod:`botsvc.ingest.parse` reads from feedparser's entries.
Entry = dict[str, object]


@dataclass
class FastFeed:
    title: str
    language: str | None
    entries: list[Entry] = field(default_factory=list)


RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF_ABOUT = f"{{{RDF}}}about"
ATOM_LINK = f"{{{ATOM}}}link"

# Item children that carry nothing this module reads; allowed (with attributes only, or
# plain text) so that common feeds stay on the fast path.
_IGNORED = {
    "comments",
    "category",
    "enclosure",
    f"{{{DC}}}subject",
    f"{{{DC}}}rights",
    f"{{{DC}}}publisher",
    f"{{{DC}}}identifier",
    f"{{{DC}}}type",
    f"{{{DC}}}format",
    "{http://search.yahoo.com/mrss/}content",
    "{http://search.yahoo.com/mrss/}thumbnail",
    "{http://search.yahoo.com/mrss/}keywords",
    "{http://search.yahoo.com/mrss/}credit",
    "{http://wellformedweb.org/CommentAPI/}commentRss",
    "{http://wellformedweb.org/CommentAPI/}comment",
    "{http://purl.org/rss/1.0/modules/slash/}comments",
    "{http://rssnamespace.org/feedburner/ext/1.0}origLink",
    "{http://purl.org/syndication/thread/1.0}total",
    "{http://www.georss.org/georss}point",
}
# Which entry key each modelled element fills, per format. Dates keep their raw text.
_RSS_FIELDS = {
    "title": "title",
    "link": "link",
    "description": "summary",
    "guid": "id",
    "pubDate": "published",
    "author": "author",
    "source": "source",
    f"{{{CONTENT}}}encoded": "content",
    f"{{{DC}}}creator": "author",
    f"{{{DC}}}date": "updated",
    f"{{{DCTERMS}}}issued": "published",
    f"{{{DCTERMS}}}modified": "updated",
    f"{{{DCTERMS}}}created": "created",
}
_RSS1_FIELDS = {
    f"{{{RSS1}}}title": "title",
    f"{{{RSS1}}}link": "link",
    f"{{{RSS1}}}description": "summary",
} | {key: value for key, value in _RSS_FIELDS.items() if key.startswith("{")}
_ATOM_FIELDS = {
    f"{{{ATOM}}}title": "title",
    f"{{{ATOM}}}summary": "summary",
    f"{{{ATOM}}}content": "content",
    f"{{{ATOM}}}id": "id",
    f"{{{ATOM}}}published": "published",
    f"{{{ATOM}}}updated": "updated",
    f"{{{ATOM}}}author": "author",
}
_ATOM_IGNORED = {f"{{{ATOM}}}category", f"{{{ATOM}}}rights"} | _IGNORED
_ATOM_TEXT_TYPES = {"text": "text/plain", "html": "text/html", "text/plain": "text/plain", "text/html": "text/html"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}

_XML_ENCODING = re.compile(rb"""^<\?.*encoding=['"](.*?)['"].*\?>""")  # feedparser's RE_XML_PI_ENCODING
_ENTRY_TAGS = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]", re.IGNORECASE)
_QUERY_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_XML_MEDIA = ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity")
_TEXT_XML_MEDIA = ("text/xml", "text/xml-external-parsed-entity")
_WIDE_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff", b"\x4c\x6f\xa7\x94", b"\x00\x3c", b"\x3c\x00", b"\x00\x00")


def _encoding(body: bytes, content_type: str | None, has_location: bool) -> tuple[bytes, str]:
    """The body without a UTF-8 BOM and the Python codec feedparser would read it with.

    Declines every case where feedparser would record an encoding or media-type problem
    (its warning must not be lost) or would guess (wide encodings, no declaration where
    the media type leaves the charset open).
    """
    if body.startswith(_WIDE_BOMS):
        raise Declined("a UTF-16/32 or EBCDIC document")
    if body.startswith(codecs.BOM_UTF8):
        body = body[3:]
    declared = _XML_ENCODING.match(body)
    xml_encoding = declared.group(1).decode("ascii", "replace").lower() if declared else ""
    if content_type:
        message = Message()
        message["content-type"] = content_type
        media = message.get_content_type()
        param = message.get_param("charset") or ""
        if isinstance(param, tuple):  # RFC 2231 form
            raise Declined("an encoded charset parameter")
        charset = param.strip().lower()
        if media in _XML_MEDIA or (media.startswith("application/") and media.endswith("+xml")):
            chosen = charset or xml_encoding or "utf-8"
        elif media in _TEXT_XML_MEDIA or (media.startswith("text/") and media.endswith("+xml")):
            chosen = charset or "us-ascii"
        else:
            raise Declined(f"not an XML media type ({media})")
    elif has_location:
        raise Declined("no Content-Type")
    else:
        chosen = xml_encoding or "utf-8"
    if chosen == "gb2312":
        chosen = "gb18030"
    try:
        codec = codecs.lookup(chosen).name
    except LookupError as exc:
        raise Declined(f"unknown encoding {chosen!r}") from exc
    if codec.startswith(("utf-16", "utf-32")):
        raise Declined("a UTF-16/32 declaration")
    return body, codec


# An absolute http(s) URL that feedparser's _urljoin hands back unchanged whatever the
# base: nothing for its slash fixer, and urlsplit/urlunsplit put it back as it was (a
# plain host, a path of printable ASCII without ";", a non-empty query, no fragment).
_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?:/[\x21\x22\x24-\x3a\x3c-\x3e\x40-\x7e]*)?(?:\?[\x21\x22\x24-\x7e]+)?"
)


def _join(base: str, uri: str) -> str:
    """feedparser's ``_urljoin(base, uri)``, without its two URL parses for an absolute link."""
    if _ABSOLUTE_URL.fullmatch(uri):
        return uri
    return _urljoin(base, uri)


# The RFC 822 date almost every RSS feed writes ("Fri, 01 May 2026 12:00:00 +0000").
_MONTHS = {m: i for i, m in enumerate(("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(), 1)}
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|([+-])([0-9]{2})([0-9]{2}))"
)


def _date(text: str) -> time.struct_time | None:
    """feedparser's ``_parse_date(text)``, computed directly for the common RFC 822 form."""
    found = _RFC822.fullmatch(text)
    if found is None:
        return _parse_date(text)
    day, month, year, hour, minute, second, sign, tz_hours, tz_minutes = found.groups()
    try:
        stamp = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    except ValueError:
        return _parse_date(text)  # an impossible date: whatever the other handlers make of it
    try:
        if sign:
            offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
            stamp = stamp - offset if sign == "+" else stamp + offset
        return stamp.utctimetuple()
    except (OverflowError, ValueError):
        return _parse_date(text)  # out of range once moved to UTC: as above


def _text(element: etree._Element, typed: bool = False) -> str:
    """An element's text as feedparser hands it on: stripped, cp1252 extensions mapped,
    UTF-8 that was read as Latin-1 repaired; declined if the element has children, or a
    mode or (unless ``typed``, checked by the caller) a type attribute, which can make
    feedparser decode base64."""
    if len(element):
        raise Declined(f"markup or comments inside <{etree.QName(element).localname}>")
    if element.attrib:
        names = _attributes(element)
        if "mode" in names or ("type" in names and not typed):
            raise Declined("a mode or type attribute on a text field")
    text = (element.text or "").strip()
    if not text.isascii():
        try:
            text = text.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        text = text.translate(_cp1252)
    return text


def _atom_link(element: etree._Element, base: str) -> str | None:
    """The href of an Atom link feedparser takes for the entry's link, else None."""
    attrs = _attributes(element)
    if "href" not in attrs:
        raise Declined("an Atom link without href")
    if len(element) or (element.text or "").strip():
        raise Declined("an Atom link with content")
    rel = attrs.get("rel", "alternate").lower()
    kind = attrs["type"].lower() if "type" in attrs else "application/atom+xml" if rel == "self" else "text/html"
    kind = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}.get(kind, kind)
    if rel == "alternate" and kind in _HTML_TYPES:
        return _join(base, attrs["href"])
    return None


def _ignorable(element: etree._Element, ignored: set[str]) -> bool:
    """Whether an element and everything in it is of no concern to the fields read."""
    return element.tag in ignored and all(_ignorable(child, ignored) for child in element if isinstance(child.tag, str))


def _attributes(element: etree._Element) -> dict[str, str]:
    """Attributes by lower-cased name, as feedparser sees them."""
    return {str(name).lower(): value for name, value in element.attrib.items()}


def _entry(element: etree._Element, fields: dict[str, str], ignored: set[str], base: str, atom: bool) -> Entry:
    values: dict[str, object] = {}
    links: list[str] = []
    if element.attrib and {"href", "lastmod"} & set(_attributes(element)):
        raise Declined("a CDF entry")  # feedparser reads these attributes as link and date
    about = element.get(RDF_ABOUT)
    if about:
        values["id"] = about
    seen: set[str] = set()
    permalink = False
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction between fields
        if atom and tag == ATOM_LINK:
            href = _atom_link(child, base)
            if href is not None:
                links.append(href)
            continue
        key = fields.get(tag)
        if key is None:
            if _ignorable(child, ignored):
                continue
            raise Declined(f"an entry element it does not model: {tag}")
        if key in seen:
            raise Declined(f"a repeated entry field: {key}")
        seen.add(key)
        if key == "author" and atom:
            values["author"] = _atom_author(child)
        elif key == "source":
            title = _text(child)
            if title:
                values["source"] = {"title": title}
        elif key in ("summary", "content") or (atom and key == "title"):
            values[key] = _content(child, atom, key)
        elif key == "id":
            permalink = _attributes(child).get("ispermalink", "true") == "true"
            value = _text(child)
            values["id"] = _join(base, value) if permalink and value else value
        elif key == "link":
            value = _text(child)
            value = _join(base, value) if value else value
            if "&" in value:
                value = _QUERY_ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))
            values["link"] = value
        elif key in ("published", "updated", "created"):
            values[f"{key}_parsed"] = _date(_text(child))
        else:
            values[key] = _text(child)
    if links:
        values["link"] = links[-1]
    if "link" not in values and permalink and values.get("id"):
        values["link"] = values["id"]
    if "summary" not in values and "content" in values:
        values["summary"] = values["content"]
    if "content" in values:
        values["content"] = [{"value": values["content"]}]
    return values


def _content(element: etree._Element, atom: bool, key: str) -> str:
    if atom:
        attrs = _attributes(element)
        kind = attrs.get("type", "text").lower()
        if kind not in _ATOM_TEXT_TYPES or "src" in attrs or "mode" in attrs:
            raise Declined(f"Atom {key} of type {kind}")
        return _text(element, typed=True)
    return _text(element)


def _atom_author(element: etree._Element) -> str:
    """``name (email)``, the name or the email, as feedparser's author."""
    parts: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = child.tag[len(ATOM) + 2 :] if child.tag.startswith(f"{{{ATOM}}}") else ""
        if local not in ("name", "email", "uri") or local in parts:
            raise Declined("an Atom author it does not model")
        parts[local] = _text(child)
    if (element.text or "").strip():
        raise Declined("text directly inside an Atom author")
    name, email = parts.get("name"), parts.get("email")
    if name and email:
        return f"{name} ({email})"
    return name or email or ""


def _languages(channel: etree._Element, tags: tuple[str, ...]) -> list[str]:
    """The channel's language declarations in document order."""
    if any(isinstance(c.tag, str) and c.tag not in tags and _local(c) == "language" for c in channel):
        raise Declined("a language element it does not model")
    return [_text(child) for child in channel if child.tag in tags]


def _local(element: etree._Element) -> str:
    """The lower-cased local name, which is how feedparser matches elements."""
    return str(element.tag).rpartition("}")[2].lower()  # what etree.QName(element).localname gives


def _one_text(parent: etree._Element, tag: str, atom: bool = False) -> str | None:
    """The text of the one child ``tag``; declined if repeated or if another title-like
    child (dc:title, <TITLE>) could stand in for it, as it does in feedparser."""
    found = parent.findall(tag)
    local = etree.QName(tag).localname.lower()
    others = [c for c in parent if isinstance(c.tag, str) and c.tag != tag and _local(c) == local]
    if len(found) > 1 or others:
        raise Declined(f"repeated {tag}")
    if not found:
        return None
    return _content(found[0], True, "title") if atom else _text(found[0])


def parse_fast(body: bytes, *, url: str = "", content_type: str | None = None) -> FastFeed:
    """Read ``body`` (its DOCTYPE already removed) or raise :class:`Declined`."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body or b"xml:base" in body:
        raise Declined("a DTD declaration or xml:base")
    base = url if url.startswith(("http://", "https://")) else ""
    body, codec = _encoding(body, content_type, bool(base))
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise Declined(f"not valid {codec}") from exc
    data = body if codec == "utf-8" else text.encode("utf-8")
    parser = etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        attribute_defaults=False,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Declined(f"not well-formed ({exc})") from exc
    if len(parser.error_log) or root.getroottree().docinfo.doctype:
        raise Declined("parser warnings")
    language = root.get(XML_LANG) if root.get(XML_LANG) is not None else root.get("lang")
    language = language or None
    if language:
        language = language.replace("_", "-")
    if root.tag == "rss":
        channels = root.findall("channel")
        if len(channels) != 1:
            raise Declined("an RSS document that is not one channel")
        channel = channels[0]
        items = channel.findall("item")
        fields, ignored, atom = _RSS_FIELDS, _IGNORED, False
        title = _one_text(channel, "title")
        declared = _languages(channel, ("language", f"{{{DC}}}language"))
    elif root.tag == f"{{{RDF}}}RDF":
        channel = root.find(f"{{{RSS1}}}channel")
        if channel is None:
            raise Declined("an RDF document without an RSS 1.0 channel")
        items = root.findall(f"{{{RSS1}}}item")
        fields, ignored, atom = _RSS1_FIELDS, _IGNORED, False
        title = _one_text(channel, f"{{{RSS1}}}title")
        declared = _languages(channel, (f"{{{DC}}}language",))
    elif root.tag == f"{{{ATOM}}}feed":
        channel = root
        items = root.findall(f"{{{ATOM}}}entry")
        fields, ignored, atom = _ATOM_FIELDS, _ATOM_IGNORED, True
        title = _one_text(root, f"{{{ATOM}}}title", atom=True)
        declared = []
    else:
        raise Declined(f"not RSS or Atom ({root.tag})")
    if len(_ENTRY_TAGS.findall(data)) != len(items):
        raise Declined("items or entries outside the places it reads")
    if declared:
        language = declared[-1]  # each declaration replaces the one before, as in feedparser
    entries = [_entry(item, fields, ignored, base, atom) for item in items]
    return FastFeed(title=title or "", language=language, entries=entries)
