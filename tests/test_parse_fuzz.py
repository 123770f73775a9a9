"""Property tests: whatever bytes a server sends, fetch → parse → normalise never escapes.

The only exception allowed out of ``parse_feed`` is :class:`FeedParseError` (recorded as
the feed's error); ``fetch_feed`` never raises at all. Every item that comes out is
well-formed (plain-text fields, an http(s) link or none, a plausible date or none), and
memory stays bounded for each input. All of it holds for each reader (the fast lxml path
with its fallback, the fast path alone, feedparser alone), and whenever the fast path
accepts a body it gives the same feed as feedparser.
"""

import asyncio
import gzip
import re
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from feedserver import FeedRequestHandler, FeedServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botsvc.ingest.fetch import FetchPolicy, fetch_feed, make_client
from botsvc.ingest.normalise import identity_keys, normalise_title
from botsvc.ingest.parse import EARLIEST_DATE, FUTURE_TOLERANCE, READERS, FeedParseError, ParsedFeed, parse_feed

FEEDS = sorted((Path(__file__).resolve().parents[1] / "examples" / "feeds").glob("*.xml"))
REAL = [path.read_bytes() for path in FEEDS]
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PEAK_LIMIT = 64 * 1024 * 1024
POLICY = FetchPolicy(max_bytes=2 * 1024 * 1024)

# Fragments that have broken feed parsers before: declarations, entities, CDATA, encodings.
HOSTILE = [
    b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">',
    b'<!ENTITY x SYSTEM "file:///etc/passwd">',
    b"&x;",
    b"&b;",
    b"&#0;",
    b"&#xD800;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?xml version='1.0' encoding='shift_jis'?>",
    b'encoding="utf-16"',
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"<item>",
    b"</item>",
    b"<entry>",
    b"<pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate>",
    b"<pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate>",
    b"<link>javascript:alert(1)</link>",
    b"<guid></guid>",
    b"<title>" + b"x" * 10_000 + b"</title>",
]
CONTENT_TYPES = [
    None,
    "application/rss+xml",
    "text/xml; charset=iso-8859-1",
    "text/html",
    "application/atom+xml; charset=utf-16",
    "application/octet-stream",
]


@st.composite
def mutated_feed(draw) -> bytes:
    """A real sample feed with a few cuts, splices, byte flips and hostile fragments."""
    body = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(["flip", "insert", "hostile", "delete", "truncate", "repeat"]))
        if kind == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            body[at:at] = draw(st.binary(max_size=64))
        elif kind == "hostile":
            body[at:at] = draw(st.sampled_from(HOSTILE))
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 400))]
        elif kind == "truncate":
            del body[at:]
        elif kind == "repeat":
            body[at:at] = body[at : at + draw(st.integers(1, 2000))] * draw(st.integers(2, 20))
    return bytes(body)


_SERVER: list[FeedServer] = []


@pytest.fixture(scope="module", autouse=True)
def _server() -> Iterator[FeedServer]:
    """One loopback server for every example: starting one per example would dominate the run."""
    with FeedServer() as server:
        _SERVER.append(server)
        yield server
        _SERVER.clear()


def served(body: bytes, content_type: str | None, gzipped: bool) -> str:
    """A URL that answers GET with ``body`` (optionally gzip-encoded), streamed in 1 KiB chunks
    as a socket would deliver it."""
    headers = {}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    chunks = [body[at : at + 1024] for at in range(0, len(body), 1024)]

    def handle(h: FeedRequestHandler) -> None:
        h.send_stream(200, chunks, content_type=content_type, headers=headers)

    return _SERVER[0].route("/rss", handle)


async def fetch(url: str):
    async with make_client(POLICY) as client:
        return await fetch_feed(client, url, policy=POLICY)


def check_pipeline(body: bytes, content_type: str | None, gzipped: bool) -> None:
    result = asyncio.run(fetch(served(body, content_type, gzipped)))
    assert result.status == "ok", result.error
    read: dict[str, ParsedFeed | None] = {}
    for reader in READERS:
        read[reader] = check_parse(result.body, result.final_url, result.content_type, reader)
    fast, reference = read["lxml"], read["feedparser"]
    if fast is not None:
        assert reference is not None, "the fast path read a body feedparser rejects"
        assert (fast.title, fast.items, fast.warning) == (reference.title, reference.items, reference.warning)
        assert read["auto"] is not None and read["auto"].reader == "lxml"


def check_parse(body: bytes, url: str, content_type: str | None, reader: str) -> ParsedFeed | None:
    """The parsed feed (None for a parse error) after checking that what came out is clean."""
    tracemalloc.start()
    try:
        try:
            parsed = parse_feed(
                body, feed="fuzz", source="Fuzz", url=url, content_type=content_type, now=NOW, reader=reader
            )
        except FeedParseError as exc:
            assert str(exc).startswith("not a readable feed")
            return None
        for item in parsed.items:
            assert isinstance(item.title, str) and item.title and isinstance(item.summary, str)
            assert item.guid and isinstance(item.guid, str)
            assert item.link == "" or item.link.startswith(("http://", "https://"))
            if item.published is not None:
                assert EARLIEST_DATE <= item.published <= NOW + FUTURE_TOLERANCE
            assert all(isinstance(key, str) and key for key in identity_keys(item))
            normalise_title(item.title)
        _, peak = tracemalloc.get_traced_memory()
        assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.0f} MB"
        return parsed
    finally:
        tracemalloc.stop()


FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(body=st.binary(max_size=4096), content_type=st.sampled_from(CONTENT_TYPES), gzipped=st.booleans())
def test_random_bytes_are_a_parse_error_or_clean_items(body, content_type, gzipped):
    check_pipeline(body, content_type, gzipped)


@FUZZ
@given(body=mutated_feed(), content_type=st.sampled_from(CONTENT_TYPES), gzipped=st.booleans())
def test_mutated_real_feeds_are_a_parse_error_or_clean_items(body, content_type, gzipped):
    check_pipeline(body, content_type, gzipped)


def test_the_unmutated_samples_pass_the_same_checks():
    """The property's checks are not vacuous: every real sample yields items through them."""
    for body in REAL:
        for reader in READERS:
            parsed = parse_feed(body, feed="fuzz", source="Fuzz", now=NOW, reader=reader)
            assert parsed.items
        check_pipeline(body, "application/rss+xml", gzipped=True)


# Text that stays well-formed once escaped: words, scripts, controls, markup, entities, URLs.
TEXT_PIECES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "<b>bold</b>",
            "<p>para</p><script>x()</script>",
            "&amp;amp;",
            "&nbsp;",
            "\u200b\ufeff\u00ad",
            "\u00e9\u00c3\u00a9",
            "\x85\x96",
            "https://x.example/a?utm_source=b&c=d#f",
            "/relative/path",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "2025-12-31T12:00:00+09:00",
            "  \n\t ",
        ]
    ),
)


def _escape(text: str) -> bytes:
    text = "".join(
        ch
        for ch in text
        if ch in "\t\n\r" or (" " <= ch and ch not in "\ufffe\uffff" and not "\ud800" <= ch <= "\udfff")
    )
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


@st.composite
def text_mutated_feed(draw) -> bytes:
    """A real sample feed with escaped text spliced into its text nodes (still well-formed XML)."""
    body = bytearray(draw(st.sampled_from(REAL)))
    root = re.search(rb"<[^?!]", body)
    assert root is not None
    for _ in range(draw(st.integers(1, 8))):
        # Inside the root element only: text before it (after <?xml ...?>) or after its end
        # tag is not well-formed.
        end = bytes(body).rindex(b"</")
        gaps = [at + 1 for at in range(root.start(), end) if body[at] == ord(">") and body[at + 1 : at + 2] != b"<"]
        at = draw(st.sampled_from(gaps))
        body[at:at] = _escape(draw(TEXT_PIECES))
    return bytes(body)


@settings(FUZZ, max_examples=60)
@given(body=text_mutated_feed())
def test_text_mutations_keep_both_readers_in_agreement(body):
    fast = parse_feed(
        body,
        feed="fuzz",
        source="Fuzz",
        url="https://x.example/feed",
        content_type="application/rss+xml",
        now=NOW,
        reader="lxml",
    )
    reference = parse_feed(
        body,
        feed="fuzz",
        source="Fuzz",
        url="https://x.example/feed",
        content_type="application/rss+xml",
        now=NOW,
        reader="feedparser",
    )
    assert (fast.title, fast.items, fast.warning) == (reference.title, reference.items, reference.warning)
