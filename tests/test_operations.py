"""Running it: /healthz and /metrics, SIGTERM during a slow poll, JSON logs, backups."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from click.testing import CliRunner
from processes import free_port, wait_for

from botsvc.cli import cli
from botsvc.service.health import Health, max_age_for
from botsvc.service.metrics import Metrics
from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


def start_run(tmp_path, config, port, **extra_env):
    err = tmp_path / "run.err"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOTSVC_HTTP_PORT": str(port), **extra_env}
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(tmp_path / "run.db"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    return proc, err


def test_healthz_and_metrics_of_a_running_bot(tmp_path):
    port = free_port()
    proc, err = start_run(tmp_path, EXAMPLES, port)
    try:
        assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5), err.read_text()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["database"] == "ok" and body["scheduler"] == "running"
        assert body["polls"] == "ok" and body["last_successful_poll_age_seconds"] < 60

        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for name in (
            'botsvc_feeds_polled_total{feed="Seoul Wire",outcome="ok"} 1.0',
            'botsvc_items_total{decision="new"}',
            'botsvc_items_total{decision="irrelevant"} 14.0',
            "botsvc_events_opened_total",
            "botsvc_messages_delivered_total",
            'botsvc_messages_queued{status="pending"} 0.0',
            "botsvc_cycle_duration_seconds_count 5.0",
            "botsvc_last_successful_poll_timestamp_seconds",
        ):
            assert name in text, name
        check = subprocess.run(
            [sys.executable, "-m", "botsvc", "healthcheck"],
            capture_output=True,
            text=True,
            env={**os.environ, "BOTSVC_HTTP_PORT": str(port)},
            timeout=30,
        )
        assert check.returncode == 0 and '"status": "ok"' in check.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_sigterm_during_a_slow_poll_exits_0_within_10_seconds(tmp_path, feed_server):
    url = feed_server.trickle("/slow.xml", (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes(), 0.05)
    config = tmp_path / "slow.toml"
    config.write_text(
        EXAMPLES.read_text().split("[[feeds]]")[0]
        + f'[[feeds]]\nname = "Slow"\nurl = "{url}"\n\n'
        + "[topics"
        + EXAMPLES.read_text().split("[topics", 1)[1]
    )
    proc, err = start_run(tmp_path, config, free_port())
    try:
        assert wait_for(lambda: feed_server.requests_to("/slow.xml")), err.read_text()
        time.sleep(0.5)  # the poll is now reading the trickling body
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    log = err.read_text()
    assert "stopping" in log and "stopped" in log and "Traceback" not in log
    store = open_store(tmp_path / "run.db")
    state = store.feed_state("Slow")
    assert state is None or state.etag is None  # the cancelled poll stored nothing half-done
    store.close()


def test_json_logs(tmp_path):
    proc, err = start_run(tmp_path, EXAMPLES, free_port(), BOTSVC_LOG_FORMAT="json")
    try:
        assert wait_for(lambda: "polled 1 feed(s)" in err.read_text()), err.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("polled 1 feed(s)" in line["message"] for line in lines)


def test_health_report_states(tmp_path):
    store = open_store(tmp_path / "h.db")
    now = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    health = Health(store, Metrics(store), lambda: True, max_age_for([60, 600]), now[0], clock=lambda: now[0])
    assert health.max_age == 900
    assert health.report()[0] and health.report()[1]["polls"] == "starting"
    now[0] += timedelta(seconds=1000)
    assert not health.report()[0] and health.report()[1]["polls"] == "none yet"
    health.last_success = now[0] - timedelta(seconds=10)
    assert health.report()[0]
    health.scheduler_running = lambda: False
    assert not health.report()[0]
    store.close()
    health.scheduler_running = lambda: True
    assert health.report()[1]["database"].startswith("error")


def test_backup_while_open_and_restore_round_trip(tmp_path):
    db = tmp_path / "live.db"
    assert CliRunner().invoke(cli, ["poll", "--once", "--db", str(db), "--config", str(EXAMPLES)]).exit_code == 0
    writer = sqlite3.connect(db)  # another connection stays open, as a running bot's would
    copy = tmp_path / "backup.db"
    result = CliRunner().invoke(cli, ["backup", str(copy), "--db", str(db)])
    assert result.exit_code == 0 and "integrity ok" in result.stdout
    again = CliRunner().invoke(cli, ["backup", str(copy), "--db", str(db)])
    assert again.exit_code == 1 and "exists" in again.stderr
    writer.close()

    restored = tmp_path / "restored.db"
    restored.write_bytes(copy.read_bytes())
    original, back = open_store(db), open_store(restored)
    assert original.counts() == back.counts()
    search = CliRunner().invoke(cli, ["search", "gsomia", "--db", str(restored), "--config", str(EXAMPLES)])
    assert "GSOMIA" in search.stdout
    original.close()
    back.close()


def test_backup_of_a_missing_database_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no database here" in result.stderr
