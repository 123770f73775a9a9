"""A full disk leaves a database whose checkpoint did not finish: whole, not truncated.

A checkpoint writes page 1 (with the new page count) before the pages that grow the
file. When the disk fills in between, the file is shorter than its header says but every
page is still in the write-ahead log. Start-up completes the checkpoint and carries on;
only a file whose missing pages are in neither is called truncated.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import wait_for

from botsvc.store import fileid
from botsvc.store.store import StoreError, open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"

#: Builds a database of 60 rows at ``argv[1]`` whose checkpoint stops, as on a full disk,
#: once the file reaches 8 KB (writes past the limit fail instead of raising SIGXFSZ);
#: then exits without closing (a clean close would try the checkpoint again).
PENDING_WAL = """
import os, resource, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.execute("CREATE TABLE t (x)")
conn.commit()
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 60)
conn.commit()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
try:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
except sqlite3.Error as exc:
    print(exc)
os._exit(0)
"""


def _database_with_a_pending_wal(path: Path) -> int:
    """A database whose file stops after two pages while its header and WAL hold 60 rows more."""
    made = subprocess.run([sys.executable, "-c", PENDING_WAL, str(path)], capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    return 60


def test_a_pending_wal_is_completed_at_start_up_not_called_truncated(tmp_path, caplog):
    path = tmp_path / "pending.db"
    rows = _database_with_a_pending_wal(path)
    identity = fileid.identify(str(path))
    short = fileid.looks_short(str(path), identity)
    assert short is not None and short[0] == 2 * 4096  # the file stops where the "disk" filled
    assert Path(f"{path}-wal").stat().st_size > 60 * 1000

    with caplog.at_level(logging.INFO, logger="botsvc.store.store"):
        store = open_store(path)
    try:
        assert store.file_problem() is None
        assert store.db.execute("SELECT count(*) FROM t").fetchone()[0] == rows
        assert fileid.looks_short(str(path), store.identity) is None  # the checkpoint grew the file
    finally:
        store.close()
    [line] = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
    assert "finished a checkpoint that was interrupted" in line and "8192 of" in line
    assert not fileid.lost_marker(str(path)).exists()


def test_a_file_short_of_pages_its_wal_does_not_hold_is_truncated(tmp_path):
    path = tmp_path / "cut.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 60)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.truncate(path, 8192)
    with pytest.raises(StoreError, match=r"is truncated \(8192 bytes; its header says \d+\) and its write-ahead log"):
        open_store(path)
    assert not fileid.lost_marker(str(path)).exists()
    # A command that only reads does not repair; SQLite's own answer is one line too.
    with pytest.raises(StoreError, match="malformed"):
        open_store(path, create=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 900 KB tmpfs (needs root, as in CI), unmounted afterwards: room for the migrations and the seeded
    archive, not for the first poll."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=900k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _run_until_polled(db: Path, tmp_path: Path, name: str) -> tuple[int, str]:
    err = tmp_path / f"{name}.err"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for variable in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "DISCORD_BOT_TOKEN",
        "DISCORD_WEBHOOK_URL",
        "SLACK_WEBHOOK_URL",
    ):
        env.pop(variable, None)
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(db), "--config", str(EXAMPLES)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        wait_for(lambda: proc.poll() is not None or err.read_text().count("polled 1 feed(s)") >= 5, 40)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    return proc.returncode, err.read_text()


def test_after_a_full_disk_the_restart_keeps_every_row_and_leaves_no_lost_marker(tmp_path, small_disk):
    db = small_disk / "bot.db"
    first = subprocess.run(
        [sys.executable, "-m", "botsvc", "poll", "--once", "--db", str(db), "--config", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 1 and "the disk is full" in first.stderr, first.stderr
    assert db.stat().st_size < 64 * 1024 < Path(f"{db}-wal").stat().st_size  # the file waits on its log
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal"):
        (copy / f"bot.db{suffix}").write_bytes(Path(f"{db}{suffix}").read_bytes())
    check = sqlite3.connect(copy / "bot.db")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    articles = check.execute("SELECT count(*) FROM articles").fetchone()[0]
    check.close()
    assert articles > 0

    # The disk is still full: the restart may fail to write, but never calls the data lost.
    code, log = _run_until_polled(db, tmp_path, "still-full")
    assert "truncated" not in log and "Traceback" not in log, log
    assert not fileid.lost_marker(str(db)).exists()

    # Space freed: the restart completes the checkpoint, says so in one line, and carries on.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    code, log = _run_until_polled(db, tmp_path, "freed")
    assert code == 0, log
    assert "truncated" not in log and "Traceback" not in log, log
    assert len([line for line in log.splitlines() if "finished a checkpoint that was interrupted" in line]) <= 1
    assert not fileid.lost_marker(str(db)).exists()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] >= articles
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
