"""Warm-cycle speed: every feed answers 304, so a poll should cost a request and a row update each.

Serves N synthetic feeds (default 1,000 x 20 items) from the loopback server of
``poll_speed.py``, runs one cold cycle to store them (and their ETags), then measures:

* ``warm_in_process_s``: one :func:`~botsvc.service.cycle.run_cycle` over every feed, in
  this process (best of ``--repeat`` runs, the app opened beforehand);
* ``warm_process_s``: a whole ``botsvc poll --once`` process over the same feeds and
  database (start-up, imports, the cycle, delivery and exit; best of ``--repeat``).

``warm_in_process_without_http_cpu_s`` is the same cycle with every answer a ready 304
(no HTTP client, no server): what the cycle itself costs. The other ``_cpu_s`` lines give
the CPU time of the runs above (the loopback server's excluded), steadier than wall time
on a busy machine.

Prints ``name: value`` lines. Run: ``.venv/bin/python benchmarks/warm_cycle.py``;
``--profile FILE`` writes a cProfile of the last in-process warm cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from poll_speed import FeedServer, bench_config, shipped_config_path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def config_text(server: FeedServer, n_feeds: int) -> str:
    """The shipped feeds.toml with the benchmark's feeds in place of its own (for the CLI)."""
    lines, skipping = [], False
    for line in shipped_config_path().read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            skipping = line.strip() == "[[feeds]]"
        if not skipping:
            lines.append(line)
    for i in range(n_feeds):
        lines += ["", "[[feeds]]", f'name = "outlet-{i:04d}"', f'url = "{server.url(i)}"', 'language = "en"']
    return "\n".join(lines) + "\n"


def in_process_cycle(config, db_path: Path, profile: str | None = None) -> tuple[float, float, dict[str, int]]:
    """One cycle as ``botsvc poll`` runs it; returns (seconds, CPU seconds of this process, feeds by status)."""
    from botsvc.service.app import open_app
    from botsvc.service.cycle import run_cycle

    app = open_app(shipped_config_path(), db_path, config=config)
    try:
        app.ensure_seeded()
        targets = app.targets()
        gc.collect()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu_start, start = time.process_time(), time.perf_counter()
        report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, limits=app.config.alerts))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    finally:
        app.close()
    statuses: dict[str, int] = {}
    for feed in report.feeds:
        statuses[feed.status] = statuses.get(feed.status, 0) + 1
    return elapsed, cpu, statuses


def cycle_without_http(config, db_path: Path) -> float:
    """The warm cycle with every answer a ready 304: what the cycle itself costs besides HTTP (CPU seconds)."""
    from unittest import mock

    from botsvc.ingest.fetch import FetchResult
    from botsvc.service import cycle
    from botsvc.service.app import open_app

    async def answered_304(requests, policy, client=None, *, public_only=frozenset(), backlog=None):
        for url, validators in requests:
            if backlog is not None:  # as fetch_many does: the cycle gives the place back
                await backlog.acquire()
            yield FetchResult(url, "not_modified", etag=validators.etag, last_modified=validators.last_modified)

    app = open_app(shipped_config_path(), db_path, config=config)
    try:
        targets = app.targets()
        with mock.patch.object(cycle, "fetch_many", answered_304):
            start = time.process_time()
            report = asyncio.run(
                cycle.run_cycle(app.store, app.processor, targets, app.policy, limits=app.config.alerts)
            )
            cpu = time.process_time() - start
    finally:
        app.close()
    assert all(feed.status == "not_modified" for feed in report.feeds)
    return cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_process(config_path: Path, db_path: Path) -> tuple[float, float]:
    """One ``botsvc poll --once`` process; returns (seconds, its CPU seconds)."""
    env = dict(os.environ, BOTSVC_LOG_LEVEL="ERROR")
    cpu_start, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "botsvc", "poll", "--once", "--config", str(config_path), "--db", str(db_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
    if done.returncode != 0:
        raise SystemExit(f"warm_cycle: botsvc poll failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000, help="number of feeds (default 1000)")
    parser.add_argument("--items", type=int, default=20, help="items per feed (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs of each kind; the best is printed")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the last in-process warm cycle")
    args = parser.parse_args(argv)

    server = FeedServer(args.feeds, args.items)
    try:
        config = bench_config(server.base, args.feeds)
        with tempfile.TemporaryDirectory(prefix="warm-cycle-") as tmp:
            db_path = Path(tmp) / "bench.db"
            config_path = Path(tmp) / "feeds.toml"
            config_path.write_text(config_text(server, args.feeds), encoding="utf-8")
            cold, _, _ = in_process_cycle(config, db_path)
            warm_runs: list[tuple[float, float]] = []
            statuses: dict[str, int] = {}
            for n in range(args.repeat):
                last = n == args.repeat - 1
                seconds, cpu, statuses = in_process_cycle(config, db_path, args.profile if last else None)
                warm_runs.append((seconds, cpu))
            process_runs = [whole_process(config_path, db_path) for _ in range(args.repeat)]
            without_http = min(cycle_without_http(config, db_path) for _ in range(args.repeat))
    finally:
        server.close()

    print(f"feeds: {args.feeds}")
    print(f"cold_in_process_s: {cold:.2f}")
    print(f"warm_feeds_not_modified: {statuses.get('not_modified', 0)}")
    print(f"warm_feeds_other: {sum(statuses.values()) - statuses.get('not_modified', 0)}")
    print(f"warm_in_process_s: {min(warm_runs)[0]:.3f}")
    print(f"warm_in_process_cpu_s: {min(cpu for _, cpu in warm_runs):.3f}")
    print(f"warm_in_process_without_http_cpu_s: {without_http:.3f}")
    print(f"warm_process_s: {min(process_runs)[0]:.3f}")
    print(f"warm_process_cpu_s: {min(cpu for _, cpu in process_runs):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
