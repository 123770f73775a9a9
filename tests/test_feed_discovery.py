"""`/news feed add` given a web page, and `/news feed preview`: through the real command core,
against a loopback server, with the address checks on (only the test server's endpoint allowed)."""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from bigfeed import gsomia_feed
from feedserver import FeedServer
from polledapp import app_on_a_copy, polled_database

from botsvc.chat.commands import CommandCore
from botsvc.ingest.discover import candidates, feed_links, looks_like_html
from botsvc.ingest.feedcheck import MAX_REQUESTS, NO_FEED_ON_PAGE
from botsvc.ingest.fetch import UNREACHABLE, FetchPolicy
from botsvc.models import CommandContext
from botsvc.store.turn import WriteTurn

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()
HTML = "text/html; charset=utf-8"
MANAGER = CommandContext(platform="slack", channel="C1", workspace="T1", user="U1", can_manage=True)
VISITOR = CommandContext(platform="slack", channel="C1", workspace="T1", user="U2", can_manage=False)

FRESH = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Times</title><link>https://harbour.example.org/</link>
<item><title>Seoul and Tokyo agree to restore GSOMIA intelligence sharing in full</title>
<link>https://harbour.example.org/2025/gsomia-restored</link><pubDate>Mon, 03 Mar 2025 09:00:00 +0000</pubDate>
<description>South Korea and Japan said the GSOMIA military intelligence pact is back in force.</description>
</item>
<item><title>City council approves new cycling lanes along the river</title>
<link>https://harbour.example.org/2025/cycling</link><pubDate>Mon, 03 Mar 2025 08:00:00 +0000</pubDate>
<description>The lanes open in spring.</description></item>
<item><title>Six hours before deadline, Seoul puts GSOMIA termination on hold</title>
<link>https://seoulwire.example.org/politics/2019/11/22/gsomia-termination-suspended</link>
<pubDate>Fri, 22 Nov 2019 09:25:00 +0000</pubDate>
<description>The presidential office said Friday it is freezing the August notice.</description></item>
</channel></rss>"""


def page(head: str = "", body: str = "<p>Welcome</p>") -> bytes:
    return f"<!DOCTYPE html><html><head><title>Site</title>{head}</head><body>{body}</body></html>".encode()


@pytest.fixture(scope="module")
def polled(tmp_path_factory):
    return polled_database(tmp_path_factory.mktemp("discovery"))


@pytest.fixture
def app(polled, tmp_path):
    yield from app_on_a_copy(polled, tmp_path)


@pytest.fixture
def allowed(feed_server, monkeypatch):
    """Only the test server's endpoint passes the address checks."""
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", f"127.0.0.1:{feed_server.port}")
    return feed_server


def run(app, text, ctx=MANAGER):
    return asyncio.run(app.commands().run(text, ctx))


def chat_feeds(app):
    return [(r["name"], r["url"]) for r in app.store.query("SELECT name, url FROM feeds WHERE origin = 'chat'")]


def counts(path):
    """Row counts of every table a poll writes, read through a separate connection."""
    with sqlite3.connect(path) as db:
        tables = ("articles", "events", "seen_items", "feeds", "articles_fts", "feed_volume")
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


# -- the HTML side, alone -------------------------------------------------------------


def test_feed_links_resolve_relative_hrefs_and_prefer_rss_and_atom():
    html = page(
        '<link rel="alternate" type="application/rdf+xml" href="/rdf">'
        '<link rel="stylesheet" href="/style.css">'
        '<LINK REL="Alternate" TYPE="application/atom+xml" HREF="atom.xml"/>'
        '<link rel="alternate" type="text/html" href="/en/">'
        '<link rel="alternate" type="application/rss+xml" href="//cdn.example.org/rss?x=1&amp;y=2">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
    )
    assert feed_links(html, "https://example.org/news/index.html") == [
        "https://cdn.example.org/rss?x=1&y=2",
        "https://example.org/news/atom.xml",
        "https://example.org/rdf",
    ]


def test_base_href_is_honoured_and_common_paths_follow_the_links():
    html = page('<base href="https://example.org/blog/"><link rel="alternate" type="application/rss+xml" href="f">')
    found = candidates(html, "https://example.org/")
    assert found[0] == "https://example.org/blog/f"
    assert found[1:] == [
        "https://example.org/feed",
        "https://example.org/rss",
        "https://example.org/rss.xml",
        "https://example.org/feed.xml",
        "https://example.org/atom.xml",
        "https://example.org/index.xml",
    ]


def test_html_is_told_from_feeds():
    assert looks_like_html(page(), None)
    assert looks_like_html(b"<p>hi</p>", "text/html")
    assert not looks_like_html(FEED, "application/rss+xml")


# -- feed add ----------------------------------------------------------------------------


def test_feed_add_follows_the_pages_alternate_link(app, allowed):
    allowed.static("/feeds/main.xml", FEED)
    allowed.static("/atom.xml", b"not reached")
    url = allowed.static(
        "/news/",
        page(
            '<link rel="alternate" type="application/atom+xml" href="/atom.xml">'
            '<link rel="alternate" type="application/rss+xml" href="../feeds/main.xml">'
        ),
        content_type=HTML,
    )
    reply = run(app, f"feed add <{url}>")
    assert reply.ok, reply.title
    feed = allowed.url("/feeds/main.xml")
    assert f"found the feed {feed} on that page" in reply.title and "12 item(s)" in reply.title
    assert ("Seoul Wire | Politics & Diplomacy", feed) in chat_feeds(app)
    assert allowed.requests_to("/atom.xml") == []  # RSS is preferred and worked
    assert any(t.url == feed for t in app.targets())
    # The page or its feed again: already polled.
    assert not run(app, f"feed add {url}").ok
    assert run(app, f"feed add {feed}").title == "That feed is already polled."


def test_feed_add_finds_a_feed_at_a_common_path(app, allowed):
    url = allowed.static("/", page(), content_type=HTML)
    allowed.static("/feed", page("", "still the home page"), content_type=HTML)  # sites that answer every path
    allowed.static("/rss", FRESH)
    reply = run(app, f"feed add {url} Harbour")
    assert reply.ok, reply.title
    assert ("Harbour", allowed.url("/rss")) in chat_feeds(app)
    assert [r.path for r in allowed.requests] == ["/", "/feed", "/rss"]


def test_a_page_without_a_feed_is_refused_within_the_request_budget(app, allowed):
    url = allowed.static(
        "/home",
        page('<link rel="alternate" type="application/rss+xml" href="/broken.xml">'),
        content_type=HTML,
    )
    allowed.static("/broken.xml", b"<rss><channel", content_type="application/rss+xml")
    before = chat_feeds(app), counts(app.store.path)
    reply = run(app, f"feed add {url}")
    assert not reply.ok and reply.title == f"Not added: {NO_FEED_ON_PAGE}."
    assert len(allowed.requests) == MAX_REQUESTS
    assert (chat_feeds(app), counts(app.store.path)) == before


def test_links_to_other_addresses_are_checked_like_the_page(app, allowed):
    with FeedServer() as inside:  # another local port: not allowed, like a service on the bot's LAN
        inside.static("/feed.xml", FEED)
        url = allowed.static(
            "/",
            page(f'<link rel="alternate" type="application/rss+xml" href="{inside.url("/feed.xml")}">'),
            content_type=HTML,
        )
        allowed.static("/atom.xml", FRESH)  # the sixth request: the refused link cost none
        reply = run(app, f"feed add {url}")
        assert reply.ok and allowed.url("/atom.xml") in reply.title
        assert inside.requests == []


def test_non_feed_answers_get_the_generic_lines(app, allowed):
    text = allowed.static("/note.txt", b"just text", content_type="text/plain")
    missing = allowed.url("/nothing-here")
    before = chat_feeds(app)
    assert run(app, f"feed add {text}").title.startswith("Not added: that is not a readable RSS or Atom feed")
    assert run(app, f"feed add {missing}").title == f"Not added: {UNREACHABLE}."
    assert allowed.requests_to("/feed") == []  # not a page: nothing else is tried
    assert chat_feeds(app) == before


# -- preview -----------------------------------------------------------------------------


def test_preview_judges_the_latest_items_and_stores_nothing(app, allowed):
    url = allowed.static(
        "/", page('<link rel="alternate" type="application/rss+xml" href="/rss.xml">'), content_type=HTML
    )
    allowed.static("/rss.xml", FRESH)
    path = app.store.path
    before = counts(path), Path(path).read_bytes()
    book = len(app.events.assigner)
    reply = run(app, f"feed preview {url}")
    assert reply.ok, reply.title
    assert "Harbour Times" in reply.title and "found on that page" in reply.title and "(nothing stored)" in reply.title
    lines = [line.text for line in reply.lines]
    assert len(lines) == 3
    assert lines[0].startswith("new: Seoul and Tokyo agree to restore GSOMIA") and "a new event (matched" in lines[0]
    assert "GSOMIA" in lines[0]
    assert lines[1].startswith("irrelevant: City council") and "no topic rule matched" in lines[1]
    assert lines[2].startswith("duplicate: Six hours before deadline") and "joins event #" in lines[2]
    assert "same link" in lines[2]
    assert (counts(path), Path(path).read_bytes()) == before
    assert chat_feeds(app) == []
    assert len(app.events.assigner) == book  # the bot's own event index never saw them
    # The previewed story is still new to the next real poll.
    again = run(app, f"feed preview {allowed.url('/rss.xml')}")
    assert [line.text for line in again.lines] == lines


def test_preview_of_a_configured_feed_uses_its_name(app, allowed):
    url = allowed.static("/wire.xml", FEED)
    reply = run(app, f"feed preview {url}")
    assert reply.ok and "the latest 5 of 12 item(s)" in reply.title
    assert all(line.text.startswith(("duplicate: ", "irrelevant: ")) for line in reply.lines)


def test_preview_refusals_and_permissions(app, allowed, monkeypatch):
    url = allowed.static("/rss.xml", FRESH)
    assert not run(app, f"feed preview {url}", VISITOR).ok
    assert run(app, f"feed preview {allowed.url('/gone')}").title == f"No preview: {UNREACHABLE}."
    assert "usage" in run(app, "feed preview").title
    monkeypatch.delenv("BOTSVC_ALLOW_PRIVATE_FEEDS")
    allowed.clear_log()
    assert run(app, f"feed preview {url}").title == f"No preview: {UNREACHABLE}."
    assert allowed.requests == []


# -- no wait on the network or a parser with the loop or the write turn held ------------


def test_redirect_hops_count_against_the_request_budget(app, allowed):
    """A page whose every lead redirects several times: six requests in all, not six per lead."""
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="/lead{n}">' for n in range(4))
    url = allowed.static("/home", page(links), content_type=HTML)
    for lead in [f"/lead{n}" for n in range(4)] + ["/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml"]:
        for hop in range(4):
            allowed.redirect(f"{lead}/{hop}" if hop else lead, f"{lead}/{hop + 1}")
    reply = run(app, f"feed add {url}")
    assert not reply.ok
    assert len(allowed.requests) <= MAX_REQUESTS, [r.path for r in allowed.requests]


def test_a_slow_site_gets_one_deadline_for_the_whole_command(app, allowed):
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="/slow{n}.xml">' for n in range(4))
    url = allowed.static("/home", page(links), content_type=HTML)
    for n in range(4):
        allowed.slow(f"/slow{n}.xml", 1.0)
    for path in ("/feed", "/rss"):
        allowed.slow(path, 1.0)
    core = CommandCore(app.store, app.config, policy=FetchPolicy(read_timeout=5.0, total_deadline=1.5))
    started = time.monotonic()
    reply = asyncio.run(core.run(f"feed preview {url}", MANAGER))
    assert time.monotonic() - started < 2.5  # one deadline, not one per request (about 5 s)
    assert reply.title == f"No preview: {UNREACHABLE}."


async def _loop_gap_while(task: asyncio.Task) -> float:
    gap, last = 0.0, time.monotonic()
    while not task.done():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        gap, last = max(gap, now - last), now
    return gap


@pytest.mark.slow
def test_preview_and_add_of_a_big_feed_parse_off_the_event_loop(app, allowed):
    url = allowed.static("/big.xml", gsomia_feed(800_000))  # about a second to parse, each time

    async def timed(text):
        task = asyncio.ensure_future(app.commands().run(text, MANAGER))
        return await _loop_gap_while(task), task.result()

    preview_gap, previewed = asyncio.run(timed(f"feed preview {url}"))
    add_gap, added = asyncio.run(timed(f"feed add {url} Big"))
    assert previewed.ok and added.ok, (previewed.title, added.title)
    assert preview_gap < 0.5 and add_gap < 0.5, (preview_gap, add_gap)  # parsing takes seconds


def test_a_slow_preview_never_holds_up_another_channels_subscribe(app, allowed):
    url = allowed.static("/home", page('<link rel="alternate" type="application/rss+xml" href="/s.xml">'))
    allowed.slow("/s.xml", 1.5, FRESH)
    turn = WriteTurn()
    core = CommandCore(app.store, app.config, turn=turn)
    elsewhere = CommandContext(platform="slack", channel="C2", workspace="T1", user="U1", can_manage=True)

    async def main():
        previewing = asyncio.ensure_future(core.run(f"feed preview {url}", MANAGER))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        subscribed = await core.run("subscribe", elsewhere)
        waited = time.monotonic() - started
        assert not previewing.done()
        return waited, subscribed, await previewing

    waited, subscribed, previewed = asyncio.run(main())
    assert subscribed.ok and previewed.ok, (subscribed.title, previewed.title)
    assert waited < 0.5
