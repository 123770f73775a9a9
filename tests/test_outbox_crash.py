"""A process killed between writing the outbox and sending loses nothing and posts once (on both databases)."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"

QUEUE_THEN_DIE = textwrap.dedent("""
    import asyncio, os, signal, sys
    from botsvc.service.app import open_app
    from botsvc.service.cycle import run_cycle
    from botsvc.deliver.delivery import queue_digests

    app = open_app(sys.argv[1], sys.argv[2])
    app.ensure_seeded()
    app.sync_subscriptions()
    asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy, limits=app.config.alerts))
    queued = queue_digests(app.store, app.config, app.processor.clock())
    print("queued", len(queued), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # after the outbox write, before any send
""")


def botsvc(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_killed_after_queueing_the_message_is_sent_after_restart_once(tmp_path, db_at):
    db = db_at("crash.db")  # a file, or a PostgreSQL URL the processes share
    killed = subprocess.run(
        [sys.executable, "-c", QUEUE_THEN_DIE, str(EXAMPLES), db],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "queued 1" in killed.stdout and "[event " not in killed.stdout

    status = botsvc("status", "--db", db, cwd=tmp_path)
    assert "1 pending" in status.stdout

    restarted = botsvc("poll", "--once", "--db", db, "--config", str(EXAMPLES), cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    headers = restarted.stdout.count("== ")
    assert headers == 1 and restarted.stdout.count("[event ") >= 5

    again = botsvc("poll", "--once", "--db", db, "--config", str(EXAMPLES), cwd=tmp_path)
    assert again.returncode == 0 and "[event " not in again.stdout
    assert "0 pending" in botsvc("status", "--db", db, cwd=tmp_path).stdout
