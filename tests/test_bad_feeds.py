"""Hostile and broken feeds: bounded, isolated, recorded; the other feeds' cycle goes on."""

import asyncio
import socket
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fakedns import FakeDNS, LoopbackOnly

from botsvc.ingest.fetch import FetchPolicy, fetch_feed, make_client
from botsvc.ingest.parse import READERS, FeedParseError, parse_feed
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle

ROOT = Path(__file__).resolve().parents[1]
GOOD = (ROOT / "examples" / "feeds" / "tokyo-ledger.xml").read_bytes()
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
# The readers that must read a body: the fast path with feedparser behind it, and feedparser
# alone. The fast path alone ("lxml") may decline instead (FeedParseError), never do worse.
READING = ["auto", "feedparser"]


def rss(items: str, head: str = "", encoding: str = "utf-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>{head}<rss version="2.0"><channel><title>T</title>'
        f"{items}</channel></rss>"
    ).encode(encoding)


LAUGHS = (
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi"))
    + "]>"
)
ATTACKS = {
    "billion laughs": (LAUGHS, "<item><title>&i;</title><guid>1</guid></item>"),
    "quadratic blowup": (
        '<!DOCTYPE rss [<!ENTITY a "' + "x" * 100_000 + '">]>',
        "<item><title>" + "&a;" * 5000 + "</title><guid>1</guid></item>",
    ),
    "external entity (XXE)": (
        '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        "<item><title>&x;</title><description>&x;</description><guid>1</guid></item>",
    ),
    "parameter entity": (
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
        "<item><title>plain</title><guid>1</guid></item>",
    ),
}


def measured(call):
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, time.monotonic() - started, peak


def read_or_declined(body: bytes, reader: str, **kwargs):
    """``parse_feed``; None when the fast path alone declines the body."""
    try:
        return parse_feed(body, feed="t", source="T", now=NOW, reader=reader, **kwargs)
    except FeedParseError as exc:
        if reader == "lxml" and "fast path declined" in str(exc):
            return None
        raise


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", ATTACKS)
def test_xml_attacks_expand_nothing_read_nothing_and_stay_bounded(name, reader):
    head, items = ATTACKS[name]
    parsed, seconds, peak = measured(lambda: read_or_declined(rss(items, head), reader))
    assert seconds < 2 and peak < 50e6
    if parsed is None:
        return
    assert "DOCTYPE removed" in parsed.warning
    for item in parsed.items:
        text = item.title + item.summary + item.body
        assert "root:" not in text and "aaaaaaaaaa" not in text and "xxxxxxxxxx" not in text


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>' + b"<!DOCTYPE rss [" * 70_000 + b"<rss/>",  # once took minutes: every opener searched
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"x" * (2 << 20) + b'">]><rss/>',
    ],
)
@pytest.mark.parametrize("reader", READERS)
def test_an_unterminated_or_oversized_doctype_is_a_quick_clear_error(body, reader):
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="DOCTYPE declaration that is unterminated or too long"):
        parse_feed(body, feed="t", now=NOW, reader=reader)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("reader", READING)
def test_an_rss_091_doctype_is_removed_but_its_html_entities_still_read(reader):
    # Netscape's RSS 0.91 DTD is the usual legitimate DOCTYPE; feeds using it rely on the
    # HTML entities it declares, which the lenient parser still knows.
    body = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//'
        b'DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91">'
        b"<channel><title>Caf&eacute; News</title><link>http://x.example/</link><item>"
        b"<title>Seoul&nbsp;ends GSOMIA &mdash; caf&eacute; &amp; more</title><link>http://x.example/1</link>"
        b"<description>Tokyo&rsquo;s reply</description></item></channel></rss>"
    )
    parsed = parse_feed(body, feed="t", now=NOW, reader=reader)
    assert parsed.title == "Caf\u00e9 News"
    assert [(i.title, i.summary) for i in parsed.items] == [
        ("Seoul ends GSOMIA \u2014 caf\u00e9 & more", "Tokyo\u2019s reply")
    ]


@pytest.mark.parametrize("reader", READERS)
def test_an_external_dtd_is_never_fetched(feed_server, reader):
    dtd = feed_server.static("/evil.dtd", b'<!ENTITY x "pwned">', content_type="application/xml-dtd")
    # After the DOCTYPE goes, lxml is also handed one it would otherwise resolve or fetch.
    later = f'<!DOCTYPE rss SYSTEM "{dtd}">'
    for body in (
        rss("<item><title>&x;</title><guid>1</guid></item>", later),
        rss("<item><title>a</title><guid>1</guid></item>", "<!--" + "x" * 5000 + "-->" + later),
    ):
        parsed = read_or_declined(body, reader)
        assert all("pwned" not in item.title for item in (parsed.items if parsed else []))
    assert feed_server.requests_to("/evil.dtd") == []


def test_attacks_in_a_cycle_are_recorded_and_the_good_feed_is_stored(tmp_path, feed_server):
    targets = [FeedTarget(name="good", url=feed_server.static("/good.xml", GOOD), source="good")]
    for n, (head, items) in enumerate(ATTACKS.values()):
        targets.append(FeedTarget(name=f"evil{n}", url=feed_server.static(f"/evil{n}.xml", rss(items, head))))
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "x.db")
    report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, every_outcome=True))
    by_name = {f.target.name: f for f in report.feeds}
    assert by_name["good"].status == "ok" and len(by_name["good"].outcomes) == 12
    for n in range(len(ATTACKS)):
        assert "DOCTYPE removed" in (by_name[f"evil{n}"].warning or by_name[f"evil{n}"].error or "")
    stored = " ".join(r["title"] + r["summary"] for r in app.store.query("SELECT title, summary FROM articles"))
    assert "root:" not in stored
    app.close()


@pytest.mark.parametrize(
    "body,encoding,expected",
    [
        (
            rss("<item><title>日本と韓国の輸出規制</title><guid>1</guid></item>", encoding="shift_jis"),
            None,
            "日本と韓国の輸出規制",
        ),
        (
            rss("<item><title>한일 지소미아 종료</title><guid>1</guid></item>", encoding="euc-kr"),
            None,
            "한일 지소미아 종료",
        ),
        (rss("<item><title>UTF-16 한국</title><guid>1</guid></item>", encoding="utf-16"), None, "UTF-16 한국"),
        (b"\xef\xbb\xbf" + rss("<item><title>BOM Café</title><guid>1</guid></item>"), None, "BOM Café"),
        (rss("<item><title>Café 日本</title><guid>1</guid></item>").replace(b'"utf-8"', b'"ISO-8859-1"'), None, "Café"),
        (
            rss("<item><title>Café</title><guid>1</guid></item>", encoding="cp1252").replace(b'"cp1252"', b'"utf-8"'),
            None,
            "Caf",
        ),
        (rss("<item><title>Seoul</title><guid>1</guid></item>"), "text/xml; charset=EUC-KR", "Seoul"),
    ],
)
@pytest.mark.parametrize("reader", READING)
def test_wrong_or_mixed_encodings_give_readable_titles(body, encoding, expected, reader):
    parsed = parse_feed(body, feed="t", source="T", content_type=encoding, now=NOW, reader=reader)
    assert len(parsed.items) == 1 and expected in parsed.items[0].title


@pytest.mark.parametrize("reader", READING)
def test_invalid_utf8_is_read_with_a_warning(reader):
    parsed = parse_feed(
        rss("<item><title>bad</title><guid>1</guid></item>").replace(b"bad", b"bad \xff\xfe"),
        feed="t",
        source="T",
        now=NOW,
        reader=reader,
    )
    assert parsed.items and parsed.items[0].title.startswith("bad")


@pytest.mark.parametrize("reader", READING)
def test_references_to_forbidden_characters_cost_one_character_not_the_feed(reader):
    # A lone surrogate once crashed feedparser's lenient parser and lost every item.
    parsed = parse_feed(
        rss(
            "<item><title>A &#xD800;B &#0; C &#99999999999; &#x1F600; "
            f"&#{'9' * 25}; &#x{'F' * 20}; &#x00000041;</title><guid>1</guid></item>"
            "<item><title>second & broken</title><guid>2</guid></item>"
        ),
        feed="t",
        source="T",
        now=NOW,
        reader=reader,
    )
    assert [item.guid for item in parsed.items] == ["1", "2"]
    assert parsed.items[0].title.startswith("A \ufffdB") and "\U0001f600" in parsed.items[0].title
    assert parsed.items[0].title.endswith("\U0001f600 \ufffd \ufffd A")  # huge numbers too; zero-padded kept


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"<html><head><title>Hi</title></head><body><p>not a feed</p></body></html>", "text/html"),
        (b"", None),
        (b'{"items": [{"title": "json"}]}', "application/json"),
        (bytes(range(256)) * 40, "application/octet-stream"),
    ],
)
@pytest.mark.parametrize("reader", READERS)
def test_what_is_not_a_feed_is_a_clear_error(body, content_type, reader):
    with pytest.raises(FeedParseError, match="not a readable feed"):
        parse_feed(body, feed="t", source="T", content_type=content_type, now=NOW, reader=reader)


@pytest.mark.parametrize("reader", READERS)
def test_an_empty_feed_is_fine(reader):
    parsed = parse_feed(rss(""), feed="t", source="T", now=NOW, reader=reader)
    assert parsed.items == [] and parsed.warning is None


@pytest.mark.parametrize("reader", READERS)
def test_items_missing_guid_link_title_or_date_get_fallbacks(reader):
    parsed = parse_feed(
        rss(
            "<item><title>no guid</title><link>https://x.example/a</link></item>"
            "<item><title>no link</title><guid>g2</guid></item>"
            "<item><description>only a summary here</description><guid>g3</guid></item>"
            "<item><guid>g4</guid></item>"
        ),
        feed="t",
        source="T",
        now=NOW,
        reader=reader,
    )
    titles = [item.title for item in parsed.items]
    assert titles == ["no guid", "no link", "only a summary here"]  # the empty item is skipped
    assert parsed.items[0].guid == "https://x.example/a" and parsed.items[1].link == ""
    assert all(item.guid for item in parsed.items) and all(item.published is None for item in parsed.items)


@pytest.mark.parametrize("reader", READERS)
def test_placeholder_and_future_dates_are_dropped_and_estimated_from_neighbours(reader):
    parsed = parse_feed(
        rss(
            "<item><title>future</title><guid>1</guid><pubDate>Fri, 01 Jan 2099 00:00:00 GMT</pubDate></item>"
            "<item><title>real</title><guid>2</guid><pubDate>Wed, 31 Dec 2025 12:00:00 GMT</pubDate></item>"
            "<item><title>epoch</title><guid>3</guid><pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate></item>"
            "<item><title>skewed</title><guid>4</guid><pubDate>Thu, 01 Jan 2026 12:00:00 GMT</pubDate></item>"
        ),
        feed="t",
        source="T",
        now=NOW,
        reader=reader,
    )
    future, real, epoch, skewed = parsed.items
    assert future.published is None and epoch.published is None
    assert future.event_time == real.published and epoch.event_time == skewed.published
    assert skewed.published == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)  # within a day: clock skew


def test_a_10000_item_feed_is_parsed_and_stored_once(tmp_path, feed_server):
    items = "".join(
        f"<item><title>GSOMIA Japan South Korea story {n}</title><guid>g{n}</guid>"
        f"<link>https://big.example/{n}</link></item>"
        for n in range(10_000)
    )
    url = feed_server.static("/big.xml", rss(items))
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "big.db")
    target = FeedTarget(name="big", url=url, source="Big")
    started = time.monotonic()
    first = asyncio.run(run_cycle(app.store, app.processor, [target], app.policy, every_outcome=True))
    assert time.monotonic() - started < 60
    assert first.feeds[0].status == "ok" and len(first.outcomes) == 10_000
    assert (
        app.store.db.execute("SELECT count(DISTINCT guid) FROM articles WHERE feed = 'big'").fetchone()[0]
        == app.store.db.execute("SELECT count(*) FROM articles WHERE feed = 'big'").fetchone()[0]
    )
    feed_server.static("/big.xml", rss(items), etag=False, last_modified=False)  # no 304 this time
    second = asyncio.run(run_cycle(app.store, app.processor, [target], app.policy, every_outcome=True))
    assert {o.decision for o in second.outcomes} == {"duplicate"}
    app.close()


def test_duplicate_guids_inside_one_feed_are_stored_once(tmp_path, feed_server):
    body = rss("<item><title>Seoul ends GSOMIA with Japan</title><guid>same</guid></item>" * 3)
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "d.db")
    report = asyncio.run(
        run_cycle(app.store, app.processor, [FeedTarget(name="d", url=feed_server.static("/d.xml", body))], app.policy)
    )  # the stored item is listed; its repeats are counted
    assert [o.decision for o in report.outcomes].count("new") == 1 and report.count("duplicate") == 2
    assert app.store.counts()["articles"] == 1
    app.close()


def test_a_redirect_from_a_public_host_to_the_metadata_address_is_refused(feed_server, monkeypatch):
    dns = FakeDNS({"feeds.example.org": [["127.0.0.1"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    network = LoopbackOnly()
    feed_server.redirect("/rss", "http://169.254.169.254/latest/meta-data/")

    async def go():
        async with make_client(FetchPolicy(), socket_factory=network) as client:
            return await fetch_feed(client, f"http://feeds.example.org:{feed_server.port}/rss", policy=FetchPolicy())

    result = asyncio.run(go())
    assert result.status == "error" and "refused: a cloud metadata address" in result.error
    assert [r.path for r in feed_server.requests] == ["/rss"]
    assert network.dialed == [("127.0.0.1", feed_server.port)] and network.stopped == []
