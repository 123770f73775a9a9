"""Read-only commands beside a running bot: nothing lost, nothing posted twice.

    .venv/bin/python benchmarks/fault_beside.py [--rounds 5]

The real ``botsvc run`` polls the five sample feeds from a loopback feed server (their
first answers are staggered over a few seconds, so polls keep writing) and posts to the
console. Beside it, two processes run ``status``, ``search``, ``backup``, ``explain``,
``check-config``, ``recent`` and ``feeds`` ``--rounds`` times each, and ``/healthz`` is
asked every 0.2 s. Then a last backup, a ``kill -9``, and a restart that polls again.

Printed (``name: value``): read-only commands run, database files the bot holds that
were deleted under it (its WAL), events posted, events posted that are missing from the
database or the last backup or not found by ``search`` (``lost``), and events posted
again after the restart (``duplicates posted``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "examples"
POSTED = re.compile(r"^\[event (\d+)\] (.*)$", re.M)
ANY_POST = re.compile(r"^(?:UPDATE )?\[event (\d+)\]", re.M)
DELAYS = (0.0, 1.0, 2.0, 3.0, 4.0)
COMMANDS = (
    ["status"],
    ["search", "Japan"],
    ["backup", "--force"],
    ["explain"],
    ["check-config"],
    ["recent"],
    ["feeds"],
)
LOOP = """
import json, sys
from click.testing import CliRunner
from botsvc.cli import cli
db, config, backup, link, rounds, commands = sys.argv[1:6] + [json.loads(sys.argv[6])]
for n in range(int(rounds)):
    for args in commands:
        args = args + [backup] if args[0] == "backup" else args + [link] if args[0] == "explain" else args
        result = CliRunner().invoke(cli, [*args, "--db", db, "--config", config])
        if result.exit_code != 0 and "has been seen" not in result.output:  # explain before its poll
            print(args, result.exit_code, " ".join(result.output.split()), file=sys.stderr)
"""
LINK = "https://seoulwire.example.org/politics/2019/11/22/gsomia-termination-suspended"


def _wait(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(workdir: Path, base_url: str) -> Path:
    text = re.sub(
        r'\[\[feeds\]\]\nname = "[^"]*"\nurl = "[^"]*"\n', "", (EXAMPLES / "feeds.toml").read_text(encoding="utf-8")
    )
    for n, path in enumerate(sorted((EXAMPLES / "feeds").glob("*.xml"))):
        text += f'[[feeds]]\nname = "Feed {n}"\nurl = "{base_url}/{path.name}"\n\n'
    config = workdir / "feeds.toml"
    config.write_text(text, encoding="utf-8")
    return config


def _start(workdir: Path, config: Path, port: int, name: str) -> tuple[subprocess.Popen, Path, Path]:
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOTSVC_HTTP_PORT": str(port), "BOTSVC_HTTP_HOST": "127.0.0.1"}
    env["BOTSVC_ALLOW_PRIVATE_FEEDS"] = "1"
    for name_ in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN", "DISCORD_WEBHOOK_URL"):
        env.pop(name_, None)
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botsvc", "run", "--db", str(workdir / "bot.db"), "--config", str(config)],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=REPO,
        )
    return proc, out, err


def _cli(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args, "--db", str(workdir / "bot.db"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _deleted(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        count += "bot.db" in target and "(deleted)" in target
    return count


def _polled(err: Path, count: int) -> bool:
    return err.read_text().count("polled 1 feed(s)") >= count


def run_beside(rounds: int = 5) -> dict[str, int]:
    from tests.feedserver import FeedServer

    with tempfile.TemporaryDirectory(prefix="beside-") as tmp, FeedServer() as server:
        workdir = Path(tmp)
        for path, delay in zip(sorted((EXAMPLES / "feeds").glob("*.xml")), DELAYS):
            body = path.read_bytes()
            server.slow(f"/{path.name}", delay, body) if delay else server.static(f"/{path.name}", body)
        config = _config(workdir, server.base_url)
        port = _free_port()
        bot, out, err = _start(workdir, config, port, "first")
        failed_commands = deleted = 0
        try:
            if not _wait(lambda: "polling 5 feed(s)" in err.read_text(), 60):
                raise SystemExit(f"the bot did not start: {err.read_text()}")
            loops = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        LOOP,
                        str(workdir / "bot.db"),
                        str(config),
                        str(workdir / f"b{n}.db"),
                        LINK,
                        str(rounds),
                        json.dumps(COMMANDS),
                    ],
                    cwd=REPO,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for n in range(2)
            ]
            while any(loop.poll() is None for loop in loops):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
                except OSError:
                    pass  # 503 while starting is fine: the point is that it looks at the file
                time.sleep(0.2)
            for loop in loops:
                failures = loop.stderr.read() if loop.stderr else ""
                print(failures, file=sys.stderr, end="")
                failed_commands += len(failures.splitlines())
            _wait(lambda: _polled(err, 5), 60)
            time.sleep(1.0)  # the delivery after the last poll
            _cli(workdir, config, "status")
            _cli(workdir, config, "backup", "--force", str(workdir / "after.db"))
            deleted = _deleted(bot.pid)
            posted = {int(n): title for n, title in POSTED.findall(out.read_text())}
            first_new = [int(n) for n, _ in POSTED.findall(out.read_text())]
        finally:
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=15)

        backup = sqlite3.connect(workdir / "after.db")
        in_backup = {row[0] for row in backup.execute("SELECT id FROM events")}
        backup.close()
        conn = sqlite3.connect(workdir / "bot.db")
        stored = {row[0] for row in conn.execute("SELECT id FROM events")}
        merged = dict(conn.execute("SELECT id, merged_into FROM events WHERE merged_into IS NOT NULL").fetchall())
        conn.close()
        unsearchable = 0
        for event_id, title in posted.items():
            words = re.findall(r"[A-Za-z]{5,}", title)[:2]
            found = event_id
            while found in merged:  # a later report joined it to another event: search shows that one
                found = merged[found]
            unsearchable += f"#{found} " not in _cli(workdir, config, "search", *words).stdout

        again, again_out, again_err = _start(workdir, config, _free_port(), "again")
        try:
            _wait(lambda: _polled(again_err, 5), 60)
            time.sleep(1.0)
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(timeout=15)
        reposted = len(ANY_POST.findall(again_out.read_text()))
    return {
        "beside: read-only commands run": 2 * rounds * len(COMMANDS) + 2,
        "beside: read-only commands failed": failed_commands,
        "beside: database files deleted under the bot": deleted,
        "beside: events posted": len(posted),
        "beside: posted events missing from the database": sum(1 for e in posted if e not in stored),
        "beside: posted events missing from the backup": sum(1 for e in posted if e not in in_backup),
        "beside: posted events not found by search": unsearchable,
        "beside: lost": sum(1 for e in posted if e not in stored or e not in in_backup) + unsearchable,
        "beside: duplicates posted": reposted + len(first_new) - len(set(first_new)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="read-only commands beside a running bot")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.monotonic()
    figures = run_beside(args.rounds)
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(f"run time: {time.monotonic() - started:.0f} s")
    ok = figures["beside: lost"] == 0 and figures["beside: duplicates posted"] == 0
    return 0 if ok and figures["beside: database files deleted under the bot"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
