"""Read-only commands beside a running bot leave its database whole.

On POSIX, closing any descriptor of a file drops every advisory lock the process holds
on it. A bot that opened its own database file outside SQLite (and closed it again) lost
its locks, so the next read-only command to close the database believed it was the last
user, checkpointed and deleted the write-ahead log under the bot: every later write went
into a deleted file (not searchable, missing from backups, re-posted after a kill -9).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner
from feedserver import FeedServer
from processes import free_port, wait_for

from botsvc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
POSTED = re.compile(r"^\[event (\d+)\] (.*)$", re.M)
ANY_POST = re.compile(r"\[event \d+\]")

#: Seconds each sample feed's first answer waits: polls (and their writes) keep landing
#: while the read-only commands run beside the bot.
DELAYS = (0.0, 1.0, 2.0, 3.0, 4.0)

#: Read-only commands run beside the bot; each opens and closes the database.
LOOP = """
import sys
from click.testing import CliRunner
from botsvc.cli import cli
db, config, backup, link, rounds = sys.argv[1:6]
for n in range(int(rounds)):
    for args in (["status"], ["search", "Japan"], ["backup", "--force", backup], ["explain", link], ["check-config"],
                 ["recent"], ["feeds"]):
        result = CliRunner().invoke(cli, [*args, "--db", db, "--config", config])
        if result.exit_code != 0 and "has been seen" not in result.output:  # explain before its poll
            print(args, result.exit_code, " ".join(result.output.split()), file=sys.stderr)
"""


def _config(tmp_path: Path, server: FeedServer, delays: tuple[float, ...]) -> Path:
    text = re.sub(r'\[\[feeds\]\]\nname = "[^"]*"\nurl = "[^"]*"\n', "", (EXAMPLES / "feeds.toml").read_text("utf-8"))
    for n, (path, delay) in enumerate(zip(sorted((EXAMPLES / "feeds").glob("*.xml")), delays)):
        body = path.read_bytes()
        url = server.slow(f"/{path.name}", delay, body) if delay else server.static(f"/{path.name}", body)
        text += f'[[feeds]]\nname = "Feed {n}"\nurl = "{url}"\n\n'
    config = tmp_path / "feeds.toml"
    config.write_text(text, encoding="utf-8")
    return config


def _start(tmp_path: Path, config: Path, port: int, name: str) -> tuple[subprocess.Popen, Path, Path]:
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "BOTSVC_HTTP_PORT": str(port),
        "BOTSVC_ALLOW_PRIVATE_FEEDS": "1",
    }
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(tmp_path / "bot.db"), "--config", str(config)],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=tmp_path,
        )
    return proc, out, err


def _deleted_database_files(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if "bot.db" in target and "(deleted)" in target:
            found.append(target)
    return found


def _cli(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args, "--db", str(tmp_path / "bot.db"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def _current_event(conn: sqlite3.Connection, event_id: int) -> int:
    """The event that now holds ``event_id``'s reports (itself unless it was merged)."""
    while True:
        row = conn.execute("SELECT merged_into FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None or row[0] is None:
            return event_id
        event_id = row[0]


def test_read_only_commands_beside_a_running_bot_lose_nothing_and_post_nothing_twice(tmp_path):
    link = "https://seoulwire.example.org/politics/2019/11/22/gsomia-termination-suspended"
    with FeedServer() as server:
        config = _config(tmp_path, server, DELAYS)
        port = free_port()
        bot, out, err = _start(tmp_path, config, port, "first")
        try:
            assert wait_for(lambda: "polling 5 feed(s)" in err.read_text(), 30), err.read_text()
            # Two processes loop over the read-only commands while the polls land; the
            # container's health check asks /healthz meanwhile.
            loops = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        LOOP,
                        str(tmp_path / "bot.db"),
                        str(config),
                        str(tmp_path / f"b{n}.db"),
                        link,
                        "4",
                    ],
                    cwd=tmp_path,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for n in range(2)
            ]
            while any(loop.poll() is None for loop in loops):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                wait_for(lambda: False, 0.2)
            for loop in loops:
                assert loop.returncode == 0 and not loop.stderr.read(), "a read-only command failed"  # type: ignore[union-attr]
            assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5, 30), err.read_text()
            assert wait_for(lambda: len(POSTED.findall(out.read_text())) >= 1, 10)
            # Both closes of a read-only command after the last poll.
            for args in (["status"], ["backup", "--force", str(tmp_path / "after.db")]):
                assert _cli(tmp_path, config, *args).returncode == 0
            assert _deleted_database_files(bot.pid) == []
            assert Path(f"{tmp_path / 'bot.db'}-wal").exists()
            posted = {int(n): title for n, title in POSTED.findall(out.read_text())}
        finally:
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=15)

        # Every story the bot posted is in the database and the backup, and searchable (the
        # bot is gone: the rest may run in this process).
        backup = sqlite3.connect(tmp_path / "after.db")
        in_backup = {row[0] for row in backup.execute("SELECT id FROM events")}
        stored_backup = backup.execute("SELECT count(*) FROM articles").fetchone()[0]
        backup.close()
        assert set(posted) <= in_backup
        conn = sqlite3.connect(tmp_path / "bot.db")
        stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        delivered = conn.execute("SELECT count(*) FROM outbox WHERE status = 'delivered'").fetchone()[0]
        # A posted event that a later report of its story merged into an older one answers as that one.
        now_in = {event_id: _current_event(conn, event_id) for event_id in posted}
        conn.close()
        assert stored == stored_backup and delivered >= 1
        for event_id, title in posted.items():
            words = [w for w in re.findall(r"[A-Za-z]{5,}", title)][:2]
            found = CliRunner().invoke(
                cli, ["search", *words, "--db", str(tmp_path / "bot.db"), "--config", str(config)]
            )
            assert f"#{now_in[event_id]} " in found.stdout, (title, found.stdout)

        # Restarted after the kill -9: nothing is posted again.
        again, again_out, again_err = _start(tmp_path, config, free_port(), "again")
        try:
            assert wait_for(lambda: again_err.read_text().count("polled 1 feed(s)") >= 5, 30), again_err.read_text()
            wait_for(lambda: False, 1.0)  # let delivery run
        finally:
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=15) == 0
        assert ANY_POST.findall(again_out.read_text()) == []
        conn = sqlite3.connect(tmp_path / "bot.db")
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == stored
        conn.close()
