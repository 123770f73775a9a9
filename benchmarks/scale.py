"""Scale-out: feeds polled per second by 1, 2 and 4 ``botsvc worker`` processes on PostgreSQL,
against the single SQLite process, on the same loopback feeds; database size per 10k items.

    .venv/bin/python benchmarks/scale.py                       # 1,000 feeds x 20 items; 1, 2, 4 workers
    .venv/bin/python benchmarks/scale.py --feeds 200 --workers 1,2

The feeds are poll_speed.py's synthetic news, served from a loopback process. A throwaway
PostgreSQL cluster is started on 127.0.0.1 (tests/pgserver.py: initdb + pg_ctl; durability
off, as for tests, so the figures are an upper bound for a server that fsyncs).

* SQLite: one cold cycle of every feed, as ``botsvc run``/``poll`` does it, into a fresh file.
* PostgreSQL, for each worker count: a fresh database; that many ``botsvc worker``
  processes (``--concurrency`` jobs each, ``--tick 1``) start; timed from the moment all
  have started until every feed has been polled once (every item judged and stored).

Printed, one ``name: value`` line each: feeds/s for SQLite and per worker count, and the
PostgreSQL database's growth per 10,000 items judged (and per 10,000 articles stored), and
per worker count the waits on the placement lock (``pg_advisory_xact_lock`` in
``placement_turn``, each worker's own timing, logged when it stops): how many, and the
highest p50 and p99 of any one worker.
The machine's cores bound the speed-up: judging is CPU work, one process per core at most.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

from pgserver import PostgresServer, running_postgres  # noqa: E402
from poll_speed import FeedServer, bench_config, run_botsvc_cycle  # noqa: E402

INTERVAL = "6h"
"""Every feed's interval: each is due once during a measurement."""


def write_config(directory: Path, server: FeedServer, n_feeds: int) -> Path:
    """The sample configuration's topics with the benchmark's feeds (for the worker processes)."""
    text = (REPO / "examples" / "feeds.toml").read_text(encoding="utf-8")
    text = re.sub(r'\[\[feeds\]\]\nname = "[^"]*"\nurl = "[^"]*"\n+', "", text)
    text = re.sub(r"(?m)^interval = .*$", f'interval = "{INTERVAL}"', text, count=1)
    text += "".join(f'\n[[feeds]]\nname = "outlet-{i:04d}"\nurl = "{server.url(i)}"\n' for i in range(n_feeds))
    path = directory / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


LOCK_LINE = re.compile(r"placement lock: (\d+) wait\(s\), p50 ([\d.]+) ms, p99 ([\d.]+) ms")


def lock_waits(logs: list[Path]) -> tuple[int, float, float]:
    """Waits on the placement lock, and the highest p50 and p99 (ms) any worker logged when it stopped."""
    found = [LOCK_LINE.search(log.read_text(encoding="utf-8", errors="replace")) for log in logs]
    rows = [(int(m[1]), float(m[2]), float(m[3])) for m in found if m]
    if not rows:
        return 0, 0.0, 0.0
    return sum(r[0] for r in rows), max(r[1] for r in rows), max(r[2] for r in rows)


def run_workers(
    pg: PostgresServer, config: Path, n_feeds: int, workers: int, concurrency: int, directory: Path
) -> tuple[float, int, int, int, tuple[int, float, float]]:
    """Seconds to poll every feed once with ``workers`` processes; bytes, items, articles stored; lock waits."""
    from botsvc.store.queue_schema import ensure_queue_schema
    from botsvc.store.store import open_store

    url = pg.create_database(prefix=f"scale{workers}")
    store = open_store(url)  # migrated before the clock starts, as a deployed database is
    ensure_queue_schema(url)
    empty = database_bytes(url)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    level = os.environ.get("SCALE_LOG_LEVEL", "INFO")  # INFO: each worker logs its placement-lock waits at exit
    env.update(BOTSVC_DATABASE_URL=url, BOTSVC_DATABASE_POOL="4", BOTSVC_LOG_LEVEL=level)
    env.pop("BOTSVC_DB", None)
    argv = [sys.executable, "-m", "botsvc", "worker", "--config", str(config), "--tick", "1"]
    argv += ["--concurrency", str(concurrency)]
    logs = [directory / f"worker-{workers}-{i}.log" for i in range(workers)]
    procs = [subprocess.Popen(argv, env=env, stderr=log.open("w"), cwd=directory) for log in logs]
    try:
        while store.query("SELECT count(*) AS n FROM procrastinate_workers")[0]["n"] < workers:
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"scale: a worker exited: {[log.read_text()[-2000:] for log in logs]}")
            time.sleep(0.05)
        start = time.perf_counter()
        while True:
            done = store.query("SELECT count(*) AS n FROM feeds WHERE last_polled_at IS NOT NULL")[0]["n"]
            busy = store.query("SELECT count(*) AS n FROM feeds WHERE poll_queued_at IS NOT NULL")[0]["n"]
            if done >= n_feeds and busy == 0:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"scale: a worker exited: {[log.read_text()[-2000:] for log in logs]}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        items = store.query("SELECT coalesce(sum(items_seen), 0) AS n FROM feeds")[0]["n"]
        articles = store.query("SELECT count(*) AS n FROM articles")[0]["n"]  # workers do not seed
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.close()
    grown = database_bytes(url) - empty
    return elapsed, grown, int(items), int(articles), lock_waits(logs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure (default 1,2,4)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker (default 4)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite baseline")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]

    server = FeedServer(args.feeds, args.items)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
            directory = Path(os.environ.get("SCALE_KEEP") or tmp)
            print(f"feeds: {args.feeds}")
            print(f"items per feed: {args.items}")
            print(f"cores: {os.cpu_count()}")
            if not args.no_sqlite:
                run = run_botsvc_cycle(bench_config(server.base, args.feeds), directory / "sqlite.db")
                print(f"sqlite single process: {args.feeds / run.seconds:.1f} feeds/s ({run.seconds:.1f} s)")
            config = write_config(directory, server, args.feeds)
            with running_postgres() as pg:
                for workers in counts:
                    elapsed, grown, items, articles, (waits, p50, p99) = run_workers(
                        pg, config, args.feeds, workers, args.concurrency, directory
                    )
                    rate = args.feeds / elapsed
                    print(f"postgres {workers} worker(s) x {args.concurrency}: {rate:.1f} feeds/s ({elapsed:.1f} s)")
                    print(f"postgres {workers} worker(s) placement lock waits: {waits}")
                    print(f"postgres {workers} worker(s) placement lock wait p50: {p50:.2f} ms")
                    print(f"postgres {workers} worker(s) placement lock wait p99: {p99:.2f} ms")
                    if workers == counts[-1]:
                        print(f"postgres items judged: {items}")
                        print(f"postgres articles stored: {articles}")
                        print(f"postgres size per 10k items judged: {grown / max(1, items) * 10000 / 1e6:.1f} MB")
                        print(f"postgres size per 10k articles: {grown / max(1, articles) * 10000 / 1e6:.1f} MB")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
