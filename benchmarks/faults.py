"""Kill and outage: nothing lost, nothing posted twice.

    .venv/bin/python benchmarks/faults.py [--kills 50] [--seed 1]

Both parts run the real ``botsvc poll --once`` as subprocesses against a loopback
feed server (the five labelled sample feeds of ``examples/``) and a loopback Slack Web
API mock, with one Slack subscription.

1. **Kill loop**: ``--kills`` times, a poll is started and killed with SIGKILL after a
   random delay between zero and the time one whole poll takes here (so at start-up,
   while fetching, storing, queueing or sending). The feeds change between runs: each
   reveals more of its items, oldest first,
   until all are served. Two unkilled polls follow. Then every labelled-relevant item
   must be stored exactly once and every event posted as a new alert exactly once.
2. **Outage**: the Slack mock answers 500 (then 429 with Retry-After) for a stretch of
   polls while new stories arrive; it then recovers. Every held message must be
   delivered, once, in the order it was queued.

Printed: items expected, items stored, items stored twice, alerts expected, alerts
posted, duplicates posted (events alerted as new more than once), parts posted twice (one
outbox key accepted twice, from the posts' message metadata), updates posted (update lines
and later reports in an event's thread, which are not alerts), lost (items + events), and
for the outage messages held, delivered after recovery, out of order.

Then, each from its own module (also runnable alone):

3. **Beside** (``fault_beside.py``): ``botsvc run`` polls while two processes run the
   read-only commands (status, search, backup, explain, check-config, ...) ``--rounds``
   times beside it; then a backup, a ``kill -9`` and a restart. Every posted event must be
   in the database, the backup and ``search``; nothing posted again; its WAL never deleted.
4. **Poison** (``fault_poison.py``): one message the chat API answers with garbage among
   100 good ones; all 100 must be delivered and the poison marked failed.
5. **Flood** (``fault_flood.py``): a 10 MB feed of 16,371 relevant items; alerts capped
   per feed and per channel, the rest counted in one line.
6. **SSRF** (``fault_ssrf.py``): every spelling of an internal address as a feed or a
   redirect target; every one refused, no request reaching the target.

``--only kill,outage`` runs a subset (the suite's short run does).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.slackmock import SlackMock  # noqa: E402

EXAMPLES = REPO / "examples"
STAGES = 10
ITEM = re.compile(rb"<(item|entry)>.*?</\1>", re.S)


class ChangingFeeds:
    """Serves each sample feed with a growing share of its items (oldest first)."""

    def __init__(self) -> None:
        self.stage = 0
        self.feeds = {p.name: p.read_bytes() for p in sorted((EXAMPLES / "feeds").glob("*.xml"))}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = owner.render(self.path.lstrip("/"))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self, name: str) -> bytes | None:
        raw = self.feeds.get(name)
        if raw is None:
            return None
        items = list(ITEM.finditer(raw))
        keep = len(items) * min(self.stage, STAGES) // STAGES
        shown = items[len(items) - keep :] if keep else []
        start, end = (items[0].start(), items[-1].end()) if items else (len(raw), len(raw))
        return raw[:start] + b"\n".join(m.group(0) for m in shown) + raw[end:]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


def write_config(directory: Path, feeds: ChangingFeeds) -> Path:
    text = (EXAMPLES / "feeds.toml").read_text(encoding="utf-8")
    text = re.sub(r'url = "feeds/([^"]+)"', lambda m: f'url = "{feeds.url(m.group(1))}"', text)
    text += '\n[[subscriptions]]\nplatform = "slack"\nchannel = "C0FAULTS"\n'
    path = directory / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def poll(config: Path, db: Path, env: dict[str, str], kill_after: float | None = None) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "botsvc", "poll", "--once", "--db", str(db), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    if kill_after is None:
        _, err = proc.communicate(timeout=120)
        if proc.returncode:
            print(f"# poll failed: {err.decode(errors='replace').strip()}", file=sys.stderr)
        return proc.returncode
    try:
        proc.wait(timeout=kill_after)
        return proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return -9


def posted_alerts(slack: SlackMock) -> tuple[list[str], list[str]]:
    """(headline links posted as new alerts, links posted as updates), in post order.

    An update is an update line in the channel, or a later report posted in its event's
    thread (a post with a ``thread_ts``): neither is the event alerted again."""
    new, updates = [], []
    for call in slack.calls:
        if not call.path.endswith("chat.postMessage") or call.status != 200:
            continue
        in_thread = bool(call.body.get("thread_ts"))
        for block in call.body.get("blocks", []):
            text = (block.get("text") or {}).get("text", "") if block.get("type") == "section" else ""
            link = re.search(r"<(https?://[^|>]+)\|", text)
            if link:
                (updates if in_thread or text.startswith("Update:") else new).append(
                    link.group(1).replace("&amp;", "&")
                )
    return new, updates


def parts_posted_twice(slack: SlackMock) -> int:
    """Posts accepted for an outbox key (message metadata) already posted: a double post of one part."""
    keys = Counter(
        ((call.body.get("metadata") or {}).get("event_payload") or {}).get("key")
        for call in slack.calls
        if call.path.endswith("chat.postMessage") and call.status == 200
    )
    return sum(count - 1 for key, count in keys.items() if key and count > 1)


def expected_items() -> set[tuple[str, str]]:
    labels = json.loads((EXAMPLES / "labels.json").read_text(encoding="utf-8"))["items"]
    return {(label["feed"], label["guid"]) for label in labels if label["relevant"]}


def kill_loop(kills: int, rng: random.Random, workdir: Path) -> dict[str, int]:
    feeds = ChangingFeeds()
    config = write_config(workdir, feeds)
    db = workdir / "kill.db"
    with SlackMock() as slack:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-faults", "BOTSVC_SLACK_API_URL": slack.base_url}
        # How long one poll takes here, so that the kills land inside polls.
        feeds.stage = STAGES
        started = time.monotonic()
        poll(config, workdir / "calibration.db", env)
        span = time.monotonic() - started
        slack.calls.clear()
        killed = 0
        for n in range(kills):
            feeds.stage = 1 + n * (STAGES - 1) // kills
            killed += poll(config, db, env, kill_after=rng.uniform(0.0, span)) == -9
        feeds.stage = STAGES
        poll(config, db, env)
        poll(config, db, env)
        new, updates = posted_alerts(slack)
        twice = parts_posted_twice(slack)
    conn = sqlite3.connect(db)
    file_of = {name: feeds_url.rsplit("/", 1)[1] for name, feeds_url in conn.execute("SELECT name, url FROM feeds")}
    stored = Counter(
        (file_of.get(feed, feed), guid)
        for feed, guid in conn.execute("SELECT feed, guid FROM articles WHERE feed != 'seed'")
    )
    # An item is kept when its GUID key leads to a stored article: its own, or the one it
    # exactly repeats (same link as another outlet's item).
    kept = {
        (file_of.get(key.split(":", 1)[1].split("\x1f")[0]), key.split("\x1f", 1)[1])
        for (key,) in conn.execute("SELECT key FROM seen_items WHERE key LIKE 'guid:%' AND article_id IS NOT NULL")
    }
    event_of = dict(conn.execute("SELECT url, event_id FROM articles"))
    events = {row[0] for row in conn.execute("SELECT id FROM events WHERE seeded = 0")}
    pending = conn.execute("SELECT count(*) FROM outbox WHERE status != 'delivered'").fetchone()[0]
    conn.close()
    expected = expected_items()
    alerted = Counter(event_of.get(link) for link in new)
    return {
        "kills": killed,
        "items expected": len(expected),
        "items stored": sum(1 for key in expected if key in kept),
        "items stored twice": sum(1 for count in stored.values() if count > 1),
        "alerts expected": len(events),
        "alerts posted": sum(1 for e in events if alerted[e] >= 1),
        "duplicates posted": sum(count - 1 for e, count in alerted.items() if count > 1),
        "parts posted twice (same outbox key)": twice,
        "updates posted (update lines and thread replies)": len(updates),
        "messages still pending": pending,
        "lost": sum(1 for key in expected if key not in kept) + sum(1 for e in events if alerted[e] == 0),
    }


def outage(workdir: Path) -> dict[str, int]:
    feeds = ChangingFeeds()
    config = write_config(workdir, feeds)
    db = workdir / "outage.db"
    with SlackMock() as slack:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-faults", "BOTSVC_SLACK_API_URL": slack.base_url}
        slack.down = (500, {}, {"ok": False, "error": "internal_error"})
        for stage in (3, 5, 7):
            feeds.stage = stage
            poll(config, db, env)
        slack.down = (429, {"Retry-After": "120"}, {"ok": False, "error": "ratelimited"})
        feeds.stage = STAGES
        poll(config, db, env)
        conn = sqlite3.connect(db)
        held = conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        order = [row[0] for row in conn.execute("SELECT id FROM outbox ORDER BY id")]
        conn.execute("UPDATE outbox SET next_attempt_at = created_at")  # the Retry-After has passed
        conn.commit()
        conn.close()
        slack.down = None
        poll(config, db, env)
        poll(config, db, env)
        successes = [call for call in slack.calls if call.path.endswith("chat.postMessage") and call.status == 200]
    conn = sqlite3.connect(db)
    delivered = conn.execute("SELECT id FROM outbox WHERE status = 'delivered' ORDER BY delivered_at, id")
    delivered_ids = [row[0] for row in delivered]
    conn.close()
    return {
        "outage: failed posts answered 500/429": sum(
            1 for c in slack.calls if c.path.endswith("chat.postMessage") and c.status != 200
        ),
        "outage: messages held": held,
        "outage: messages queued in total": len(order),
        "outage: delivered after recovery": len(delivered_ids),
        "outage: posts after recovery": len(successes),
        "outage: delivered out of order": sum(1 for a, b in zip(delivered_ids, delivered_ids[1:]) if a > b),
        "outage: lost": len(order) - len(delivered_ids),
    }


SCENARIOS = ("kill", "outage", "beside", "poison", "flood", "ssrf")


def _passed(figures: dict[str, object]) -> bool:
    """Whether every scenario that ran met its target."""
    checks = {
        "lost": 0,
        "duplicates posted": 0,
        "beside: lost": 0,
        "beside: duplicates posted": 0,
        "beside: database files deleted under the bot": 0,
        "beside: read-only commands failed": 0,
        "parts posted twice (same outbox key)": 0,
        "outage: lost": 0,
        "poison: blocked": 0,
        "ssrf: requests reaching the target": 0,
        "ssrf: got through": 0,
        "flood: alerts posted by the repeat poll (new GUIDs and links)": 0,
    }
    if figures.get("poison: delivered", 100) != figures.get("poison: good messages", 100):
        return False
    return all(figures.get(name, target) == target for name, target in checks.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="kill loop, chat outage, poison message, flood feed, SSRF")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of read-only commands beside a running bot")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all of {', '.join(SCENARIOS)})",
    )
    args = parser.parse_args(argv)
    chosen = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = chosen - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    rng = random.Random(args.seed)
    started = time.monotonic()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        if "kill" in chosen:
            figures.update(kill_loop(args.kills, rng, Path(tmp)))
        if "outage" in chosen:
            figures.update(outage(Path(tmp)))
    if "beside" in chosen:
        from fault_beside import run_beside

        figures.update(run_beside(args.rounds))
    if "poison" in chosen:
        from fault_poison import run_poison

        figures.update(run_poison())
    if "flood" in chosen:
        from fault_flood import run_flood

        figures.update({f"flood: {name}": value for name, value in run_flood().items()})
    if "ssrf" in chosen:
        from fault_ssrf import run_ssrf

        ssrf = run_ssrf()
        figures.update(
            {
                "ssrf: forms tried": ssrf["tried"],
                "ssrf: refused": ssrf["refused"],
                "ssrf: requests reaching the target": ssrf["reaching"],
                "ssrf: got through": len(ssrf["through"]),  # type: ignore[arg-type]
            }
        )
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(f"run time: {time.monotonic() - started:.0f} s")
    return 0 if _passed(figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
