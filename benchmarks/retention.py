"""How the database grows with a feed whose items all change on every poll.

    .venv/bin/python benchmarks/retention.py                      # 10,000 items, 8 polls 15 minutes apart
    .venv/bin/python benchmarks/retention.py --items 80000 --polls 3   # about 9 MB a body (the cap is 10 MB)

One feed of ``--items`` tiny irrelevant items whose GUIDs, links and titles all change on
every poll (as a feed that stamps each item with the time does) is polled ``--polls``
times, ``--interval`` minutes apart on a simulated clock (default 15, the interval of
feeds added from chat), through the real cycle (``open_app`` + ``run_cycle``) into a
fresh database with the shipped ``[retention]``. No prune runs between polls (``botsvc
run`` prunes once a day); one runs after the last poll. Bytes are the database file
after a WAL checkpoint.

Prints ``name: value`` lines: seen keys after the first and the last poll; bytes the
first body's keys added, per 10k items; the growth per 10k churned items from the first
poll to the last (target: at most 1 MB); the file after the last poll; the slowest poll
and the prune.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from botsvc.config import FeedConfig, load_config  # noqa: E402
from botsvc.service.app import open_app  # noqa: E402
from botsvc.service.cycle import run_cycle  # noqa: E402
from botsvc.store.retention import configured_feeds, prune  # noqa: E402

START = datetime(2026, 1, 1, 6, 0, tzinfo=timezone.utc)


def churning_feed(poll: int, items: int) -> bytes:
    entries = "".join(
        f"<item><title>Market ticker {poll}.{n}</title><link>https://ticker.example/{poll}/{n}</link>"
        f"<guid>t-{poll}-{n}</guid></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Ticker</title>{entries}</channel></rss>'.encode()


def db_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def seen_keys(conn: sqlite3.Connection) -> int:
    """Seen keys of every kind the schema has (full strings, and hashes where there are)."""
    tables = [
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name IN ('seen_items', 'seen_hashes')")
    ]
    return sum(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables)


def grow(workdir: Path, items: int, polls: int, interval: timedelta) -> dict:
    """Poll the churning feed ``polls`` times, ``interval`` apart; prune once at the end."""
    feed_file = workdir / "ticker.xml"
    feed = FeedConfig(
        name="Ticker", url=str(feed_file), interval=int(interval.total_seconds()), language=None, topics=()
    )
    config = replace(load_config(REPO / "feeds.toml"), feeds=(feed,))
    db = workdir / "churn.db"
    app = open_app(REPO / "feeds.toml", db, config=config)
    now = [START]
    app.processor.clock = lambda: now[0]
    polled = []
    empty = db_bytes(db)
    try:
        for poll in range(polls):
            now[0] = START + poll * interval
            feed_file.write_bytes(churning_feed(poll, items))
            started = time.perf_counter()
            report = asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
            seconds = time.perf_counter() - started
            if report.feeds[0].status != "ok":
                raise SystemExit(f"retention.py: poll {poll + 1} failed: {report.feeds[0].error}")
            polled.append({"keys": seen_keys(app.store.db.conn), "bytes": db_bytes(db), "seconds": seconds})
        started = time.perf_counter()
        pruned = prune(app.store, config.retention, configured_feeds(app.store, config), now[0])
        prune_seconds = time.perf_counter() - started
    finally:
        app.close()
    return {"empty": empty, "polls": polled, "pruned": pruned.removed, "prune seconds": prune_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items per poll (default 10000)")
    parser.add_argument("--polls", type=int, default=8, help="polls (default 8, at least 2)")
    parser.add_argument("--interval", type=float, default=15.0, help="minutes between polls (default 15)")
    args = parser.parse_args()
    polls = max(2, args.polls)
    with tempfile.TemporaryDirectory() as scratch:
        run = grow(Path(scratch), args.items, polls, timedelta(minutes=args.interval))
    first, last, items = run["polls"][0], run["polls"][-1], args.items
    churned = items * (polls - 1)
    figures = {
        "items per poll": items,
        "polls": polls,
        "minutes between polls": args.interval,
        "seen keys after first poll": first["keys"],
        "seen keys after last poll": last["keys"],
        "bytes per 10k items in one body": round((first["bytes"] - run["empty"]) / items * 10_000),
        "growth per 10k churned items (bytes)": round((last["bytes"] - first["bytes"]) / churned * 10_000),
        "bytes after last poll": last["bytes"],
        "slowest poll seconds": f"{max(p['seconds'] for p in run['polls']):.2f}",
        "keys pruned after last poll": run["pruned"],
        "prune seconds": f"{run['prune seconds']:.2f}",
    }
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
