"""Reading from the command line: every search word counts, ``recent`` shows what it sorts
by, and ``--json`` / ``events export`` give the same answers as data."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from polledapp import EXAMPLES, polled_database

from botsvc.cli import cli


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    return str(polled_database(tmp_path_factory.mktemp("reading")))


def run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--db", db, "--config", str(EXAMPLES)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_search_takes_every_word_even_a_last_share(db):
    both = lines_of(run(db, "search", "export", "curbs", "--json"))
    alone = lines_of(run(db, "search", "export", "--json"))
    assert both and len(both) < len(alone)
    # In chat a last "share" posts the answer to the channel; on the command line it is a word.
    shared = [hit["event_id"] for hit in lines_of(run(db, "search", "export", "share", "--json"))]
    assert shared == [hit["event_id"] for hit in lines_of(run(db, "search", "export", '"share"', "--json"))]
    assert shared != [hit["event_id"] for hit in alone]
    assert "Events matching 'export \"share\"'" in run(db, "search", "export", "share")


def test_recent_is_ordered_by_and_shows_the_latest_report(db):
    text = run(db, "recent", "10").splitlines()
    assert "by latest report" in text[0]
    records = lines_of(run(db, "recent", "10", "--json"))
    latest = [r["latest_report"] for r in records]
    assert latest == sorted(latest, reverse=True)
    assert all("latest report" in line for line in text[1:])
    spread = next(r for r in records if r["first_published"][:10] != r["latest_report"][:10])
    [line] = [line for line in text if line.strip().startswith(f"#{spread['event_id']} ")]
    assert "(first " in line


def test_search_event_and_recent_json_are_one_object_per_line(db):
    hits = lines_of(run(db, "search", "gsomia", "--json"))
    assert hits and all(
        set(hit) >= {"event_id", "title", "first_published", "latest_report", "outlets"} for hit in hits
    )
    [event] = lines_of(run(db, "event", str(hits[0]["event_id"]), "--json"))
    assert event["event_id"] == hits[0]["event_id"] and event["reports"] == len(event["members"]) >= 1
    assert {"title", "source", "link", "published"} <= set(event["members"][0])
    published = [m["published"] or m["first_seen"] for m in event["members"]]
    assert published == sorted(published)
    assert len(lines_of(run(db, "recent", "3", "--json"))) == 3


def test_status_json_gives_the_outbox_first_then_one_object_per_problem(db):
    records = lines_of(run(db, "status", "--json"))
    assert records[0]["kind"] == "outbox" and {"delivered", "pending", "held", "failed"} <= set(records[0])
    assert all("kind" in record for record in records)


def test_events_export_since_a_day_as_json_and_csv(db):
    every = lines_of(run(db, "events", "export", "--since", "2000-01-01", "--format", "json"))
    later = lines_of(run(db, "events", "export", "--since", "2019-11-01"))  # json is the default
    assert every and later and len(later) < len(every)
    assert all(e["latest_report"] >= "2019-11-01" for e in later)
    assert sum(e["reports"] for e in every) == sum(len(e["members"]) for e in every)
    table = list(csv.DictReader(io.StringIO(run(db, "events", "export", "--since", "2000-01-01", "--format", "csv"))))
    assert len(table) == sum(len(e["members"]) for e in every)
    assert {row["event_id"] for row in table} == {str(e["event_id"]) for e in every}
    assert table[0]["link"].startswith("https://")


def test_events_export_refuses_a_bad_day_in_one_line(db):
    result = CliRunner().invoke(cli, ["events", "export", "--since", "last week", "--db", db])
    assert result.exit_code == 2 and "Traceback" not in result.output and "--since" in result.output
