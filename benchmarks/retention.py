"""How the database grows with a feed whose items change on every poll, with and without pruning.

    .venv/bin/python benchmarks/retention.py                       # 10,000 items, 8 daily polls
    .venv/bin/python benchmarks/retention.py --items 2000 --polls 12 --irrelevant-days 5

One feed of ``--items`` tiny irrelevant items whose GUIDs, links and titles all change on
every poll (as a feed that stamps each item with the time does) is polled once a day
(a simulated clock) through the real cycle (``open_app`` + ``run_cycle``), ``--polls``
times, into two fresh databases: one never pruned, one pruned after every poll as
``botsvc poll --once`` does, with ``[retention] irrelevant_days`` set to
``--irrelevant-days`` (default 3, so that a steady state shows within a few polls; the
shipped default is 30). Bytes are the database file after a WAL checkpoint.

Prints ``name: value`` lines: rows and bytes per 10k items judged without pruning;
rows and bytes after the last poll for both; the growth per 10k items over the last
polls once pruning keeps up (steady state); the slowest prune.
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

from botsvc.config import FeedConfig, RetentionSettings, load_config  # noqa: E402
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


def grow(workdir: Path, items: int, polls: int, retention: RetentionSettings | None) -> list[dict]:
    """Poll the churning feed once a simulated day; after each poll, prune if ``retention`` is given."""
    feed_file = workdir / "ticker.xml"
    feed = FeedConfig(name="Ticker", url=str(feed_file), interval=86400, language=None, topics=())
    config = replace(load_config(REPO / "feeds.toml"), feeds=(feed,), retention=retention or RetentionSettings())
    db = workdir / ("pruned.db" if retention else "unpruned.db")
    app = open_app(REPO / "feeds.toml", db, config=config)
    now = [START]
    app.processor.clock = lambda: now[0]
    stats = []
    try:
        for poll in range(polls):
            now[0] = START + timedelta(days=poll)
            feed_file.write_bytes(churning_feed(poll, items))
            asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
            prune_seconds = 0.0
            if retention is not None:
                started = time.perf_counter()
                prune(app.store, retention, configured_feeds(app.store, config), now[0])
                prune_seconds = time.perf_counter() - started
            rows = app.store.db.execute("SELECT count(*) FROM seen_items").fetchone()[0]
            stats.append({"rows": rows, "bytes": db_bytes(db), "prune": prune_seconds})
    finally:
        app.close()
    return stats


def per_10k(before: int, after: int, items: int) -> float:
    return (after - before) / items * 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items per poll (default 10000)")
    parser.add_argument("--polls", type=int, default=8, help="daily polls (default 8)")
    parser.add_argument("--irrelevant-days", type=float, default=3.0, help="[retention] irrelevant_days (default 3)")
    args = parser.parse_args()
    retention = RetentionSettings(irrelevant_days=args.irrelevant_days)
    with tempfile.TemporaryDirectory() as scratch:
        plain = grow(Path(scratch), args.items, args.polls, None)
        pruned = grow(Path(scratch), args.items, args.polls, retention)
    items, last = args.items, args.polls - 1
    # Steady state: from the first poll whose prune removed a whole earlier poll, to the last.
    steady = min(int(args.irrelevant_days) + 2, last)
    figures = {
        "items per poll": items,
        "daily polls": args.polls,
        "irrelevant_days": args.irrelevant_days,
        "no pruning: rows per 10k items": round(per_10k(0, plain[last]["rows"], items * args.polls)),
        "no pruning: bytes per 10k items": round(per_10k(0, plain[last]["bytes"], items * args.polls)),
        "no pruning: rows after last poll": plain[last]["rows"],
        "no pruning: bytes after last poll": plain[last]["bytes"],
        "pruning: rows after last poll": pruned[last]["rows"],
        "pruning: bytes after last poll": pruned[last]["bytes"],
        "pruning: rows per 10k items (steady state)": round(
            per_10k(pruned[steady]["rows"], pruned[last]["rows"], items * max(1, last - steady))
        ),
        "pruning: bytes per 10k items (steady state)": round(
            per_10k(pruned[steady]["bytes"], pruned[last]["bytes"], items * max(1, last - steady))
        ),
        "rows after pruning / rows without": f"{pruned[last]['rows'] / plain[last]['rows']:.2f}",
        "slowest prune seconds": f"{max(s['prune'] for s in pruned):.2f}",
    }
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
