"""Process and database faults: one poller per database, a busy or broken database."""

import asyncio
import io
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner
from processes import wait_for

from adapters.console import ConsoleAdapter
from botsvc.cli import cli
from botsvc.service.app import open_app
from botsvc.service.scheduler import Poller

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


def test_a_second_poller_on_the_same_database_refuses_to_start(tmp_path):
    db = str(tmp_path / "one.db")
    err = tmp_path / "first.err"
    with err.open("w") as stderr:
        first = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", db, "--config", str(EXAMPLES)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        assert wait_for(lambda: "polling" in err.read_text()), err.read_text()
        for args in (["run"], ["poll", "--once"]):
            second = subprocess.run(
                [sys.executable, "-m", "botsvc", *args, "--db", db, "--config", str(EXAMPLES)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == 1
            assert "is in use by botsvc run (pid" in second.stderr and "Traceback" not in second.stderr
        # Read-only commands still work beside it.
        status = subprocess.run(
            [sys.executable, "-m", "botsvc", "status", "--db", db], capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    again = subprocess.run(
        [sys.executable, "-m", "botsvc", "poll", "--once", "--db", db, "--config", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr  # the lock went with the first process


def test_a_killed_poller_leaves_no_stale_lock(tmp_path):
    db = str(tmp_path / "k.db")
    err = tmp_path / "k.err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", db, "--config", str(EXAMPLES)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    assert wait_for(lambda: "polling" in err.read_text())
    proc.kill()
    proc.wait(timeout=10)
    after = subprocess.run(
        [sys.executable, "-m", "botsvc", "poll", "--once", "--db", db, "--config", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0, after.stderr


def test_a_briefly_held_write_lock_is_waited_for(tmp_path):
    db = tmp_path / "busy.db"
    open_app(EXAMPLES, db).close()
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "botsvc", "poll", "--once", "--db", str(db), "--config", str(EXAMPLES)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        release.join()
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "new" in result.stderr


def test_a_database_busy_for_too_long_is_retried_by_the_next_run(tmp_path, caplog, monkeypatch):
    app = open_app(EXAMPLES, tmp_path / "b.db")
    poller = Poller(app, {"console": ConsoleAdapter(io.StringIO())})

    async def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("botsvc.service.scheduler.run_cycle", locked)
    assert asyncio.run(poller.poll_feed(app.feeds()[0])) is None
    assert poller.fatal is None and "locked by another process" in caplog.text and "retrying" in caplog.text
    app.close()


def test_a_full_or_read_only_disk_stops_run_with_an_error(tmp_path, caplog, monkeypatch):
    app = open_app(EXAMPLES, tmp_path / "f.db")
    poller = Poller(app, {"console": ConsoleAdapter(io.StringIO())})
    stopped = []
    poller.on_fatal = lambda: stopped.append(True)

    async def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("botsvc.service.scheduler.run_cycle", full)
    asyncio.run(poller.poll_feed(app.feeds()[0]))
    assert stopped and isinstance(poller.fatal, sqlite3.OperationalError)
    assert "the disk is full; stopping" in caplog.text
    app.close()


def test_poll_reports_a_write_failure_clearly_and_exits_non_zero(tmp_path, monkeypatch):
    async def readonly(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr("botsvc.cli.polling.run_cycle", readonly)
    result = CliRunner().invoke(cli, ["poll", "--once", "--db", str(tmp_path / "r.db"), "--config", str(EXAMPLES)])
    assert result.exit_code == 1
    assert "database write failed: the database or its directory is read-only" in result.stderr
    assert "Traceback" not in result.output
