"""A short run of benchmarks/faults.py: SIGKILLs during polls and a chat outage lose nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kill_loop_and_outage_lose_nothing_and_post_nothing_twice():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "faults.py"),
            "--kills",
            "6",
            "--seed",
            "3",
            "--only",
            "kill,outage",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    figures = dict(line.rsplit(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert figures["lost"] == "0" and figures["duplicates posted"] == "0" and figures["items stored twice"] == "0"
    assert figures["parts posted twice (same outbox key)"] == "0"
    assert figures["items stored"] == figures["items expected"]
    assert figures["alerts posted"] == figures["alerts expected"]
    assert figures["outage: lost"] == "0" and figures["outage: delivered out of order"] == "0"
    assert int(figures["kills"]) >= 3
