"""Poll-cycle speed: botsvc's real cycle against a sequential feedparser loop.

Serves N synthetic news feeds (default 1,000 x 20 items) from a loopback aiohttp
server running in its own process, then measures, in this order:

* cold cycle: config -> open_app -> run_cycle over every feed into a fresh SQLite
  database (everything new: parse, relevance, dedup and storage for every item);
* warm cycle: the same database and feeds again; nothing changed, so every feed
  answers 304 to the conditional GET built from the stored ETag/Last-Modified;
* naive loop: the same URLs fetched and parsed one after another with
  ``feedparser.parse(url)`` (feedparser does its own HTTP): the baseline.

Prints one ``name: value`` line per figure. Run: ``.venv/bin/python benchmarks/poll_speed.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import hashlib
import multiprocessing
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- feeds
# Deterministic synthetic news: mostly unrelated world news, a share of Japan–South
# Korea security/trade stories (GSOMIA, export controls), and wire stories that several
# outlets carry under the same link (with their own tracking parameters and GUIDs).

RELEVANT_SHARE = 0.12
"""Share of an outlet's own stories that are about the Japan–South Korea dispute."""
WIRE_SHARE = 0.10
"""Share of item slots filled with wire stories shared across feeds."""
WIRE_COPIES = 3
"""How many feeds carry each wire story."""
NEAR_MISS_SHARE = 0.15
"""Share of unrelated stories that still mention Japan, Korea or trade (no topic match)."""

_RELEVANT_TITLES = [
    "Seoul weighs {verb} GSOMIA as Tokyo tightens export controls",
    "Japan's export controls on {chem} hit South Korean chipmakers",
    "South Korea {verb2} intelligence pact with Japan amid trade row",
    "Tokyo removes South Korea from export whitelist; Seoul vows response",
    "GSOMIA deadline nears as Japan and South Korea trade accusations",
    "Chipmakers scramble for {chem} after Japan curbs exports to South Korea",
    "US urges Japan and South Korea to keep GSOMIA intact",
    "South Korea files WTO complaint over Japanese export controls",
]
_RELEVANT_LEADS = [
    "South Korea said on {day} it was reviewing whether to renew the General Security of Military "
    "Information Agreement (GSOMIA) with Japan, after Tokyo tightened export controls on {chem} "
    "used by Korean semiconductor makers.",
    "Japan's trade ministry confirmed tighter export controls on shipments of {chem} to South Korea, "
    "a move Seoul called retaliation over wartime labour rulings and a threat to global supply chains.",
    "Officials in Seoul and Tokyo traded accusations over the intelligence-sharing pact, known as GSOMIA, "
    "as the deadline for renewal approached and business groups warned of damage to trade.",
]
_CHEMS = ["hydrogen fluoride", "photoresists", "fluorinated polyimide", "etching gas"]
_VERBS = ["scrapping", "renewing", "suspending", "extending"]
_VERBS2 = ["reconsiders", "suspends", "reviews", "extends"]

_OTHER_TITLES = [
    "{city} council approves {thing} budget after long debate",
    "{team} beat {team2} {score} to stay top of the table",
    "Storm brings heavy rain and power cuts to {city}",
    "Central bank holds rates steady, signals caution on {thing}",
    "{company} shares jump after quarterly profit beats forecasts",
    "Museum in {city} reopens with exhibition on {thing}",
    "Researchers report progress on {thing} in early trial",
    "Transport strike disrupts commuters across {city}",
    "{company} recalls {count} vehicles over brake fault",
    "Election campaign in {city} enters final week",
]
_NEAR_MISS_TITLES = [
    "Japan's {company} opens new plant to meet {thing} demand",
    "Tourists flock to {city} as yen weakens",
    "North Korea fires short-range missile into the sea, Seoul says",
    "South Korean film wins top prize at {city} festival",
    "Korean pop group announces world tour starting in {city}",
    "Japan's exports rise for third month on car shipments",
]
_OTHER_LEADS = [
    "Officials in {city} said on {day} that the plan, which has been debated for months, would move "
    "ahead after a vote, though critics warned that costs for {thing} could rise further next year.",
    "Analysts said the result reflected strong demand for {thing}, while investors will look for "
    "guidance from {company} on costs, staffing and the outlook for the rest of the year.",
    "The decision came after weeks of talks, and local groups in {city} said they would keep "
    "pressing for changes to how {thing} is funded and managed over the coming decade.",
]
_CITIES = ["Lisbon", "Osaka", "Busan", "Denver", "Nairobi", "Lyon", "Hanoi", "Perth", "Bogota", "Oslo"]
_THINGS = [
    "housing",
    "public transport",
    "battery storage",
    "school meals",
    "water supply",
    "solar power",
    "healthcare",
    "broadband",
    "flood defences",
    "research funding",
]
_COMPANIES = [
    "Nordwind",
    "Kestrel Motors",
    "Asahi Foods",
    "Bluepeak",
    "Haneul Telecom",
    "Corvid Systems",
    "Meridian Steel",
    "Tanager Bio",
]
_TEAMS = ["Rovers", "United", "Athletic", "City", "Wanderers", "Albion"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_TAILS = [
    "Further details were expected later in the week, according to people familiar with the matter.",
    "A spokesperson declined to comment on the timing &amp; scope of the measures.",
    "The figures will be reviewed again at the next quarterly meeting.",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        verb=rng.choice(_VERBS),
        verb2=rng.choice(_VERBS2),
        chem=rng.choice(_CHEMS),
        city=rng.choice(_CITIES),
        thing=rng.choice(_THINGS),
        company=rng.choice(_COMPANIES),
        team=rng.choice(_TEAMS),
        team2=rng.choice(_TEAMS),
        score=f"{rng.randint(0, 4)}-{rng.randint(0, 3)}",
        count=f"{rng.randint(2, 90) * 1000:,}",
        day=rng.choice(_DAYS),
    )


@dataclasses.dataclass
class Story:
    slug: str
    title: str
    html: str
    published: datetime
    host: str


def _story(rng: random.Random, host: str, serial: str, published: datetime, relevant: bool) -> Story:
    if relevant:
        title, lead = _fill(rng.choice(_RELEVANT_TITLES), rng), _fill(rng.choice(_RELEVANT_LEADS), rng)
    else:
        pool = _NEAR_MISS_TITLES if rng.random() < NEAR_MISS_SHARE else _OTHER_TITLES
        title, lead = _fill(rng.choice(pool), rng), _fill(rng.choice(_OTHER_LEADS), rng)
    slug = "-".join(w.strip(",;'.").lower() for w in title.split()[:6]) + f"-{serial}"
    link = f"https://{host}/news/{published:%Y/%m/%d}/{slug}"
    html = f'<p>{escape(lead)}</p><p><em>{rng.choice(_TAILS)}</em> <a href="{link}">Read more&#8230;</a></p>'
    return Story(slug=slug, title=title, html=html, published=published, host=host)


def _item_xml(story: Story, guid: str, campaign: str) -> str:
    link = (
        f"https://{story.host}/news/{story.published:%Y/%m/%d}/{story.slug}"
        f"?utm_source=rss&amp;utm_medium=feed&amp;utm_campaign={campaign}"
    )
    return (
        "    <item>\n"
        f"      <title>{escape(story.title)}</title>\n"
        f"      <link>{link}</link>\n"
        f'      <guid isPermaLink="false">{guid}</guid>\n'
        f"      <pubDate>{format_datetime(story.published)}</pubDate>\n"
        f"      <dc:creator>Staff reporter</dc:creator>\n"
        f"      <category>World</category>\n"
        f"      <description>{escape(story.html)}</description>\n"
        "    </item>\n"
    )


def build_feeds(n_feeds: int, n_items: int, seed: int = 20190822) -> list[bytes]:
    """RSS 2.0 documents, one per feed, deterministic for a given seed."""
    rng = random.Random(seed)
    base = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    slots = n_feeds * n_items
    n_wire = int(slots * WIRE_SHARE) // WIRE_COPIES
    wire = [
        _story(rng, "wire.example.net", f"w{k}", base - timedelta(minutes=rng.randint(0, 4320)), rng.random() < 0.3)
        for k in range(n_wire)
    ]
    # Each wire story goes to WIRE_COPIES distinct feeds.
    wire_slots: list[list[Story]] = [[] for _ in range(n_feeds)]
    for story in wire:
        for feed in rng.sample(range(n_feeds), min(WIRE_COPIES, n_feeds)):
            if len(wire_slots[feed]) < n_items:
                wire_slots[feed].append(story)
    bodies = []
    for f in range(n_feeds):
        host = f"outlet{f:04d}.example.org"
        stories = list(wire_slots[f])
        while len(stories) < n_items:
            serial = f"{f}-{len(stories)}"
            stories.append(
                _story(rng, host, serial, base - timedelta(minutes=rng.randint(0, 4320)), rng.random() < RELEVANT_SHARE)
            )
        stories.sort(key=lambda s: s.published, reverse=True)
        items = "".join(_item_xml(s, f"{host}:{s.slug}", f"feed{f}") for s in stories)
        bodies.append(
            (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
                "  <channel>\n"
                f"    <title>Outlet {f:04d} | World News</title>\n"
                f"    <link>https://{host}/</link>\n"
                "    <description>Latest world news.</description>\n"
                "    <language>en</language>\n"
                f"    <lastBuildDate>{format_datetime(base)}</lastBuildDate>\n"
                f"{items}"
                "  </channel>\n"
                "</rss>\n"
            ).encode()
        )
    return bodies


# --------------------------------------------------------------------------- server


def serve(n_feeds: int, n_items: int) -> None:
    """Server process: answers GET /feed/<n>.xml with a stable ETag/Last-Modified, 304 on a match."""
    from aiohttp import web

    bodies = build_feeds(n_feeds, n_items)
    last_modified = format_datetime(datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc), usegmt=True)
    table = {}
    for i, body in enumerate(bodies):
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        table[f"{i}.xml"] = (etag, body)
    content_type = "application/rss+xml; charset=utf-8"

    async def feed(request: web.Request) -> web.StreamResponse:
        entry = table.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        etag, body = entry
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=300"}
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            fresh = any(tag.strip().removeprefix("W/") == etag for tag in inm.split(","))
        else:
            fresh = request.headers.get("If-Modified-Since") == last_modified
        if fresh:
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/feed/{name}", feed)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=2048)
        await site.start()
        print(f"port {sock.getsockname()[1]}", flush=True)
        # Run until the parent closes our stdin.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


class FeedServer:
    def __init__(self, n_feeds: int, n_items: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--feeds", str(n_feeds), "--items", str(n_items)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"

    def url(self, i: int) -> str:
        return f"{self.base}/feed/{i}.xml"

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- measurements


def shipped_config_path() -> Path:
    for candidate in (REPO / "feeds.toml", REPO / "examples" / "feeds.toml"):
        if candidate.is_file():
            return candidate
    raise SystemExit("poll_speed: no shipped feeds.toml found (looked in the repo root and examples/)")


def bench_config(server: FeedServer, n_feeds: int):
    """The shipped configuration (topics, [fetch] settings) with the benchmark's feeds instead of its own."""
    from botsvc.config import FeedConfig, load_config

    shipped = load_config(shipped_config_path())
    interval = shipped.feeds[0].interval if shipped.feeds else 900
    feeds = tuple(
        FeedConfig(name=f"outlet-{i:04d}", url=server.url(i), interval=interval, language="en", topics=())
        for i in range(n_feeds)
    )
    return dataclasses.replace(shipped, feeds=feeds)


@dataclasses.dataclass
class CycleRun:
    seconds: float
    main_cpu: float
    """CPU time of this process during the cycle (fetching, judging, storing)."""
    worker_cpu: float
    """CPU time of the cycle's worker processes (parsing), once they have exited."""
    report: object


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_botsvc_cycle(config, db_path: Path, profile: str | None = None) -> CycleRun:
    """One real cycle: config -> open_app -> run_cycle over the configured feeds."""
    from botsvc.service.app import open_app
    from botsvc.service.cycle import run_cycle

    app = open_app(shipped_config_path(), db_path, config=config)
    try:
        app.ensure_seeded()  # as `botsvc poll` does; a no-op once seeded
        targets = app.targets()
        gc.collect()
        _reap_children()
        children_before = _children_cpu()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu_start = time.process_time()
        start = time.perf_counter()
        report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy))
        elapsed = time.perf_counter() - start
        main_cpu = time.process_time() - cpu_start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    finally:
        app.close()
    _reap_children()
    return CycleRun(elapsed, main_cpu, _children_cpu() - children_before, report)


def naive_loop(urls: list[str]) -> tuple[float, int, int]:
    """Sequential ``feedparser.parse(url)``; returns (seconds, feeds parsed, entries)."""
    import feedparser

    start = time.perf_counter()
    ok = entries = 0
    for url in urls:
        parsed = feedparser.parse(url)
        if parsed.get("status") == 200 and not parsed.get("bozo"):
            ok += 1
        entries += len(parsed.entries)
    return time.perf_counter() - start, ok, entries


def _reap_children(timeout: float = 10.0) -> None:
    """Wait for finished pool workers so their peak RSS shows in RUSAGE_CHILDREN."""
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)


def _mb(kilobytes: int) -> str:
    return f"{kilobytes / 1024:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000, help="number of feeds (default 1000)")
    parser.add_argument("--items", type=int, default=20, help="items per feed (default 20)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive feedparser loop")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the cold cycle (main process)")
    parser.add_argument("--db", metavar="PATH", help="database file (default: a fresh temporary file)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.feeds, args.items)
        return 0

    server = FeedServer(args.feeds, args.items)
    try:
        config = bench_config(server, args.feeds)
        with tempfile.TemporaryDirectory(prefix="poll-speed-") as tmp:
            db_path = Path(args.db) if args.db else Path(tmp) / "bench.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            cold = _summarise(run_botsvc_cycle(config, db_path, args.profile))
            gc.collect()
            warm = _summarise(run_botsvc_cycle(config, db_path))
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if not args.no_naive:
            naive, naive_ok, naive_entries = naive_loop([server.url(i) for i in range(args.feeds)])
    finally:
        server.close()
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"feeds: {args.feeds}")
    print(f"items per feed: {args.items}")
    for label, run in (("cold", cold), ("warm", warm)):
        print(f"{label} cycle: {run['seconds']:.2f} s")
        print(f"{label} cycle cpu: {run['main_cpu']:.2f} s main process, {run['worker_cpu']:.2f} s worker processes")
        print(f"{label} cycle feeds: {run['ok']} ok, {run['not_modified']} not modified, {run['error']} failed")
        print(f"{label} cycle items: {run['items']}")
    for decision in ("new", "duplicate", "irrelevant"):
        print(f"cold cycle {decision}: {cold[decision]}")
    if not args.no_naive:
        print(f"naive loop: {naive:.2f} s")
        print(f"naive loop feeds: {naive_ok} ok, {args.feeds - naive_ok} failed")
        print(f"naive loop items: {naive_entries}")
        print(f"cold cycle / naive loop: {cold['seconds'] / naive:.2f}")
    print(f"peak memory (main process): {_mb(self_peak)}")
    print(f"peak memory (largest worker process): {_mb(children_peak)}")
    return 0


def _summarise(run: CycleRun) -> dict:
    """The figures of one cycle, so the report itself (every item) can be let go."""
    report = run.report
    figures = {
        "seconds": run.seconds,
        "main_cpu": run.main_cpu,
        "worker_cpu": run.worker_cpu,
        "items": len(report.outcomes),
    }
    for status in ("ok", "not_modified", "error"):
        figures[status] = sum(1 for feed in report.feeds if feed.status == status)
    for decision in ("new", "duplicate", "irrelevant"):
        figures[decision] = report.count(decision)
    return figures


if __name__ == "__main__":
    sys.exit(main())
