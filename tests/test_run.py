"""`botsvc run`: scheduled polling in a real subprocess, stopped by SIGTERM."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(tmp_path):
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botsvc",
                "run",
                "--db",
                str(tmp_path / "run.db"),
                "--config",
                str(ROOT / "examples" / "feeds.toml"),
            ],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            # One job per feed runs at start-up; each prints its new events.
            assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5), err.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    log = err.read_text()
    assert "seeded archive: 5 article(s)" in log
    assert "stopping" in log and "stopped" in log and "Traceback" not in log
    assert out.read_text().count("[event ") >= 5  # rewrites by other outlets fold into these


def test_run_answers_a_signed_slack_slash_command_on_its_http_port(tmp_path):
    import httpx

    from tests.slackmock import SlackMock
    from tests.test_slack_commands import slack_signature, slash_body

    port = free_port()
    err = tmp_path / "err.txt"
    with SlackMock() as slack, err.open("w") as stderr:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            PYTHONUNBUFFERED="1",
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="s3cret",
            BOTSVC_SLACK_API_URL=slack.base_url,
            BOTSVC_HTTP_PORT=str(port),
            BOTSVC_HTTP_HOST="127.0.0.1",
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botsvc",
                "run",
                "--db",
                str(tmp_path / "run.db"),
                "--config",
                str(ROOT / "examples" / "feeds.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        try:
            assert wait_for(lambda: "HTTP on 127.0.0.1" in err.read_text()), err.read_text()
            body = slash_body(slack, "search gsomia")
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": slack_signature("s3cret", stamp, body),
            }
            url = f"http://127.0.0.1:{port}/slack/events"
            answer = httpx.post(url, content=body, headers=headers, timeout=10)
            assert answer.status_code == 200 and "GSOMIA" in answer.text
            forged = httpx.post(
                url, content=body, headers={**headers, "X-Slack-Signature": "v0=" + "0" * 64}, timeout=10
            )
            assert forged.status_code == 401
            replayed = httpx.post(url, content=body, headers=headers, timeout=10)
            assert replayed.status_code == 409
            # Remembered in the database, for any other web process on it (and after a restart).
            # Recorded by the intake thread just after the answer: wait for it.
            db = sqlite3.connect(tmp_path / "run.db")
            try:
                stored = lambda: db.execute("SELECT signature FROM request_replays").fetchall()  # noqa: E731
                assert wait_for(lambda: stored() != [], timeout=20), err.read_text()
                assert stored() == [(headers["X-Slack-Signature"],)]
            finally:
                db.close()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "Traceback" not in err.read_text()


def test_sighup_stops_run_cleanly_like_sigterm(tmp_path):
    err = tmp_path / "err.txt"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botsvc",
                "run",
                "--db",
                str(tmp_path / "run.db"),
                "--config",
                str(ROOT / "examples" / "feeds.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert wait_for(lambda: "polling 5 feed(s)" in err.read_text()), err.read_text()
            proc.send_signal(signal.SIGHUP)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    log = err.read_text()
    assert "SIGHUP: stopping cleanly" in log and "stopped" in log and "Traceback" not in log
