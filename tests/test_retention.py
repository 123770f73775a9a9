"""Retention of seen keys: stale ones are pruned, current, stored and referenced data never."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from processes import free_port, wait_for

from botsvc.cli import cli
from botsvc.config import ConfigError, FeedConfig, RetentionSettings, load_config, parse_config
from botsvc.ingest.normalise import identity_keys, normalise_title
from botsvc.service.app import open_app
from botsvc.service.cycle import run_cycle
from botsvc.store.migrate import apply_migrations, discover
from botsvc.store.retention import configured_feeds, prune
from botsvc.store.seenkeys import key_hash
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
RELEVANT = (
    "<item><title>South Korea extends GSOMIA intelligence pact with Japan</title>"
    "<link>https://news.example/gsomia-extended</link><guid>gsomia-{poll}</guid>"
    "<description>Seoul said the GSOMIA pact with Tokyo stays in force.</description></item>"
)
NOISE = (
    "<item><title>Weather bulletin {poll}-{n}</title><link>https://weather.example/{poll}/{n}</link>"
    "<guid>w-{poll}-{n}</guid><description>Rain later.</description></item>"
)


def changing_feed(poll: int, items: int = 20) -> bytes:
    """Every poll: new GUIDs, links and titles for the noise; a new GUID for the one relevant story."""
    body = RELEVANT.format(poll=poll) + "".join(NOISE.format(poll=poll, n=n) for n in range(items))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Churn</title>{body}</channel></rss>'.encode()


class Churn:
    """A feed app under a controllable clock, polled from the loopback feed server."""

    def __init__(self, location, feed_server, body=None):
        self.poll_count = 0
        self.body = body
        self.body_items = 20

        def serve(handler):
            self.poll_count += 1
            body = self.body or changing_feed(self.poll_count, self.body_items)
            handler.send(200, body, content_type="application/rss+xml")

        url = feed_server.route("/churn.xml", serve)
        self.feed = FeedConfig(name="Churn", url=url, interval=900, language=None, topics=())
        self.config = replace(load_config(ROOT / "feeds.toml"), feeds=(self.feed,))
        self.app = open_app(ROOT / "feeds.toml", location, config=self.config)
        self.now = START
        self.app.processor.clock = lambda: self.now

    def poll(self, day: float):
        self.now = START + timedelta(days=day)
        return asyncio.run(
            run_cycle(self.app.store, self.app.processor, self.app.targets(), self.app.policy, every_outcome=True)
        )

    def prune(self, *, dry_run=False, feeds=None):
        names = configured_feeds(self.app.store, self.config) if feeds is None else feeds
        return prune(self.app.store, self.config.retention, names, self.now, dry_run=dry_run)

    def count(self, sql):
        return self.app.store.db.execute(sql).fetchone()[0]


def test_a_churning_feed_keeps_only_its_current_bodys_keys_and_the_file_stops_growing(db_at, feed_server):
    """Every poll brings 200 new irrelevant items: one body's keys are kept, and from the
    third poll on the file grows by no page (the pages freed by the last body are reused)."""
    churn = Churn(db_at("r.db"), feed_server)
    sqlite = churn.app.store.dialect == "sqlite"
    churn.body_items = 200
    pages = []
    for day in range(12):
        report = churn.poll(day / 96)  # every 15 minutes
        assert report.count("irrelevant") == 200
        assert churn.count("SELECT count(*) FROM seen_hashes") == 200 * 3
        if sqlite:  # a file's pages; PostgreSQL reuses space through (auto)vacuum instead
            pages.append(churn.count("PRAGMA page_count") - churn.count("PRAGMA freelist_count"))
    assert not sqlite or pages[-1] - pages[2] <= 2, pages  # bytes in use do not grow with the polls
    assert churn.count("SELECT count(*) FROM seen_items WHERE article_id IS NULL") == 0
    # The one relevant story (a new GUID every poll) is stored once; its keys are full strings.
    assert churn.count("SELECT count(*) FROM articles") == 1
    assert churn.count("SELECT count(*) FROM seen_items WHERE key LIKE 'guid:Churn%gsomia-%'") == 12
    assert churn.prune().irrelevant == 0  # nothing stale was left for the daily prune


def test_stored_articles_keys_are_pruned_as_before(db_at, feed_server):
    churn = Churn(db_at("r.db"), feed_server)
    for day in range(4):
        report = churn.poll(day)
    assert report.count("irrelevant") == 20 and churn.count("SELECT count(*) FROM articles WHERE feed = 'Churn'") == 1
    articles, events = churn.count("SELECT count(*) FROM articles"), churn.count("SELECT count(*) FROM events")
    churn.poll(40)
    assert churn.count("SELECT count(*) FROM seen_hashes") == 20 * 3  # the current body only
    expected = churn.prune(dry_run=True)
    assert expected.irrelevant == 0 and expected.article_keys == 0
    assert churn.count("SELECT count(*) FROM seen_hashes") == 20 * 3

    # Day 100: the relevant story's GUIDs of days 1-3 are past seen_days (90); the keys it was
    # stored under (day 0) never are, so it is never stored again.
    churn.poll(100)
    # Even a stored key whose timestamp differs from its article's is recognised as its own.
    churn.app.store.db.execute(
        "UPDATE seen_items SET first_seen = '2025-01-01T00:00:00+00:00' WHERE key LIKE 'guid:Churn%gsomia-1'"
    )
    assert churn.prune(dry_run=True).article_keys == 3
    pruned = churn.prune()
    assert pruned.article_keys == 3 and pruned.irrelevant == 0
    kept = {
        row[0].rsplit("/", 1)[-1]
        for row in churn.app.store.db.execute(
            "SELECT key FROM seen_items WHERE article_id IS NOT NULL AND key LIKE 'guid:Churn%'"
        )
    }
    assert kept == {"gsomia-1", "gsomia-5", "gsomia-6"}  # stored under 1; 5 is recent; 6 is current
    assert churn.count("SELECT count(*) FROM articles") == articles
    assert churn.count("SELECT count(*) FROM events") == events
    again = churn.poll(101)
    assert [o.decision for o in again.outcomes if o.decision != "irrelevant"] == ["duplicate"]
    assert churn.count("SELECT count(*) FROM articles") == articles


def rss(*items: str) -> bytes:
    body = "".join(items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Churn</title>{body}</channel></rss>'.encode()


def noise(n: int) -> str:
    return NOISE.format(poll="x", n=n)


def judged_titles(app) -> list[str]:
    """Record the titles the relevance judge of ``app`` is asked about from now on."""
    asked: list[str] = []
    relevance = app.processor.relevance
    match = relevance.match

    def spy(item, topics=None):
        asked.append(item.title)
        return match(item, topics)

    relevance.match = spy
    return asked


def test_irrelevant_keys_leave_with_their_item_and_a_returning_item_is_judged_again(db_at, feed_server):
    churn = Churn(db_at("r.db"), feed_server)
    asked = judged_titles(churn.app)
    relevant = RELEVANT.format(poll=1)
    churn.body = rss(relevant, noise(1), noise(2), noise(3))
    first = churn.poll(0)
    assert sorted(o.decision for o in first.outcomes) == ["irrelevant"] * 3 + ["new"]
    assert churn.count("SELECT count(*) FROM seen_hashes") == 3 * 3
    articles, events = churn.count("SELECT count(*) FROM articles"), churn.count("SELECT count(*) FROM events")

    # Items still in the body are repeats, not judged again; item 3 left the body: its keys go.
    asked.clear()
    churn.body = rss(relevant, noise(1), noise(2), noise(4))
    second = {o.item.title: o for o in churn.poll(0.01).outcomes}
    assert asked == ["Weather bulletin x-4"]
    assert "judged irrelevant then" in second["Weather bulletin x-1"].reason
    assert second["Weather bulletin x-1"].decision == second["Weather bulletin x-2"].decision == "duplicate"
    assert churn.count("SELECT count(*) FROM seen_hashes") == 3 * 3

    # A body with no items (a feed that glitched empty) forgets nothing.
    churn.body = rss()
    assert churn.poll(0.02).feeds[0].status == "ok"
    assert churn.count("SELECT count(*) FROM seen_hashes") == 3 * 3

    # Item 3 served again after it was forgotten: judged afresh, irrelevant again, nothing
    # stored. The relevant story left the body, yet its keys (full strings) stay.
    asked.clear()
    churn.body = rss(noise(1), noise(3))
    third = {o.item.title: o for o in churn.poll(0.03).outcomes}
    assert asked == ["Weather bulletin x-3"] and third["Weather bulletin x-3"].decision == "irrelevant"
    assert third["Weather bulletin x-1"].decision == "duplicate"
    assert churn.count("SELECT count(*) FROM seen_hashes") == 2 * 3

    # The relevant story back in the body: a repeat of its article, as before.
    asked.clear()
    churn.body = rss(relevant, noise(1))
    [story, _] = churn.poll(0.04).outcomes
    assert asked == [] and story.decision == "duplicate" and story.duplicate_of is not None
    assert churn.count("SELECT count(*) FROM articles") == articles
    assert churn.count("SELECT count(*) FROM events") == events


def test_upgrade_keeps_old_irrelevant_keys_suppressing_repeats(tmp_path, feed_server):
    """A database from before hashed keys: its irrelevant items are still repeats, and the
    feed's current body (0011's window) still protects them from an age prune."""
    # The keys these items have, as the pipeline makes them.
    (tmp_path / "probe").mkdir()  # the store makes no folders
    probe = Churn(tmp_path / "probe" / "r.db", feed_server)
    outcomes = probe.poll(0).outcomes
    probe.app.close()
    noise_keys = [
        (identity_keys(o.item), normalise_title(o.item.title)) for o in outcomes if o.decision == "irrelevant"
    ]
    assert len(noise_keys) == 20

    hashed = next(m for m in discover() if m.name.endswith("_hashed_seen_keys"))
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=hashed.version - 1)
    old = (START - timedelta(days=60)).isoformat(timespec="seconds")
    conn.execute(
        "INSERT INTO feeds (name, url, last_polled_at, last_success_at, window_at) VALUES ('Churn', 'x', ?, ?, ?)",
        (old, old, old),
    )
    for keys, title in noise_keys:
        conn.executemany(
            "INSERT INTO seen_items (key, decision, first_seen, last_seen, feed, title) "
            "VALUES (?, 'irrelevant', ?, ?, 'Churn', ?)",
            [(key, old, old, title if key.startswith("guid:") else None) for key in keys],
        )
    conn.commit()
    conn.close()

    churn = Churn(tmp_path / "r.db", feed_server)  # opens r.db: upgraded in place
    assert churn.count("SELECT count(*) FROM seen_items") == 0
    assert churn.count("SELECT count(*) FROM seen_hashes") == 20 * 3
    assert churn.prune().irrelevant == 0  # 60 days old, but in the feed's current body
    asked = judged_titles(churn.app)
    again = churn.poll(1)  # the same body as before the upgrade
    assert asked == ["South Korea extends GSOMIA intelligence pact with Japan"]
    assert all("judged irrelevant then" in o.reason for o in again.outcomes if o.item.title.startswith("Weather"))
    # A reused GUID is still told from a repeat by the title kept with it (as a word sketch).
    churn.body = (
        changing_feed(1)
        .replace(b"Weather bulletin 1-0<", b"Seoul and Tokyo resume GSOMIA talks<")
        .replace(b"weather.example/1/0<", b"news.example/gsomia-talks<")
    )
    reused = churn.poll(2).outcomes
    assert asked[1:] == ["Seoul and Tokyo resume GSOMIA talks"]
    [story] = [o for o in reused if o.item.title == "Seoul and Tokyo resume GSOMIA talks"]
    assert story.article_id is not None, story  # stored as the new story it is


def test_a_feed_answering_304_keeps_its_items_keys_however_old(db_at, feed_server):
    churn = Churn(db_at("r.db"), feed_server)
    url = feed_server.static("/still.xml", changing_feed(0))  # ETag: later polls answer 304
    churn.feed = replace(churn.feed, url=url)
    churn.config = replace(churn.config, feeds=(churn.feed,))
    churn.app.config = churn.config
    churn.poll(0)
    stored = churn.count("SELECT count(*) FROM seen_hashes")
    assert stored == 20 * 3
    assert churn.poll(200).feeds[0].status == "not_modified"
    assert churn.prune().removed == 0
    assert churn.count("SELECT count(*) FROM seen_hashes") == stored
    # Once the feed is no longer configured, its window protects nothing.
    assert churn.prune(feeds=set()).irrelevant == 20 * 3


def _stale_row(db: Path, key: str, days_ago: int = 400) -> None:
    """An irrelevant item's key last seen ``days_ago`` (by a feed no longer polled)."""
    stamp = datetime.now(timezone.utc) - timedelta(days=days_ago)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO seen_hashes (hash, last_seen) VALUES (?, ?)", (key_hash(key), int(stamp.timestamp())))
    conn.commit()
    conn.close()


def _has(db: Path, key: str) -> bool:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM seen_hashes WHERE hash = ?", (key_hash(key),)).fetchone()[0] == 1
    finally:
        conn.close()


def test_prune_command_dry_run_and_poll_once(tmp_path):
    db = tmp_path / "cli.db"
    args = ["--db", str(db), "--config", str(EXAMPLES)]
    assert CliRunner().invoke(cli, ["poll", "--once", *args]).exit_code == 0
    _stale_row(db, "url:https://gone.example/1")

    dry = CliRunner().invoke(cli, ["prune", "--dry-run", *args])
    assert dry.exit_code == 0 and "would remove 1 (1 of irrelevant items" in dry.output
    assert _has(db, "url:https://gone.example/1")
    done = CliRunner().invoke(cli, ["prune", *args])
    assert done.exit_code == 0 and "removed 1 (1 of irrelevant items" in done.output
    assert not _has(db, "url:https://gone.example/1")

    _stale_row(db, "url:https://gone.example/2")
    polled = CliRunner().invoke(cli, ["poll", "--once", *args])
    assert polled.exit_code == 0 and "pruned 1 seen key(s)" in polled.stderr
    assert not _has(db, "url:https://gone.example/2")

    missing = CliRunner().invoke(cli, ["prune", "--db", str(tmp_path / "none.db"), "--config", str(EXAMPLES)])
    assert missing.exit_code == 1 and "no database here" in missing.stderr


def test_run_prunes_at_start_and_on_schedule(tmp_path):
    db = tmp_path / "run.db"
    open_store(db).close()
    _stale_row(db, "title:gone\x1fold story")
    err = tmp_path / "run.err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(db), "--config", str(EXAMPLES)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BOTSVC_HTTP_PORT": str(free_port())},
        )
    try:
        assert wait_for(lambda: "retention: seen keys" in err.read_text()), err.read_text()
        assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5), err.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert "removed 1 (1 of irrelevant items" in err.read_text()
    assert not _has(db, "title:gone\x1fold story")


def test_upgrade_gives_existing_keys_a_last_seen(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=7)
    conn.execute(
        "INSERT INTO seen_items (key, decision, first_seen) VALUES ('url:x', 'irrelevant', '2020-01-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    store = open_store(path)
    [row] = store.query("SELECT hash, last_seen FROM seen_hashes")  # an irrelevant item's key, now hashed
    assert row == {"hash": key_hash("url:x"), "last_seen": int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())}
    store.close()


def test_retention_settings_in_the_config():
    base = (ROOT / "feeds.toml").read_text()
    config = parse_config(base + '\n[retention]\nirrelevant_days = 7\nseen_days = 45.5\ninterval = "6h"\n')
    assert config.retention == RetentionSettings(irrelevant_days=7.0, seen_days=45.5, interval=6 * 3600)
    assert load_config(ROOT / "feeds.toml").retention == RetentionSettings(30.0, 90.0, 86400)
    with pytest.raises(ConfigError, match="retention.seen_days: must be greater than 0"):
        parse_config(base + "\n[retention]\nseen_days = 0\n")


def test_a_link_one_feed_dropped_is_still_a_repeat_in_the_feed_that_still_carries_it(tmp_path, feed_server):
    bodies = {"a": rss(noise(1), noise(2)), "b": rss(noise(1))}  # the same item in both feeds
    feeds = tuple(
        FeedConfig(
            name=name,
            url=feed_server.route(f"/{name}.xml", lambda h, n=name: h.send(200, bodies[n])),
            interval=900,
            language=None,
            topics=(),
        )
        for name in ("a", "b")
    )
    config = replace(load_config(ROOT / "feeds.toml"), feeds=feeds)
    app = open_app(ROOT / "feeds.toml", tmp_path / "two.db", config=config)
    asked = judged_titles(app)
    try:
        asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
        assert sorted(asked) == ["Weather bulletin x-1", "Weather bulletin x-2"]  # b's copy: same link
        bodies["a"] = rss(noise(2))  # a drops item 1 and forgets its keys, its link among them
        asked.clear()
        for _ in range(2):
            report = asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
            assert asked == [] and report.count("duplicate") == 2
    finally:
        app.close()


def test_a_body_of_more_keys_than_one_statement_takes_touches_every_key(tmp_path):
    from botsvc.store.seenbatch import CHUNK

    store = open_store(tmp_path / "w.db")
    stored = [f"url:https://news.example/{n}" for n in range(CHUNK + 150)]
    hashed = [f"guid:wire\x1f{n}" for n in range(CHUNK + 150)]
    with store.atomic():
        store.ensure_feed("wire", "https://news.example/feed")
        store.mark_seen(hashed, "irrelevant", None, START)
        store.db.conn.executemany(
            "INSERT INTO seen_items (key, decision, article_id, first_seen, last_seen) VALUES (?, 'new', NULL, ?, ?)",
            [(key, "2026-01-01T09:00:00+00:00", "2026-01-01T09:00:00+00:00") for key in stored],
        )
    later = START + timedelta(days=3)
    with store.atomic():
        store.touch_window("wire", [*stored, *hashed, stored[0]], later)
    rows = store.db.execute("SELECT last_seen, feed FROM seen_items WHERE key LIKE 'url:%'").fetchall()
    assert len(rows) == len(stored) and set(rows) == {(later.isoformat(timespec="seconds"), "wire")}
    seconds = {row[0] for row in store.db.execute("SELECT last_seen FROM seen_hashes").fetchall()}
    assert seconds == {int(later.timestamp())}
    store.close()
