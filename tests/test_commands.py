"""The command core: every command, every bad input, and that bad input changes nothing."""

import asyncio
from pathlib import Path

import pytest
from polledapp import app_on_a_copy, polled_database

from botsvc.chat.commands import MAX_INPUT, USAGE, UsageError, parse
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.ingest.feedcheck import FeedCheckError, check_address, forbidden_address
from botsvc.ingest.fetch import UNREACHABLE
from botsvc.models import CommandContext
from botsvc.store.searchtext import fts_query

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()
MANAGER = CommandContext(platform="slack", channel="C1", workspace="T1", user="U1", can_manage=True)
VISITOR = CommandContext(platform="slack", channel="C1", workspace="T1", user="U2", can_manage=False)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def polled(request, tmp_path_factory):
    """Every command runs on both databases."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    return polled_database(tmp_path_factory.mktemp("cmd"), server), server


@pytest.fixture
def app(polled, tmp_path):
    yield from app_on_a_copy(polled[0], tmp_path, polled[1])


def run(app, text, ctx=MANAGER):
    return asyncio.run(app.commands().run(text, ctx))


def state(app):
    subs = [(s.platform, s.channel, s.topic, str(s.mode)) for s in all_subscriptions(app.store)]
    feeds = app.store.query("SELECT name, url, origin FROM feeds ORDER BY name")
    return subs, feeds


def test_parse_splits_name_args_and_share():
    assert parse("search gsomia share").share and parse("search gsomia share").args == ["gsomia"]
    assert parse("").name == "help"
    assert not parse("subscribe share").share  # share only for read commands
    # Quotes keep a last word "share" a search word: "market share" is searched, privately.
    quoted = parse('search "market share"')
    assert not quoted.share and fts_query(" ".join(quoted.args)) == '"market" "share"'
    with pytest.raises(UsageError):
        parse("x" * (MAX_INPUT + 1))


def test_help_lists_every_command(app):
    reply = run(app, "help")
    assert reply.ok and len(reply.lines) == len(USAGE)


def test_search_gsomia_finds_the_seeded_event(app):
    reply = run(app, "search gsomia")
    assert reply.ok and reply.ephemeral
    assert "GSOMIA" in reply.lines[0].text and "archive" in reply.lines[0].text
    assert run(app, "search gsomia share").ephemeral is False


def test_search_dates_filter_events(app):
    later = run(app, "search gsomia since:2019-11-01")
    assert later.ok and all("Nov 2019" in line.text for line in later.lines)
    earlier = run(app, "search gsomia until:2019-09-01")
    assert earlier.ok and all("Nov 2019" not in line.text for line in earlier.lines)


def test_event_timeline_lists_reports_in_order(app):
    event_id = int(run(app, "search suspends GSOMIA notice").lines[0].text.split()[0].lstrip("#"))
    reply = run(app, f"event {event_id}")
    assert reply.ok and reply.lines[0].text.startswith("first report:")
    assert all(line.text.startswith("then:") for line in reply.lines[1:]) and len(reply.lines) >= 2
    assert all(line.link and line.link.startswith("https://") for line in reply.lines)


def test_recent_uses_the_channels_topics(app):
    reply = run(app, "recent 3")
    assert reply.ok and len(reply.lines) == 3


def test_feeds_show_health(app):
    reply = run(app, "feeds")
    assert reply.ok and len(reply.lines) == 5 and all("OK" in line.text for line in reply.lines)


def test_subscribe_resubscribe_list_and_unsubscribe(app):
    assert run(app, "subscribe").ok
    again = run(app, "subscribe japan-korea daily 09:00 Asia/Seoul")
    assert again.ok and "Updated" in again.title and again.ephemeral
    listing = run(app, "subscriptions")
    assert [line.text for line in listing.lines] == ["japan-korea: daily 09:00 Asia/Seoul"]
    assert run(app, "unsubscribe").ok
    assert run(app, "subscriptions").title.startswith("This channel has no subscriptions")


def test_managing_commands_are_refused_to_others(app):
    before = state(app)
    for text in ("subscribe", "unsubscribe", "feed add https://example.org/rss", "feed remove X"):
        reply = run(app, text, VISITOR)
        assert not reply.ok and "only people who manage this channel" in reply.title
    assert state(app) == before


BAD = [
    ("frobnicate", "unknown command"),
    ("subscribe nosuchtopic", "unknown topic"),
    ("subscribe daily 25:00", "not a time of day"),
    ("subscribe daily 09:00 Mars/Olympus", "unknown time zone"),
    ("subscribe weekly", "unknown topic"),
    ("unsubscribe japan-korea extra", "unexpected"),
    ("search", "give some words"),
    ('search   "*()', "give some words"),
    ("search gsomia since:yesterday", "since: expected a date"),
    ("search gsomia since:2019-12-01 until:2019-01-01", "since: is after until:"),
    ("event", "give one event id"),
    ("event abc", "give one event id"),
    ("event 99999", "there is no event 99999"),
    ("event 1; DROP TABLE events", "give one event id"),
    ("recent many", "recent takes one number"),
    ("recent 500", "between 1 and"),
    ("feeds extra", "feeds takes no arguments"),
    ("feed", "expected `feed add"),
    ("feed remove Nope", "there is no feed named"),
    ("subscriptions now", "takes no arguments"),
    ("search " + "x" * MAX_INPUT, "too long"),
]


@pytest.mark.parametrize("text,problem", BAD, ids=[b[0][:30] for b in BAD])
def test_bad_input_gets_usage_and_changes_nothing(app, text, problem):
    before = state(app)
    reply = run(app, text)
    assert not reply.ok and problem in reply.title and "usage:" in reply.title
    assert reply.lines and all(line.text.startswith("/news ") for line in reply.lines)
    assert state(app) == before


def test_fts_syntax_in_a_query_is_plain_text(app):
    for text in ('search gsomia" OR "*', "search NEAR(gsomia pact)", "search gsomia AND -pact", "search 'gsomia'"):
        reply = run(app, text)
        assert reply.ok or "No events match" in reply.title


def test_an_unexpected_failure_is_an_apology_not_a_traceback(app, monkeypatch, caplog):
    import botsvc.chat.commands as commands

    monkeypatch.setattr(commands, "search_events", lambda *a, **k: 1 / 0)
    reply = run(app, "search gsomia")
    assert not reply.ok and "failed on our side" in reply.title and "Traceback" not in reply.as_text()
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize(
    "address,reason",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.9", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("fd00:ec2::254", "metadata"),
    ],
)
def test_internal_addresses_are_forbidden(address, reason):
    assert reason in forbidden_address(address)


def test_public_address_is_allowed():
    assert forbidden_address("93.184.216.34") is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/rss",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://localhost/rss",
        "http://127.0.0.1:8080/rss",
        "http://[::1]/rss",
    ],
)
def test_feed_addresses_that_are_refused(url, monkeypatch):
    monkeypatch.delenv("BOTSVC_ALLOW_PRIVATE_FEEDS", raising=False)
    with pytest.raises(FeedCheckError):
        check_address(url)


def test_feed_add_refuses_loopback_without_the_test_setting(app, feed_server, monkeypatch):
    monkeypatch.delenv("BOTSVC_ALLOW_PRIVATE_FEEDS", raising=False)
    url = feed_server.static("/rss.xml", FEED)
    before = state(app)
    reply = run(app, f"feed add {url}")
    assert not reply.ok and reply.title == f"Not added: {UNREACHABLE}."
    assert state(app) == before and feed_server.requests_to("/rss.xml") == []


def test_feed_add_fetches_once_then_saves_and_remove_deletes(app, feed_server, monkeypatch):
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    url = feed_server.static("/rss.xml", FEED)
    reply = run(app, f"feed add {url} Loopback Wire")
    assert reply.ok, reply.title
    assert len(feed_server.requests_to("/rss.xml")) == 1
    assert ("Loopback Wire", url, "chat") in [(r["name"], r["url"], r["origin"]) for r in state(app)[1]]
    assert any(t.url == url for t in app.targets())
    assert not run(app, f"feed add {url}").ok  # already polled
    assert run(app, "feed remove Loopback Wire").ok
    assert all(t.url != url for t in app.targets())
    assert not run(app, "feed remove Seoul Wire").ok  # from the config file


def test_feed_add_refuses_what_is_not_a_feed(app, feed_server, monkeypatch):
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    page = feed_server.static("/page.html", b"<html><body>hello</body></html>", content_type="text/html")
    missing = feed_server.url("/missing.xml")
    before = state(app)
    assert "not a readable RSS or Atom feed" in run(app, f"feed add {page}").title
    assert run(app, f"feed add {missing}").title == f"Not added: {UNREACHABLE}."
    assert state(app) == before


def test_event_times_are_in_the_channels_digest_zone(app):
    event_id = int(run(app, "search suspends GSOMIA notice").lines[0].text.split()[0].lstrip("#"))
    assert " UTC · " in run(app, f"event {event_id}").lines[0].text
    assert run(app, "subscribe daily 09:00 Asia/Seoul").ok
    seoul = run(app, f"event {event_id}").lines[0].text
    assert " KST · " in seoul and "UTC" not in seoul


def test_management_answers_and_filter_list_are_visible_only_to_the_caller(app, monkeypatch):
    """The README promises every answer goes only to the caller unless `share` is added."""
    said = [
        run(app, text)
        for text in (
            "subscribe",
            "filter add gsomia",
            "filter list",
            "filter remove gsomia",
            "pause",
            "resume",
            "quiet 22:00-07:00 Asia/Seoul",
            "quiet off",
            "updates channel",
            "template set header Morning",
            "template show",
            "feed remove nosuchfeed",
            "unsubscribe",
        )
    ]
    assert all(reply.ephemeral for reply in said), [r.title for r in said if not r.ephemeral]
    assert sum(reply.ok for reply in said) == 12
