"""HTTP client cost per request as the number of feeds (and so the connection pool) grows.

A loopback aiohttp server in its own process serves N small RSS feeds, spread over
``--origins`` listening ports so that, as with real feeds on many hosts, the client
keeps many connections open at once. ``botsvc.ingest.fetch.fetch_many`` then fetches
them all twice: cold (every feed answers 200 with a body) and warm (every conditional
GET answers 304). The client's cost is the CPU time of this process per request (the
server runs elsewhere), which must stay flat from 100 to 1,000 feeds.

    .venv/bin/python benchmarks/fetch_speed.py [--sizes 100,300,1000] [--origins 200]

Prints ``name: value`` lines: ``<cold|warm>_<n>_rps`` (requests per second),
``<cold|warm>_<n>_cpu_us_per_request`` and ``cpu_per_request_ratio_<max>_vs_<min>``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ITEMS = 20


def _feed(i: int) -> bytes:
    items = "".join(
        f"<item><title>Story {j} of feed {i}</title><link>https://outlet{i}.example.org/{j}</link>"
        f"<guid>outlet{i}-{j}</guid><description>{'Some words of the story. ' * 20}</description></item>"
        for j in range(ITEMS)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>{items}</channel></rss>'.encode()


def serve(n_feeds: int, origins: int) -> None:
    """Server process: GET /feed/<n>.xml with an ETag, 304 when If-None-Match matches."""
    from aiohttp import web

    table = {}
    for i in range(n_feeds):
        body = _feed(i)
        table[f"{i}.xml"] = ('"' + hashlib.sha1(body).hexdigest()[:16] + '"', body)

    async def feed(request: web.Request) -> web.StreamResponse:
        entry = table.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        etag, body = entry
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    app = web.Application()
    app.router.add_get("/feed/{name}", feed)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        ports = []
        for _ in range(origins):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock, backlog=1024).start()
            ports.append(sock.getsockname()[1])
        print("ports " + " ".join(map(str, ports)), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


async def _cycle(targets: list, policy) -> tuple[float, float, dict[str, int], list]:
    from botsvc.ingest.fetch import fetch_many

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    results = [result async for result in fetch_many(targets, policy)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    return wall, cpu, statuses, results


def measure(n: int, ports: list[int], concurrency: int) -> dict[str, float]:
    from botsvc.ingest.fetch import FetchPolicy, Validators

    policy = FetchPolicy(concurrency=concurrency)
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/feed/{i}.xml" for i in range(n)]
    figures: dict[str, float] = {}
    wall, cpu, statuses, results = asyncio.run(_cycle([(u, Validators()) for u in urls], policy))
    if statuses != {"ok": n}:
        raise SystemExit(f"fetch_speed: cold cycle of {n} feeds did not fetch every feed: {statuses}")
    figures[f"cold_{n}_rps"] = n / wall
    figures[f"cold_{n}_cpu_us_per_request"] = cpu / n * 1e6
    warm = [(r.url, Validators(etag=r.etag)) for r in results]
    wall, cpu, statuses, _ = asyncio.run(_cycle(warm, policy))
    if statuses != {"not_modified": n}:
        raise SystemExit(f"fetch_speed: warm cycle of {n} feeds did not answer 304 for every feed: {statuses}")
    figures[f"warm_{n}_rps"] = n / wall
    figures[f"warm_{n}_cpu_us_per_request"] = cpu / n * 1e6
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300,1000", help="feed counts to measure (default 100,300,1000)")
    parser.add_argument("--origins", type=int, default=200, help="listening ports feeds are spread over")
    parser.add_argument("--concurrency", type=int, default=50, help="fetches in flight (FetchPolicy.concurrency)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest counts")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feeds", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.serve:
        serve(args.feeds, args.origins)
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(max(sizes)), "--origins", str(args.origins)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("ports "):
            raise SystemExit(f"fetch_speed: feed server did not start: {line!r}")
        ports = [int(p) for p in line.split()[1:]]
        print(f"origins: {len(ports)}")
        print(f"concurrency: {args.concurrency}")
        per_request: dict[int, float] = {}
        for n in sizes:
            runs = [measure(n, ports, args.concurrency) for _ in range(args.repeat)]
            best = {key: (max if key.endswith("_rps") else min)(run[key] for run in runs) for key in runs[0]}
            for key, value in best.items():
                print(f"{key}: {value:.0f}")
            per_request[n] = best[f"cold_{n}_cpu_us_per_request"] + best[f"warm_{n}_cpu_us_per_request"]
        low, high = min(sizes), max(sizes)
        print(f"cpu_per_request_ratio_{high}_vs_{low}: {per_request[high] / per_request[low]:.2f}")
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
