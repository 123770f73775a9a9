"""The database file deleted, replaced or truncated under a running bot; a mistyped --db."""

import os
import signal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from processes import free_port, wait_for
from test_operations import EXAMPLES, start_run

from botsvc.cli import cli
from botsvc.service.health import Health, max_age_for
from botsvc.service.metrics import Metrics
from botsvc.store.store import open_store, utcnow


def test_run_reports_a_deleted_database_unhealthy_and_stops_with_one_line(tmp_path):
    port = free_port()
    proc, err = start_run(tmp_path, EXAMPLES, port, BOTSVC_HTTP_PORT=str(port))
    try:
        assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5), err.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        (tmp_path / "run.db").unlink()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 503
        assert "was deleted" in health.json()["database"]
        assert proc.wait(timeout=20) == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    log = err.read_text()
    assert "Traceback" not in log
    [line] = [line for line in log.splitlines() if line.startswith("botsvc: error:")]
    assert "was deleted while open; stopped so nothing is alerted twice" in line
    assert not (tmp_path / "run.db").exists()  # no fresh, empty database made behind the operator's back

    # Restarted (as Docker would): it refuses to begin an empty database and alert everything again.
    again = CliRunner().invoke(cli, ["run", "--db", str(tmp_path / "run.db"), "--config", str(EXAMPLES)])
    assert again.exit_code == 1 and "was lost while the bot ran" in again.stderr
    assert not (tmp_path / "run.db").exists()
    (tmp_path / "run.db.lost").unlink()  # the operator chooses to start afresh
    fresh = CliRunner().invoke(cli, ["seed", "--db", str(tmp_path / "run.db"), "--config", str(EXAMPLES)])
    assert fresh.exit_code == 0


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("replace", "was replaced by another file"),
        ("truncate", "was truncated"),
        ("overwrite", "no SQLite header"),
    ],
)
def test_health_sees_a_replaced_truncated_or_overwritten_database(tmp_path, damage, reason):
    path = tmp_path / "h.db"
    store = open_store(path)
    store.db.execute("CREATE TABLE filler (x)")
    store.db.conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 1000,)] * 200)
    store.db.conn.commit()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seen = []
    health = Health(store, Metrics(store), lambda: True, max_age_for([60]), utcnow(), on_file_problem=seen.append)
    assert health.report()[0] and not seen
    if damage == "replace":
        copy = open_store(tmp_path / "other.db")
        copy.close()
        os.replace(tmp_path / "other.db", path)
    elif damage == "truncate":
        os.truncate(path, 8192)
    else:
        path.write_bytes(b"\0" * path.stat().st_size)
    healthy, body = health.report()
    assert not healthy and reason in body["database"] and reason in seen[0]
    store.close()


def test_read_commands_given_a_missing_database_say_so_and_create_nothing(tmp_path):
    missing = tmp_path / "typo.db"
    config = str(EXAMPLES)
    for command in (
        ["status"],
        ["subscriptions"],
        ["feeds"],
        ["recent"],
        ["search", "gsomia"],
        ["event", "1"],
        ["status", "--json"],
        ["search", "gsomia", "--json"],
        ["events", "export", "--since", "2019-01-01"],
        ["explain", "https://x.example/a"],
        ["rebuild-events"],
        ["unsubscribe", "--platform", "slack", "--channel", "C1"],
        ["subscribe", "--platform", "slack", "--channel", "C1"],
    ):
        result = CliRunner().invoke(cli, [*command, "--db", str(missing), "--config", config])
        assert result.exit_code == 1, (command, result.output)
        assert (
            result.stderr.strip() == f"botsvc: error: database {missing} does not exist "
            "(only run, poll and seed create one; check --db)"
        ), command
        assert not missing.exists() and not Path(f"{missing}-wal").exists()
    seeded = CliRunner().invoke(cli, ["seed", "--db", str(missing), "--config", config])
    assert seeded.exit_code == 0 and missing.exists()
    assert CliRunner().invoke(cli, ["status", "--db", str(missing), "--config", config]).exit_code == 0


def test_a_file_that_only_looks_short_while_a_checkpoint_grows_it_is_not_truncated(tmp_path):
    """Another connection's checkpoint writes page 1 before the pages that grow the file."""
    import sqlite3
    import threading
    import time

    from botsvc.store import fileid

    path = tmp_path / "grow.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    conn.commit()
    conn.close()
    full = path.read_bytes()
    identity = fileid.identify(str(path))
    with open(path, "r+b") as handle:
        handle.truncate(len(full) // 2)  # the header still claims the whole file
    grower = threading.Timer(0.15, lambda: path.write_bytes(full))
    grower.start()
    try:
        assert fileid.problem(str(path), identity) is None
    finally:
        grower.join()
    with open(path, "r+b") as handle:
        handle.truncate(len(full) // 2)
    started = time.monotonic()
    found = fileid.problem(str(path), identity)
    assert found is not None and "was truncated" in found and time.monotonic() - started < 5


def test_the_file_check_keeps_its_descriptor_while_any_store_of_the_file_is_open(tmp_path, monkeypatch):
    """Closing any descriptor of the file would drop the process's SQLite locks on it."""
    from botsvc.store import fileid

    path = tmp_path / "held.db"
    first = open_store(path)
    second = open_store(path)

    def descriptors() -> list[str]:
        found = []
        for fd in Path("/proc/self/fd").iterdir():
            try:
                found.append(os.readlink(fd))
            except OSError:
                pass
        return [target for target in found if target == str(path)]

    closed: list[str] = []
    real_close = os.close

    def recording_close(fd: int) -> None:
        try:
            closed.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
        real_close(fd)

    monkeypatch.setattr(fileid.os, "close", recording_close)
    assert descriptors()
    for _ in range(20):
        assert first.file_problem() is None and second.file_problem() is None
    second.close()
    assert str(path) not in closed  # (SQLite defers closing its own while the other connection holds locks)
    first.close()
    assert closed == [str(path)] and descriptors() == []  # the last store's close releases it
