"""The fast lxml reader and feedparser, the reference, give the same feeds.

Every feed is read three ways: the fast path alone ("lxml"), feedparser alone, and the
default ("auto": fast path, feedparser for whatever it declines). Whatever the fast path
reads must equal feedparser's reading: feed title, every item field (title, link, GUID,
published date and its estimate, summary, body, byline, outlet, language) and the
warning. On the conformance corpus and the real snapshots there is no difference.

Named cases where the fast path does not read a feed itself and hands it to feedparser
(each tested below, in DECLINED): other formats (Atom 0.3, RSS in a namespace), XHTML
markup or comments inside a field, upper-case element names, repeated fields, a mode or
type attribute on an RSS field (feedparser may decode base64), item elements it does not
model (itunes:summary, media:description...), xml:base, a DOCTYPE or ENTITY declaration
anywhere, UTF-16/32, an encoding or media type feedparser would
override or warn about (undeclared non-UTF-8 bytes, text/xml without a charset, a
non-XML media type, no Content-Type at all), and anything that is not well-formed XML.
"""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from botsvc.ingest.parse import FeedParseError, parse_feed

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = sorted((FIXTURES / "feedparser-corpus").rglob("*.xml"))
SNAPSHOTS = sorted(p for p in (FIXTURES / "feed-snapshots").rglob("*") if p.suffix in (".xml", ".rss"))
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
URL = "https://news.example.org/section/feed.xml"
# As read from disk (no headers), and as served (a feed URL that relative links resolve
# against, and a declared media type).
SERVED = [("", None), (URL, "application/rss+xml; charset=utf-8")]


def read(body: bytes, reader: str, url: str = "", content_type: str | None = None):
    return parse_feed(body, feed="t", url=url, content_type=content_type, now=NOW, reader=reader)


def same(first, second) -> None:
    assert first.title == second.title
    assert first.warning == second.warning
    assert len(first.items) == len(second.items)
    for mine, theirs in zip(first.items, second.items):
        assert (mine.title, mine.link, mine.guid) == (theirs.title, theirs.link, theirs.guid)
        assert (mine.published, mine.estimated_published) == (theirs.published, theirs.estimated_published)
        assert (mine.summary, mine.body) == (theirs.summary, theirs.body)
        assert mine == theirs  # and every other field (byline, source, language)


def test_the_fixtures_are_there():
    assert len(CORPUS) == 159 and len(SNAPSHOTS) == len(SNAPSHOT_READER) == 10


@pytest.mark.parametrize("url,content_type", SERVED)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(FIXTURES / "feedparser-corpus")))
def test_corpus_feeds_read_the_same_by_both_readers(path, url, content_type):
    body = path.read_bytes()
    reference = read(body, "feedparser", url, content_type)
    try:
        fast = read(body, "lxml", url, content_type)
    except FeedParseError as exc:
        # Served as UTF-8 RSS, a feed declared in another encoding is one feedparser warns about.
        assert content_type and "fast path declined" in str(exc) and reference.warning
        assert read(body, "auto", url, content_type).reader == "feedparser"
        return
    assert fast.reader == "lxml" and fast.items
    same(fast, reference)


# Which reader the default path ends with for each snapshot, and why.
SNAPSHOT_READER = {
    "guardian_us_2018-01-31.rss": "lxml",
    "huffpost_worldnews_2019-06-30.xml": "lxml",
    "reuters_worldnews_2018-01-30.xml": "lxml",
    "uol_noticias_2018-09-24.rss": "feedparser",  # ISO-8859-1 bytes with no declaration
    "encoding__euc-kr-attribute.xml": "lxml",
    "encoding__euc-kr-item.xml": "lxml",
    "encoding__euc-kr.xml": "lxml",
    "illformed__chardet__eucjp.xml": "feedparser",  # undeclared EUC-JP
    "illformed__chardet__euckr.xml": "feedparser",
    "illformed__chardet__shiftjis.xml": "feedparser",
}


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.name)
def test_real_snapshots_read_the_same_by_both_readers(path):
    body = path.read_bytes()
    default = read(body, "auto")
    assert default.reader == SNAPSHOT_READER[path.name]
    same(default, read(body, "feedparser"))
    if default.reader == "lxml":
        same(read(body, "lxml", URL, "application/rss+xml"), read(body, "feedparser", URL, "application/rss+xml"))


def rss(items: str, head: str = "", channel: str = "", root: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{head}<rss version="2.0"{root}><channel><title>T</title>{channel}'
        f"{items}</channel></rss>"
    ).encode()


ITEM = "<item><title>Seoul and Tokyo</title><link>https://x.example/a</link><guid>g1</guid></item>"
DC = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
DECLINED = {
    "Atom 0.3": (
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title>'
        b"<entry><title>a</title><id>tag:x,2020:1</id></entry></feed>",
        None,
    ),
    "RSS in a namespace": (
        b'<rss xmlns="http://backend.userland.com/rss2"><channel><title>T</title>'
        b"<item><title>a</title></item></channel></rss>",
        None,
    ),
    "Atom XHTML content": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>a</title>'
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>b</p></div></content>'
        b"</entry></feed>",
        None,
    ),
    "markup inside a title": (rss("<item><title>a <b>bold</b> move</title></item>"), None),
    "comment inside a title": (rss("<item><title>a <!-- x --> b</title></item>"), None),
    "upper-case element": (rss("<item><title>a</title><PubDate>Wed, 31 Dec 2025 12:00:00 GMT</PubDate></item>"), None),
    "repeated field": (rss("<item><title>a</title><dc:creator>x</dc:creator><author>y</author></item>", root=DC), None),
    "item element not modelled": (
        rss(
            "<item><title>a</title><itunes:summary>s</itunes:summary></item>",
            root=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
        ),
        None,
    ),
    "base64 mode": (rss('<item><title>a</title><description mode="base64">Ymlk</description></item>'), None),
    "xml:base": (rss('<item xml:base="https://y.example/"><title>a</title><link>b</link></item>'), None),
    "DOCTYPE with HTML entities": (
        rss(ITEM.replace("Seoul and", "Seoul&nbsp;&amp;"), '<!DOCTYPE rss SYSTEM "x.dtd">'),
        None,
    ),
    "late ENTITY declaration": (rss(ITEM, "<!--" + "x" * 5000 + '--><!DOCTYPE rss [<!ENTITY e "x">]>'), None),
    "UTF-16": (rss(ITEM).decode().replace('"utf-8"', '"utf-16"').encode("utf-16"), None),
    "undeclared Latin-1": (rss("<item><title>Caf\u00e9</title></item>").decode().encode("latin-1"), None),
    "text/xml without charset": (rss("<item><title>Caf\u00e9</title></item>"), "text/xml"),
    "non-XML media type": (rss(ITEM), "text/html"),
    "bytes that are not the declared charset": (
        rss("<item><title>Caf\u00e9</title></item>").decode().encode("latin-1"),
        "application/rss+xml; charset=utf-8",
    ),
    "not well-formed": (rss("<item><title>a & b</title></item>"), None),
    "items outside the channel": (rss("").replace(b"</rss>", b"<item><title>late</title></item></rss>"), None),
}


@pytest.mark.parametrize("name", DECLINED)
def test_what_the_fast_path_declines_feedparser_reads(name):
    body, content_type = DECLINED[name]
    with pytest.raises(FeedParseError, match="fast path declined"):
        read(body, "lxml", URL, content_type)
    try:
        reference = read(body, "feedparser", URL, content_type)
    except FeedParseError:
        with pytest.raises(FeedParseError):
            read(body, "auto", URL, content_type)
        return
    default = read(body, "auto", URL, content_type)
    assert default.reader == "feedparser"
    same(default, reference)


def test_the_default_path_reads_plain_feeds_itself():
    """Common shapes stay on the fast path: RSS with dc/content/media, RSS 1.0, Atom."""
    bodies = [
        rss(
            "<item><title>a</title><link>/rel</link><description>&lt;p&gt;x&lt;/p&gt;</description>"
            "<content:encoded><![CDATA[<p>full</p>]]></content:encoded><dc:creator>K</dc:creator>"
            '<dc:date>2025-12-31T12:00:00+09:00</dc:date><category>c</category><media:content url="u">'
            "<media:credit>c</media:credit></media:content></item>",
            root=DC + ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:media="http://search.yahoo.com/mrss/"',
        ),
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
        b'<channel rdf:about="x"><title>T</title></channel><item rdf:about="https://x.example/1"><title>a</title>'
        b"<link>https://x.example/1</link></item></rdf:RDF>",
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ko"><title type="html">T &amp;amp; U</title>'
        b'<entry><title>a</title><link href="/1"/><link rel="enclosure" href="/e"/><id>tag:x,2020:1</id>'
        b"<updated>2025-12-31T03:00:00Z</updated><author><name>N</name><email>n@x.example</email></author>"
        b'<summary type="html">&lt;b&gt;s&lt;/b&gt;</summary></entry></feed>',
    ]
    # A charset in the Content-Type wins over the XML declaration, as it does in feedparser.
    overridden = rss("<item><title>Caf\u00e9</title></item>").replace(b'"utf-8"', b'"iso-8859-1"')
    assert read(overridden, "auto", URL, "application/rss+xml; charset=utf-8").items[0].title == "Caf\u00e9"
    bodies.append(overridden)
    for body in bodies:
        for url, content_type in SERVED:
            default = read(body, "auto", url, content_type)
            assert default.reader == "lxml" and default.items
            same(default, read(body, "feedparser", url, content_type))
