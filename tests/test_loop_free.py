"""`botsvc run` keeps answering HTTP while it judges a big feed, and still stops in time.

Judging runs in the intake thread (botsvc/service/intake.py); on the event loop, a feed of a few
thousand relevant items held /healthz and Slack's /news for as long as it took.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bigfeed import gsomia_feed, item_count
from loopprobe import POLLED, _config, probe_big_poll
from processes import free_port, wait_for

from botsvc.service.cycle import BATCH_ITEMS

ROOT = Path(__file__).resolve().parents[1]
SMALL_BIG_FEED = 1_500_000
"""Bytes: about 2,100 relevant items, several seconds of judging here (the 10 MB case is
benchmarks/fault_loop.py)."""


@pytest.mark.slow
def test_healthz_and_slack_answer_within_a_second_while_a_big_feed_is_judged(tmp_path):
    feed = gsomia_feed(SMALL_BIG_FEED)
    figures = probe_big_poll(feed, tmp_path, mid_poll_command="subscribe")

    assert figures.exit_status == 0, figures.log
    assert "Traceback" not in figures.log and "locked" not in figures.log
    assert "0 unchanged, 0 failed" in figures.poll_summary, figures.log
    assert figures.answers_while_polling >= 10, figures  # the answers overlapped the judging
    assert not figures.failures, figures.failures
    assert max(figures.healthz_ms) < 1000, sorted(figures.healthz_ms)[-5:]
    assert max(figures.slack_ms) < 1000, sorted(figures.slack_ms)[-5:]

    # A command that writes, posted mid-poll, takes its turn with the feed's transaction:
    # Slack gets its answer (or the acknowledgement) within its 3 s, and it is stored.
    assert figures.mid_poll_ms is not None and figures.mid_poll_ms < 3000
    db = sqlite3.connect(tmp_path / "loop.db")
    try:
        stored = db.execute("SELECT count(*) FROM articles WHERE feed = 'Firehose'").fetchone()[0]
        subscribed = db.execute(
            "SELECT count(*) FROM subscriptions WHERE platform = 'slack' AND channel = 'C1'"
        ).fetchone()[0]
    finally:
        db.close()
    assert stored == item_count(feed)
    assert subscribed == 1


@pytest.mark.slow
def test_sigterm_while_a_big_feed_is_judged_exits_in_time_and_keeps_only_whole_batches(tmp_path, feed_server):
    url = feed_server.static("/firehose.xml", gsomia_feed(3 * SMALL_BIG_FEED))
    err = tmp_path / "run.err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botsvc",
                "run",
                "--db",
                str(tmp_path / "loop.db"),
                "--config",
                str(_config(url, tmp_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BOTSVC_HTTP_PORT": str(free_port())},
        )
    try:
        assert wait_for(lambda: feed_server.requests_to("/firehose.xml"), 60), err.read_text()
        time.sleep(1.0)  # parsing and judging now
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    log = err.read_text()
    assert "Traceback" not in log and "stopped" in log
    assert "poll cancelled by shutdown" in log and POLLED.search(log) is None, log
    db = sqlite3.connect(tmp_path / "loop.db")
    try:  # whole batches at most, no fetch state: it is fetched and judged again at the next start
        stored = db.execute("SELECT count(*) FROM articles WHERE feed = 'Firehose'").fetchone()[0]
        assert stored < item_count(gsomia_feed(3 * SMALL_BIG_FEED)) and stored % BATCH_ITEMS == 0
        assert db.execute("SELECT etag FROM feeds WHERE name = 'Firehose'").fetchone() in (None, (None,))
        assert db.execute("SELECT count(*) FROM events WHERE held_back IS NULL AND seeded = 0").fetchone()[0] == 0
    finally:
        db.close()


@pytest.mark.slow
def test_a_press_storm_and_a_slow_preview_during_a_big_poll_are_acknowledged_at_once_and_answered(tmp_path):
    """ "Not relevant" from one member in 8 channels, and a preview of a page whose feed links
    each take seconds, both sent while a big feed is judged: every request is acknowledged
    within a second, every one is answered, nothing is 'locked', the report counts once."""
    figures = probe_big_poll(gsomia_feed(SMALL_BIG_FEED), tmp_path, presses=8, slow_preview=True)

    assert figures.exit_status == 0, figures.log
    assert "Traceback" not in figures.log and "locked" not in figures.log
    assert not figures.failures, figures.failures
    assert figures.expected_answers == 9 and max(figures.ack_ms) < 1000, sorted(figures.ack_ms)[-5:]
    assert len(figures.answers) == 9, figures.answers
    thanks = [a for a in figures.answers if "is marked not relevant" in a]
    again = [a for a in figures.answers if "already marked" in a]
    previews = [a for a in figures.answers if a.startswith("No preview:")]
    assert (len(thanks), len(again), len(previews)) == (1, 7, 1), figures.answers
    db = sqlite3.connect(tmp_path / "loop.db")
    try:
        assert db.execute("SELECT count(*) FROM relevance_feedback").fetchone()[0] == 1
    finally:
        db.close()
