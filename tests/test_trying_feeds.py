"""Trying a feed never stores or alerts: ``poll --once URL`` of a feed not in the
configuration is a dry run, and ``feeds preview`` reaches local addresses when the operator
allows private feeds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from feedserver import FeedServer

from botsvc.cli import cli
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


def fresh_feed() -> bytes:
    """Two stories published minutes ago (so a real first poll would alert them), one off-topic."""
    now = datetime.now(timezone.utc)
    items = [
        (
            "Japan eases export controls on semiconductor materials for South Korea",
            10,
            "Officials from Tokyo and Seoul met.",
        ),
        ("일본, 한국에 대한 수출 규제 강화 발표", 5, "Officials from Tokyo and Seoul met."),
        ("City council approves new cycling lanes along the river", 3, "The lanes open in spring."),
    ]
    body = "".join(
        f"<item><title>{title}</title><guid>tried-{n}</guid><link>https://harbour.example.org/{n}</link>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=age))}</pubDate>"
        f"<description>{lead}</description></item>"
        for n, (title, age, lead) in enumerate(items)
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Harbour Times</title>'
    return f"{head}{body}</channel></rss>".encode()


def botsvc(*args: str, db: Path, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [*args, "--db", str(db), "--config", str(EXAMPLES)], env=env, catch_exceptions=False)


def rows(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def stored_from(db: Path) -> tuple[int, int]:
    store = open_store(db, create=False)
    try:
        articles = store.query("SELECT count(*) AS n FROM articles WHERE url LIKE 'https://harbour.example.org/%'")
        keys = store.query("SELECT count(*) AS n FROM seen_items WHERE key LIKE '%harbour%' OR key LIKE '%tried-%'")
    finally:
        store.close()
    return articles[0]["n"], keys[0]["n"]


def test_polling_a_feed_not_in_the_config_is_a_dry_run_that_stores_and_alerts_nothing(tmp_path):
    db = tmp_path / "bot.db"
    assert botsvc("poll", "--once", db=db).exit_code == 0  # the configured feeds, told once
    tried = tmp_path / "harbour.xml"
    tried.write_bytes(fresh_feed())

    first = botsvc("poll", "--once", "--json", str(tried), db=db)
    assert first.exit_code == 0, first.output
    judged = rows(first.stdout)
    assert [r["decision"] for r in judged] == ["new", "new", "irrelevant"]
    assert all(not r["alerted"] and r["held_back"] == "dry run" and r["event_id"] is None for r in judged[:2])
    assert "dry run: not in" in first.stderr and "nothing stored, nothing alerted" in first.stderr
    assert stored_from(db) == (0, 0)

    ordinary = botsvc("poll", "--once", db=db)  # the next ordinary poll has nothing from it to tell
    assert ordinary.exit_code == 0 and "eases export controls" not in ordinary.stdout and "수출" not in ordinary.stdout
    again = botsvc("poll", "--once", str(tried), db=db)  # without --json: text lines, still nothing kept
    assert again.exit_code == 0 and again.stdout.startswith(
        "new: Japan eases export controls on semiconductor materials"
    )
    assert stored_from(db) == (0, 0)


def test_a_configured_feed_given_on_the_command_line_is_polled_as_usual(tmp_path):
    db = tmp_path / "bot.db"
    feed = str(ROOT / "examples" / "feeds" / "seoul-wire.xml")
    first = rows(botsvc("poll", "--once", "--json", feed, db=db).stdout)
    assert any(r["decision"] == "new" for r in first) and not any(r["held_back"] == "dry run" for r in first)
    second = rows(botsvc("poll", "--once", "--json", feed, db=db).stdout)
    assert {r["decision"] for r in second} == {"duplicate"}  # stored the first time


def test_feeds_preview_of_a_local_file_points_at_the_dry_run(tmp_path):
    tried = tmp_path / "harbour.xml"
    tried.write_bytes(fresh_feed())
    result = botsvc("feeds", "preview", str(tried), db=tmp_path / "f.db")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert f"botsvc poll --once --json {tried}" in result.stderr


def test_a_missing_feed_file_is_still_one_line_and_a_failure(tmp_path):
    result = botsvc("poll", "--once", str(tmp_path / "nope.xml"), db=tmp_path / "m.db")
    assert result.exit_code == 1 and "nope.xml" in result.stderr and "Traceback" not in result.output


@pytest.fixture
def served():
    with FeedServer() as server:
        yield server.static("/harbour.xml", fresh_feed())


def test_feeds_preview_reaches_a_local_address_when_private_feeds_are_allowed(tmp_path, served, monkeypatch):
    monkeypatch.delenv("BOTSVC_ALLOW_PRIVATE_FEEDS", raising=False)
    db = tmp_path / "p.db"
    assert botsvc("seed", db=db).exit_code == 0
    refused = botsvc("feeds", "preview", served, db=db)
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1
    assert "a loopback address" in refused.stderr and "BOTSVC_ALLOW_PRIVATE_FEEDS=1" in refused.stderr
    allowed = botsvc("feeds", "preview", served, db=db, env={"BOTSVC_ALLOW_PRIVATE_FEEDS": "1"})
    assert allowed.exit_code == 0, allowed.output
    assert "Preview of 'Harbour Times'" in allowed.stdout and "(nothing stored)" in allowed.stdout
    assert "new: Japan eases export controls on semiconductor materials" in allowed.stdout
    assert stored_from(db) == (0, 0)
