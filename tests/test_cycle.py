"""A poll cycle over HTTP on loopback: conditional GET, failures isolated and recorded."""

import asyncio
import time
from pathlib import Path

import pytest

from botsvc.service import cycle as cycle_module
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"


def cycle(app, targets):
    return asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, every_outcome=True))


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


def _rss(title: str, *items: tuple[str, str, str, str]) -> bytes:
    entries = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><link>https://{title.lower()}.example/{guid}</link><title>{headline}</title>'
        f"<description>{lead}</description><pubDate>{date}</pubDate></item>"
        for guid, headline, lead, date in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}</channel></rss>'.encode()


@pytest.mark.parametrize("chunk", [None, 1], ids=["one-call", "item-by-item"])
def test_items_are_judged_in_order_of_publication_across_feeds(tmp_path, feed_server, monkeypatch, chunk):
    """A later report read first (first feed polled) must not open an event before the earlier ones,
    also when the judging takes the cycle's items a chunk at a time."""
    if chunk:
        monkeypatch.setattr(cycle_module, "JUDGE_CHUNK", chunk)
    radar = (
        "South Korean destroyer locked fire-control radar on Japanese patrol plane, Iwaya says",
        "Japan's defence minister Iwaya protested that a South Korean navy destroyer directed its fire-control "
        "radar at a Maritime Self-Defense Force P-1 patrol aircraft over the Sea of Japan.",
    )
    late = feed_server.static(
        "/late.xml",
        _rss(
            "Late", ("l1", radar[0] + ", Seoul denies", radar[1] + " Seoul denies it.", "Sun, 23 Dec 2018 20:00:00 GMT")
        ),
    )
    early = feed_server.static(
        "/early.xml",
        _rss(
            "Early",
            ("e2", radar[0] + " again", radar[1] + " Tokyo repeated it.", "Sat, 22 Dec 2018 10:00:00 GMT"),
            ("e1", radar[0], radar[1], "Fri, 21 Dec 2018 10:00:00 GMT"),
        ),
    )
    app = open_app(ROOT / "feeds.toml", tmp_path / "order.db")
    report = cycle(app, [FeedTarget(name="Late", url=late), FeedTarget(name="Early", url=early)])
    by_guid = {o.item.guid: o for o in report.outcomes}
    assert [f.target.name for f in report.feeds] == ["Late", "Early"]  # reports stay in target order
    assert by_guid["e1"].decision == "new"  # the earliest report opens the event ...
    assert by_guid["e2"].decision == by_guid["l1"].decision == "duplicate"  # ... and the later ones join it
    assert {o.event_id for o in report.outcomes} == {by_guid["e1"].event_id}
    assert report.new_event_ids == [by_guid["e1"].event_id]
    # Per-feed state is kept as before: each feed's ETag and count of items.
    assert app.store.feed_state("Late").items_seen == 1 and app.store.feed_state("Early").items_seen == 2
    assert app.store.feed_state("Late").etag and app.store.feed_state("Early").etag
    app.close()


def test_an_item_judging_cannot_take_fails_its_feed_alone(tmp_path, feed_server, monkeypatch):
    good = feed_server.static("/tokyo.xml", (FEEDS / "tokyo-ledger.xml").read_bytes())
    bad = feed_server.static(
        "/bad.xml", _rss("Bad", ("p1", "POISON Japan South Korea GSOMIA", "lead", "Fri, 21 Dec 2018 10:00:00 GMT"))
    )
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "p.db")
    match = app.processor.relevance.match

    def fragile(item, topics=None):
        if item.title.startswith("POISON"):
            raise RuntimeError("cannot judge this")
        return match(item, topics)

    monkeypatch.setattr(app.processor.relevance, "match", fragile)
    report = cycle(app, [FeedTarget(name="bad", url=bad), FeedTarget(name="good", url=good)])
    by_name = {f.target.name: f for f in report.feeds}
    assert by_name["bad"].status == "error" and by_name["bad"].error == "judging failed: RuntimeError"
    assert by_name["good"].status == "ok" and len(by_name["good"].outcomes) == 12
    assert app.store.feed_state("good").etag and app.store.feed_state("good").consecutive_failures == 0
    bad_state = app.store.feed_state("bad")
    assert bad_state.etag is None and bad_state.consecutive_failures == 1
    assert app.store.counts()["articles"] >= 1
    app.close()


def test_unchanged_feeds_are_recorded_together_in_one_short_transaction(tmp_path, feed_server):
    """A warm cycle (every feed answers 304) writes one transaction, whatever the number of feeds."""
    body = (FEEDS / "seoul-wire.xml").read_bytes()
    targets = [FeedTarget(name=f"wire{n}", url=feed_server.static(f"/w{n}.xml", body)) for n in range(6)]
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "w.db")
    cycle(app, targets)  # first poll: stores the ETags
    app.store.db.execute("UPDATE feed_volume SET polls = 3, average = 4.0 WHERE feed = 'wire0'")
    etags = {t.name: app.store.feed_state(t.name).etag for t in targets}
    statements: list[str] = []
    app.store.db.conn.set_trace_callback(statements.append)

    report = cycle(app, targets)
    app.store.db.conn.set_trace_callback(None)
    assert [f.status for f in report.feeds] == ["not_modified"] * 6 and report.outcomes == []
    assert sum(1 for sql in statements if sql.startswith("BEGIN")) == 1
    for target in targets:
        state = app.store.feed_state(target.name)
        assert state.etag == etags[target.name] and state.consecutive_failures == 0
        assert state.last_polled_at == state.last_success_at and state.items_seen == 12
    volume = app.store.query("SELECT polls, average FROM feed_volume WHERE feed = 'wire0'")[0]
    assert volume == {"polls": 4, "average": 3.0}  # a poll that brought nothing new, as record_poll counts it
    assert app.store.query("SELECT polls FROM feed_volume WHERE feed = 'wire1'")[0]["polls"] == 1
    app.close()


def test_the_event_index_is_read_before_the_judging_transaction_and_not_at_all_when_nothing_changed(
    tmp_path, feed_server
):
    """Reading every stored fingerprint takes seconds with a large archive: never under the write lock."""
    url = feed_server.static("/seoul.xml", (FEEDS / "seoul-wire.xml").read_bytes())
    target = FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")
    path = tmp_path / "i.db"
    for expect_index in (True, False):  # a first poll judges; the next one is answered 304
        app = open_app(ROOT / "examples" / "feeds.toml", path)
        statements: list[str] = []
        app.store.db.conn.set_trace_callback(statements.append)
        cycle(app, [target])
        app.store.db.conn.set_trace_callback(None)
        index = [n for n, sql in enumerate(statements) if sql.startswith("SELECT id, event_id, fingerprint")]
        begins = [n for n, sql in enumerate(statements) if sql.startswith("BEGIN")]
        assert begins
        if expect_index:
            assert index and index[0] < begins[0]
        else:
            assert index == []
        app.close()


def test_judging_in_chunks_decides_as_one_call_and_hands_over_at_most_a_chunk(tmp_path, feed_server, monkeypatch):
    """A big cycle is judged a chunk at a time (bounded memory) with the same decisions as all at once."""
    urls = [
        feed_server.static(f"/{name}.xml", (FEEDS / f"{name}.xml").read_bytes())
        for name in ("seoul-wire", "tokyo-ledger")
    ]
    targets = [FeedTarget(name=f"feed{n}", url=url) for n, url in enumerate(urls)]

    def decisions(path, chunk):
        app = open_app(ROOT / "examples" / "feeds.toml", path)
        sizes: list[int] = []
        process_many = app.processor.process_many

        def counted(batches, now=None, **given):
            sizes.append(sum(len(items) for items, _ in batches))
            return process_many(batches, now, **given)

        monkeypatch.setattr(app.processor, "process_many", counted)
        monkeypatch.setattr(cycle_module, "JUDGE_CHUNK", chunk)
        report = cycle(app, targets)
        found = [(o.item.feed, o.item.guid, o.decision, o.reason) for o in report.outcomes]
        events = len({o.event_id for o in report.outcomes if o.event_id is not None})
        app.close()
        return found, events, sizes

    whole, whole_events, whole_sizes = decisions(tmp_path / "whole.db", 1000)
    chunked, chunked_events, chunked_sizes = decisions(tmp_path / "chunked.db", 5)
    assert whole_sizes == [24] and len(chunked_sizes) == 5 and max(chunked_sizes) == 5
    assert chunked == whole and chunked_events == whole_events
    assert {decision for _, _, decision, _ in whole} >= {"new", "irrelevant"}


def test_a_chunk_hands_over_only_its_own_feeds_in_feed_order_judged_at_the_cycles_time():
    """Each chunk of a many-feed cycle carries the few feeds it has items of, not every feed
    (that made the chunks cost feeds x chunks); ties keep feed order, as one call would."""
    from datetime import datetime, timedelta, timezone

    from botsvc.ingest.parse import ParsedFeed
    from botsvc.models import FeedItem, ItemOutcome
    from botsvc.service.spill import ItemSpill

    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    now = start + timedelta(days=1)

    def item(feed: int, hour: int) -> FeedItem:
        when = start + timedelta(hours=hour)
        return FeedItem(f"f{feed}", f"{feed}-{hour}", f"https://x/{feed}/{hour}", "t", "", when, "x")

    # Feed n carries hours 10n .. 10n+2: chunks of 3 items each hold one feed, except
    # feeds 4 and 5, which share hours (ties).
    todo = [[item(n, 10 * n + h) for h in (2, 0, 1)] for n in range(4)] + [
        [item(4, 40), item(4, 41)],
        [item(5, 41)],
    ]
    handed: list[list[tuple[str, int]]] = []

    class Recording:
        def process_many(self, batches, at=None, **given):
            assert at == now
            handed.append([(items[0].feed, len(items)) for items, _ in batches])
            return [[ItemOutcome(item=i, decision="irrelevant", reason="-") for i in items] for items, _ in batches]

    spill = ItemSpill()
    kept = [spill.keep(ParsedFeed(f"f{n}", items)) for n, items in enumerate(todo)]
    tallies = {feed.number: cycle_module.Tally(every_outcome=True) for feed in kept}
    topics = {feed.number: None for feed in kept}
    stream = spill.order(now, kept)
    cycle_module._judge_in_chunks(Recording(), topics, stream, spill, tallies, now, chunk=3)  # type: ignore[arg-type]
    spill.close()
    assert handed == [[("f0", 3)], [("f1", 3)], [("f2", 3)], [("f3", 3)], [("f4", 2), ("f5", 1)]]
    assert [[o.item for o in tallies[feed.number].outcomes()] for feed in kept] == todo  # each in its feed order


def test_events_left_judging_are_settled_for_the_whole_cycle_in_one_statement(tmp_path):
    """An event a stopped poll left held back as judging is counted as capped by the next poll
    of its feed; a cycle settles its feeds together, not in a statement per feed."""
    targets = [FeedTarget(name=path.stem, url=str(path)) for path in sorted(FEEDS.glob("*.xml"))]
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "j.db")
    first = cycle(app, targets)
    opened = first.new_event_ids
    assert len(targets) > 2 and opened
    with app.store.atomic():  # as a poll stopped before its last transaction leaves them (files: judged again)
        cycle_module.mark_judging(app.store, [o for o in first.outcomes if o.decision == "new"])
    statements: list[str] = []
    app.store.db.conn.set_trace_callback(statements.append)
    cycle(app, targets)
    app.store.db.conn.set_trace_callback(None)
    settling = [sql for sql in statements if sql.startswith("UPDATE events SET held_back") and "judging" in sql]
    assert len(settling) == 1
    held = {row["id"]: row["held_back"] for row in app.store.query("SELECT id, held_back FROM events")}
    assert {held[event_id] for event_id in opened} == {"capped"}
    app.close()


def test_fetched_bodies_are_let_go_once_parsed(tmp_path, feed_server, monkeypatch):
    """Every fetched feed waits for the cycle's judging; its raw body must not wait with it."""
    url = feed_server.static("/seoul.xml", (FEEDS / "seoul-wire.xml").read_bytes())
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "b.db")
    held: list = []
    judge = cycle_module._judge_or_forget

    def watched(store, processor, fetched, *args, **kwargs):
        held.extend(result for _, result, _ in fetched)
        return judge(store, processor, fetched, *args, **kwargs)

    monkeypatch.setattr(cycle_module, "_judge_or_forget", watched)
    report = cycle(app, [FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")])
    assert len(report.outcomes) == 12
    assert [result.status for result in held] == ["ok"] and held[0].body is None and held[0].etag
    app.close()


def test_fetched_bodies_waiting_for_a_slow_parse_stay_few(tmp_path, feed_server, monkeypatch):
    """Fetching outruns parsing; the feeds fetched and not yet parsed are bounded, not every feed's body."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    body = (FEEDS / "seoul-wire.xml").read_bytes()
    targets = [FeedTarget(name=f"f{n}", url=feed_server.static(f"/f{n}.xml", body)) for n in range(12)]
    policy = replace(open_app(ROOT / "examples" / "feeds.toml", tmp_path / "x.db").policy, concurrency=1)
    monkeypatch.setattr(cycle_module, "PARSE_BACKLOG", 2)  # with concurrency 1: two places
    parse = cycle_module.parse_fetched
    waiting: list[int] = []

    def slow_parse(result, target):
        waiting.append(len(feed_server.requests) - len(waiting))  # fetched (or being fetched), not parsed
        time.sleep(0.03)
        return parse(result, target)

    monkeypatch.setattr(cycle_module, "parse_fetched", slow_parse)

    async def run():
        validators = [(cycle_module.Validators(), False)] * len(targets)
        with ThreadPoolExecutor(max_workers=1) as executor:
            found = cycle_module._fetch_and_parse(targets, validators, policy, executor)
            return [parsed async for _, _, parsed in found]

    parsed = asyncio.run(run())
    assert len(parsed) == 12 and all(len(p.items) == 12 for p in parsed)
    assert len(waiting) == 12 and max(waiting) <= 2


def test_a_cycle_closes_its_http_sessions_before_it_returns(tmp_path, feed_server, monkeypatch):
    """A long-lived process (a queue worker polls one feed per job) must not leave a session
    open per poll for the garbage collector to complain about."""
    import botsvc.ingest.fetch as fetch

    made = []
    make_client = fetch.make_client
    monkeypatch.setattr(fetch, "make_client", lambda *a, **k: made.append(make_client(*a, **k)) or made[-1])
    url = feed_server.static("/seoul.xml", (FEEDS / "seoul-wire.xml").read_bytes())
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "c.db")

    async def go() -> list[bool]:
        await run_cycle(app.store, app.processor, [FeedTarget(name="Seoul Wire", url=url, source="Seoul Wire")])
        return [session.closed for client in made for session in (client.direct, client.checked)]

    closed = asyncio.run(go())
    app.close()
    assert closed == [True, True]


def test_a_cycle_tells_first_polls_from_later_ones_for_all_its_feeds_at_once(tmp_path):
    """_begin_all gives what _begin gives feed by feed: a first poll unless a poll of the feed succeeded before."""
    from datetime import datetime, timezone

    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "b.db")
    store = app.store
    when = datetime(2026, 5, 1, tzinfo=timezone.utc)
    with store.atomic():
        store.ensure_feed("polled", "http://127.0.0.1:9/polled.xml")
        store.record_fetch_success("polled", etag=None, last_modified=None, items=1, when=when)
        store.ensure_feed("failing", "http://127.0.0.1:9/failing.xml")
        store.record_fetch_error("failing", "timed out", when)
    targets = [
        FeedTarget(name="polled", url="http://127.0.0.1:9/polled.xml"),
        FeedTarget(name="failing", url="http://127.0.0.1:9/failing.xml"),
        FeedTarget(name="new", url="http://127.0.0.1:9/new.xml"),
        FeedTarget(name="ad hoc", url="http://127.0.0.1:9/polled.xml", tracked=False),
    ]
    with store.atomic():
        together = cycle_module._begin_all(store, targets)
    with store.atomic():
        one_by_one = [cycle_module._begin(store, target) for target in targets]
    assert together == one_by_one == [False, True, True, True]
    assert store.feed_state("new") is not None and store.feed_state("ad hoc") is None
    app.close()
