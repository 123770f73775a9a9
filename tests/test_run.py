"""`botsvc run`: scheduled polling in a real subprocess, stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(tmp_path):
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(tmp_path / "run.db"),
             "--config", str(ROOT / "examples" / "feeds.toml")],
            stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
