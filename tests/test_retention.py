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
from botsvc.service.app import open_app
from botsvc.service.cycle import run_cycle
from botsvc.store.migrate import apply_migrations
from botsvc.store.retention import configured_feeds, prune
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

    def __init__(self, tmp_path, feed_server, body=None):
        self.poll_count = 0
        self.body = body

        def serve(handler):
            self.poll_count += 1
            handler.send(200, self.body or changing_feed(self.poll_count), content_type="application/rss+xml")

        url = feed_server.route("/churn.xml", serve)
        self.feed = FeedConfig(name="Churn", url=url, interval=900, language=None, topics=())
        self.config = replace(load_config(ROOT / "feeds.toml"), feeds=(self.feed,))
        self.app = open_app(ROOT / "feeds.toml", tmp_path / "r.db", config=self.config)
        self.now = START
        self.app.processor.clock = lambda: self.now

    def poll(self, day: float):
        self.now = START + timedelta(days=day)
        return asyncio.run(run_cycle(self.app.store, self.app.processor, self.app.targets(), self.app.policy))

    def prune(self, *, dry_run=False, feeds=None):
        names = configured_feeds(self.app.store, self.config) if feeds is None else feeds
        return prune(self.app.store, self.config.retention, names, self.now, dry_run=dry_run)

    def count(self, sql):
        return self.app.store.db.execute(sql).fetchone()[0]


def test_stale_keys_go_current_and_stored_ones_stay(tmp_path, feed_server):
    churn = Churn(tmp_path, feed_server)
    for day in range(4):
        report = churn.poll(day)
    assert report.count("irrelevant") == 20 and churn.count("SELECT count(*) FROM articles WHERE feed = 'Churn'") == 1
    grown = churn.count("SELECT count(*) FROM seen_items")
    assert grown >= 4 * 20 * 3  # nothing was ever forgotten
    articles, events = churn.count("SELECT count(*) FROM articles"), churn.count("SELECT count(*) FROM events")

    # Day 40: the noise of days 0-3 is past irrelevant_days (30); the current window is not.
    churn.poll(40)
    expected = churn.prune(dry_run=True)
    assert churn.count("SELECT count(*) FROM seen_items") == grown + 20 * 3 + 1  # a dry run removes nothing
    pruned = churn.prune()
    assert expected.irrelevant == pruned.irrelevant == 4 * 20 * 3 and pruned.article_keys == 0
    assert churn.count("SELECT count(*) FROM seen_items WHERE key LIKE 'guid:Churn%w-5-%'") == 20  # current window
    assert churn.count("SELECT count(*) FROM seen_items WHERE key LIKE 'guid:Churn%w-1-%'") == 0

    # Day 100: the relevant story's GUIDs of days 1-3 are past seen_days (90); the keys it was
    # stored under (day 0) never are, so it is never stored again.
    churn.poll(100)
    # Even a stored key whose timestamp differs from its article's is recognised as its own.
    churn.app.store.db.execute(
        "UPDATE seen_items SET first_seen = '2025-01-01T00:00:00+00:00' WHERE key LIKE 'guid:Churn%gsomia-1'"
    )
    pruned = churn.prune()
    assert pruned.article_keys == 3
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


def test_a_feed_answering_304_keeps_its_items_keys_however_old(tmp_path, feed_server):
    churn = Churn(tmp_path, feed_server)
    url = feed_server.static("/still.xml", changing_feed(0))  # ETag: later polls answer 304
    churn.feed = replace(churn.feed, url=url)
    churn.config = replace(churn.config, feeds=(churn.feed,))
    churn.app.config = churn.config
    churn.poll(0)
    stored = churn.count("SELECT count(*) FROM seen_items WHERE feed = 'Churn'")
    assert churn.poll(200).feeds[0].status == "not_modified"
    assert churn.prune().removed == 0
    assert churn.count("SELECT count(*) FROM seen_items WHERE feed = 'Churn'") == stored
    # Once the feed is no longer configured, its window protects nothing.
    assert churn.prune(feeds=set()).irrelevant == 20 * 3


def _stale_row(db: Path, key: str, days_ago: int = 400) -> None:
    stamp = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat(timespec="seconds")
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO seen_items (key, decision, first_seen, last_seen) VALUES (?, 'irrelevant', ?, ?)",
        (key, stamp, stamp),
    )
    conn.commit()
    conn.close()


def _has(db: Path, key: str) -> bool:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM seen_items WHERE key = ?", (key,)).fetchone()[0] == 1
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
    assert store.query("SELECT last_seen FROM seen_items")[0]["last_seen"] == "2020-01-01T00:00:00+00:00"
    store.close()


def test_retention_settings_in_the_config():
    base = (ROOT / "feeds.toml").read_text()
    config = parse_config(base + '\n[retention]\nirrelevant_days = 7\nseen_days = 45.5\ninterval = "6h"\n')
    assert config.retention == RetentionSettings(irrelevant_days=7.0, seen_days=45.5, interval=6 * 3600)
    assert load_config(ROOT / "feeds.toml").retention == RetentionSettings(30.0, 90.0, 86400)
    with pytest.raises(ConfigError, match="retention.seen_days: must be greater than 0"):
        parse_config(base + "\n[retention]\nseen_days = 0\n")
