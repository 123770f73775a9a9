"""A poll cycle over HTTP on loopback: conditional GET, failures isolated and recorded."""

import asyncio
from pathlib import Path

from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"


def cycle(app, targets):
    return asyncio.run(run_cycle(app.store, app.processor, targets, app.policy))


def test_second_cycle_is_answered_304_and_parses_nothing(tmp_path, feed_server):
    url = feed_server.static("/seoul.xml", (FEEDS / "seoul-wire.xml").read_bytes())
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "c.db")
    target = FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")

    first = cycle(app, [target])
    assert first.feeds[0].status == "ok" and len(first.outcomes) == 12
    state = app.store.feed_state("Seoul Wire")
    assert state.etag and state.last_success_at and state.items_seen == 12

    second = cycle(app, [target])
    assert second.feeds[0].status == "not_modified" and second.outcomes == []
    sent = feed_server.requests_to("/seoul.xml")[-1]
    assert sent.header("If-None-Match") == state.etag
    assert sent.header("User-Agent").startswith("botsvc/")
    app.close()


def test_failing_feeds_are_recorded_and_the_cycle_goes_on(tmp_path, feed_server):
    good = feed_server.static("/tokyo.xml", (FEEDS / "tokyo-ledger.xml").read_bytes())
    broken = feed_server.status("/broken.xml", 500)
    html = feed_server.static("/page.html", b"<html><body>Not a feed</body></html>", content_type="text/html")
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "f.db")
    targets = [
        FeedTarget(name="broken", url=broken),
        FeedTarget(name="good", url=good),
        FeedTarget(name="html", url=html),
    ]

    report = cycle(app, targets)
    by_name = {f.target.name: f for f in report.feeds}
    assert by_name["good"].status == "ok" and len(by_name["good"].outcomes) == 12
    assert by_name["broken"].status == "error" and "HTTP 500" in by_name["broken"].error
    assert by_name["html"].status == "error" and "not a readable feed" in by_name["html"].error

    state = app.store.feed_state("broken")
    assert state.consecutive_failures == 1 and "500" in state.last_error and state.last_success_at is None
    cycle(app, targets)
    assert app.store.feed_state("broken").consecutive_failures == 2
    assert app.store.feed_state("good").consecutive_failures == 0
    app.close()


def test_malformed_xml_with_items_is_read_with_a_warning(tmp_path, feed_server):
    body = (FEEDS / "seoul-wire.xml").read_bytes().replace(b"</channel>", b"<broken></channel>")
    url = feed_server.static("/bad.xml", body)
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "m.db")
    report = cycle(app, [FeedTarget(name="bad", url=url)])
    assert report.feeds[0].status == "ok" and report.feeds[0].warning
    assert len(report.outcomes) == 12
    app.close()
