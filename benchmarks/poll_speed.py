"""Poll-cycle speed: botsvc's real cycle against a naive feedparser loop and the ``reader`` library.

Serves N synthetic news feeds (default 1,000 x 20 items, about 22% of them about Japan and
South Korea) from a loopback aiohttp server running in its own process, checks how many
requests a second that server answers, then measures on the same server and feeds:

* botsvc, in-process (a fresh interpreter per size, so its peak memory is its own):
  cold cycle (config -> open_app -> run_cycle into a fresh SQLite database: parse,
  relevance, dedup and storage for every item), then warm cycle (the same again: every
  feed answers 304 to the conditional GET built from the stored ETag/Last-Modified);
* botsvc as whole ``botsvc poll --once`` processes, cold (fresh database) and warm;
* the naive loop: the same URLs one after another with ``feedparser.parse(url)``, cold,
  then warm with the ETag and Last-Modified each feed answered;
* ``reader`` (pinned in ``benchmarks/requirements.txt``, installed on first use into
  ``benchmarks/.venv-reader/``): ``update_feeds(workers=N)`` cold, then warm, in a
  subprocess of that virtualenv that can connect to 127.0.0.1 only.

Prints one ``name: value`` line per figure. Run: ``.venv/bin/python benchmarks/poll_speed.py``
(``--feeds 1000,2000,4000`` for several sizes, ``--no-naive``/``--no-reader`` to skip those,
``--pairs 5`` for four more cold cycles each taken right before a naive loop, and the median
ratio: this machine's speed drifts from minute to minute).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READER_VENV = REPO / "benchmarks" / ".venv-reader"
READER_REQUIREMENTS = REPO / "benchmarks" / "requirements.txt"

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


# --------------------------------------------------------------------------- loopback only


def loopback_only() -> Counter:
    """Refuse, in this process, every connection and name lookup other than 127.0.0.1 (or ::1).

    The comparisons are not botsvc's code: feedparser's urllib and reader's requests follow
    proxy settings and whatever URL they are given. With this they can reach the loopback
    server and nothing else; the returned counter (``refused``) is printed with the figures.
    """
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            del os.environ[name]
    refused: Counter = Counter()
    allowed = {"127.0.0.1", "::1", "localhost"}
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: object) -> None:
        if isinstance(address, tuple) and address[0] not in allowed:
            refused["refused"] += 1
            raise OSError(f"poll_speed: refused a connection to {address[0]} (loopback only)")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in allowed:
            refused["refused"] += 1
            raise socket.gaierror(socket.EAI_NONAME, f"poll_speed: refused a lookup of {name} (loopback only)")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    return refused


def child_env() -> dict[str, str]:
    """A small environment for the processes started here: no proxies, no chat tokens."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
    return {name: os.environ[name] for name in keep if name in os.environ}


def run_child(command: list[str], what: str) -> dict:
    """Run a measuring child process; its last stdout line is a JSON object of figures."""
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=REPO)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"poll_speed: {what} failed (exit status {proc.returncode}): {tail}")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- server check


async def _get_many(urls: list[str], total: int, at_once: int, etags: dict[str, str]) -> tuple[float, Counter]:
    """``total`` GETs over ``urls``, ``at_once`` at a time; conditional where ``etags`` has the URL.

    Returns requests a second and the statuses; fills ``etags`` from the answers when it is empty."""
    import aiohttp

    statuses: Counter = Counter()
    conditional = bool(etags)
    connector = aiohttp.TCPConnector(limit=at_once)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            url = urls[i % len(urls)]
            headers = {"If-None-Match": etags[url]} if conditional and url in etags else {}
            async with session.get(url, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
                if not conditional and "ETag" in response.headers:
                    etags[url] = response.headers["ETag"]

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return total / elapsed, statuses


def server_rps(urls: list[str], total: int = 2000, at_once: int = 100) -> tuple[float, float, Counter]:
    """Requests a second the server answers from one aiohttp client process: whole feeds, then 304s.

    The client shares the machine's cores with the server, so this is a lower bound."""
    etags: dict[str, str] = {}
    full, statuses = asyncio.run(_get_many(urls, total, at_once, etags))
    not_modified, statuses_304 = asyncio.run(_get_many(urls, total, at_once, etags))
    return full, not_modified, statuses + statuses_304


# --------------------------------------------------------------------------- botsvc


def shipped_config_path() -> Path:
    for candidate in (REPO / "feeds.toml", REPO / "examples" / "feeds.toml"):
        if candidate.is_file():
            return candidate
    raise SystemExit("poll_speed: no shipped feeds.toml found (looked in the repo root and examples/)")


def feed_url(base: str, i: int) -> str:
    return f"{base}/feed/{i}.xml"


def bench_config(base: str, n_feeds: int):
    """The shipped configuration (topics, [fetch] settings) with the benchmark's feeds instead of its own."""
    from botsvc.config import FeedConfig, load_config

    shipped = load_config(shipped_config_path())
    interval = shipped.feeds[0].interval if shipped.feeds else 900
    feeds = tuple(
        FeedConfig(name=f"outlet-{i:04d}", url=feed_url(base, i), interval=interval, language="en", topics=())
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


def botsvc_child(base: str, n_feeds: int, db: str | None, profile: str | None) -> None:
    """In a fresh interpreter: the cold then the warm cycle; prints their figures and this process's peak memory."""
    config = bench_config(base, n_feeds)
    with tempfile.TemporaryDirectory(prefix="poll-speed-") as tmp:
        db_path = Path(db) if db else Path(tmp) / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        cold = _summarise(run_botsvc_cycle(config, db_path, profile))
        gc.collect()
        warm = _summarise(run_botsvc_cycle(config, db_path))
    figures = {
        "cold": cold,
        "warm": warm,
        "concurrency": config.fetch.concurrency,
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "worker_peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    print(json.dumps(figures), flush=True)


def _summarise(run: CycleRun) -> dict:
    """The figures of one cycle, so the report itself (every item) can be let go."""
    report = run.report
    figures = {
        "seconds": run.seconds,
        "main_cpu": run.main_cpu,
        "worker_cpu": run.worker_cpu,
        "items": report.items,
    }
    for status in ("ok", "not_modified", "error"):
        figures[status] = sum(1 for feed in report.feeds if feed.status == status)
    for decision in ("new", "duplicate", "irrelevant"):
        figures[decision] = report.count(decision)
    return figures


def process_config(base: str, n_feeds: int, directory: Path) -> Path:
    """The shipped feeds.toml with its feeds replaced by the loopback ones, for ``botsvc poll --once``.

    Checked by loading it: the same topics and fetch settings as the shipped file, and no feed
    but the loopback server's."""
    from botsvc.config import load_config

    shipped_path = shipped_config_path()
    kept, in_feed = [], False
    for line in shipped_path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("["):
            in_feed = line.strip() == "[[feeds]]"
        if not in_feed:
            kept.append(line)
    for i in range(n_feeds):
        kept += ["", "[[feeds]]", f'name = "outlet-{i:04d}"', f'url = "{feed_url(base, i)}"', 'language = "en"']
    path = directory / "feeds.toml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    local = shipped_path.parent / "concepts.local.toml"
    if local.is_file():
        shutil.copy(local, directory / local.name)
    config, shipped = load_config(path), load_config(shipped_path)
    if len(config.feeds) != n_feeds or any(not feed.url.startswith(base + "/") for feed in config.feeds):
        raise SystemExit(f"poll_speed: {path} lists feeds other than the loopback ones")
    if (config.topics, config.fetch) != (shipped.topics, shipped.fetch):
        raise SystemExit(f"poll_speed: {path} lost the shipped topics or [fetch] settings")
    return path


def botsvc_command() -> list[str]:
    script = Path(sys.executable).parent / "botsvc"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "botsvc"]


def poll_process(config_path: Path, db_path: Path) -> tuple[float, str]:
    """One whole ``botsvc poll --once`` process: wall time from start to exit, and its summary line."""
    command = [*botsvc_command(), "poll", "--once", "--config", str(config_path), "--db", str(db_path)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=config_path.parent)
    elapsed = time.perf_counter() - start
    lines = [line for line in proc.stderr.splitlines() if line.startswith("botsvc:")]
    summary = lines[-1] if lines else (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    if proc.returncode != 0:
        raise SystemExit(f"poll_speed: botsvc poll --once failed (exit status {proc.returncode}): {summary}")
    return elapsed, summary.removeprefix("botsvc: ")


# --------------------------------------------------------------------------- naive loop


@dataclasses.dataclass
class NaiveRun:
    seconds: float
    ok: int
    not_modified: int
    entries: int
    validators: dict[str, tuple[str | None, str | None]]
    """Per URL, the ETag and Last-Modified the server answered (for the warm loop)."""


def naive_loop(urls: list[str], validators: dict[str, tuple[str | None, str | None]] | None = None) -> NaiveRun:
    """Sequential ``feedparser.parse(url)``, conditional when given each URL's ETag and Last-Modified."""
    import feedparser

    start = time.perf_counter()
    ok = not_modified = entries = 0
    answered: dict[str, tuple[str | None, str | None]] = {}
    for url in urls:
        etag, modified = (validators or {}).get(url, (None, None))
        parsed = feedparser.parse(url, etag=etag, modified=modified)
        status = parsed.get("status")
        if status == 304:
            not_modified += 1
        elif status == 200 and not parsed.get("bozo"):
            ok += 1
        entries += len(parsed.entries)
        answered[url] = (parsed.get("etag"), parsed.get("modified"))
    return NaiveRun(time.perf_counter() - start, ok, not_modified, entries, answered)


# --------------------------------------------------------------------------- reader


def reader_python() -> Path:
    """benchmarks/.venv-reader's interpreter, created (python -m venv + pip install -r) on first use."""
    python = READER_VENV / "bin" / "python"
    stamp = READER_VENV / "installed-requirements.txt"
    wanted = READER_REQUIREMENTS.read_text(encoding="utf-8")
    if python.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    print(f"poll_speed: installing {READER_REQUIREMENTS.name} into {READER_VENV} (first use)", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(READER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(READER_REQUIREMENTS)], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"poll_speed: could not install the reader comparison ({exc}); --no-reader skips it") from None
    stamp.write_text(wanted, encoding="utf-8")
    return python


def reader_child(base: str, n_feeds: int, workers: int) -> None:
    """In benchmarks/.venv-reader: reader's update_feeds cold, then warm; prints the figures as JSON.

    reader's defaults (make_reader's plugins and timeouts) with ``workers`` threads. The warm
    update passes ``scheduled=False``: by default reader skips a feed until its update interval
    (60 minutes) has passed, which would make a warm update do nothing at all.
    """
    refused = loopback_only()
    import reader
    from reader import make_reader

    figures: dict[str, object] = {"version": reader.__version__, "workers": workers}
    with tempfile.TemporaryDirectory(prefix="poll-speed-reader-") as tmp:
        feeds = make_reader(str(Path(tmp) / "reader.sqlite"))
        for i in range(n_feeds):
            feeds.add_feed(feed_url(base, i))
        for label, scheduled in (("cold", True), ("warm", False)):
            counts: Counter = Counter()
            gc.collect()
            cpu_start, start = time.process_time(), time.perf_counter()
            # update_feeds() is this loop with the results dropped; here they are counted.
            for result in feeds.update_feeds_iter(workers=workers, scheduled=scheduled):
                if result.value is None:
                    counts["not_modified"] += 1
                elif isinstance(result.value, Exception):
                    counts["error"] += 1
                else:
                    counts["ok"] += 1
                    counts["new_entries"] += result.value.new
            figures[label] = {
                "seconds": time.perf_counter() - start,
                "cpu": time.process_time() - cpu_start,
                **counts,
            }
        figures["entries"] = feeds.get_entry_counts().total
        feeds.close()
    figures["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures["refused"] = refused["refused"]
    print(json.dumps(figures), flush=True)


# --------------------------------------------------------------------------- one size


def _reap_children(timeout: float = 10.0) -> None:
    """Wait for finished pool workers so their peak RSS shows in RUSAGE_CHILDREN."""
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)


def _mb(kilobytes: int) -> str:
    return f"{kilobytes / 1024:.0f} MB"


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.2f}" if fast > 0 else "n/a"


def _line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def measure(args: argparse.Namespace, n_feeds: int, reader_py: Path | None, refused: Counter) -> dict:
    """Every measurement for one size against one server; prints its lines and returns the main figures."""
    server = FeedServer(n_feeds, args.items)
    try:
        urls = [feed_url(server.base, i) for i in range(n_feeds)]
        _line("feeds", n_feeds)
        _line("items per feed", args.items)
        _line("load_avg_1min", f"{os.getloadavg()[0]:.2f}")
        full_rps, not_modified_rps, statuses = server_rps(urls)
        _line("server_rps", f"{full_rps:.0f} (2000 GETs of whole feeds, 100 at once, from one aiohttp client process)")
        _line("server_rps_304", f"{not_modified_rps:.0f} (2000 conditional GETs answered 304)")
        _line("server check statuses", ", ".join(f"{v} x {k}" for k, v in sorted(statuses.items())))

        plain = [sys.executable, __file__, "--botsvc-child", server.base, "--feeds", str(n_feeds)]
        child = plain + (["--db", args.db] if args.db else [])
        child += ["--profile", args.profile] if args.profile else []
        bot = run_child(child, "the botsvc cycle")
        cold, warm = bot["cold"], bot["warm"]
        for label, run in (("cold", cold), ("warm", warm)):
            _line(f"{label} cycle", f"{run['seconds']:.2f} s")
            cpu = f"{run['main_cpu']:.2f} s main process, {run['worker_cpu']:.2f} s worker processes"
            _line(f"{label} cycle cpu", cpu)
            _line(f"{label} cycle feeds", f"{run['ok']} ok, {run['not_modified']} not modified, {run['error']} failed")
            _line(f"{label} cycle items", run["items"])
        for decision in ("new", "duplicate", "irrelevant"):
            _line(f"cold cycle {decision}", cold[decision])
        _line("peak memory (main process)", f"{_mb(bot['peak_kb'])} (ru_maxrss of the process that ran both cycles)")
        _line("peak memory (largest worker process)", _mb(bot["worker_peak_kb"]))
        figures: dict = {"cold": cold["seconds"], "warm": warm["seconds"], "peak_kb": bot["peak_kb"]}
        runs = [("botsvc cold cycle", cold["seconds"]), ("botsvc warm cycle", warm["seconds"])]
        figures["runs"] = runs

        if not args.no_process:
            with tempfile.TemporaryDirectory(prefix="poll-speed-process-") as tmp:
                config_path = process_config(server.base, n_feeds, Path(tmp))
                db_path = Path(tmp) / "bench.db"
                cold_s, cold_summary = poll_process(config_path, db_path)
                warm_s, warm_summary = poll_process(config_path, db_path)
            runs += [("botsvc cold process", cold_s), ("botsvc warm process", warm_s)]
            _line("cold_process_s", f"{cold_s:.2f}")
            _line("cold process summary", cold_summary)
            _line("warm_process_s", f"{warm_s:.2f}")
            _line("warm process summary", warm_summary)

        if not args.no_naive:
            naive = naive_loop(urls)
            naive_warm = naive_loop(urls, naive.validators)
            runs += [("naive loop", naive.seconds), ("naive loop warm", naive_warm.seconds)]
            _line("naive loop", f"{naive.seconds:.2f} s")
            _line("naive loop feeds", f"{naive.ok} ok, {n_feeds - naive.ok} failed")
            _line("naive loop items", naive.entries)
            _line("naive loop warm", f"{naive_warm.seconds:.2f} s")
            _line("naive loop warm feeds", f"{naive_warm.not_modified} not modified, {naive_warm.ok} ok")
            _line("cold cycle / naive loop", _ratio(cold["seconds"], naive.seconds))
            _line("cold_ratio_naive", _ratio(naive.seconds, cold["seconds"]))
            _line("warm_ratio_naive", _ratio(naive_warm.seconds, warm["seconds"]))
            _line("connections refused (not 127.0.0.1)", refused["refused"])
            if args.pairs > 1:
                _pairs(args.pairs, plain, urls, naive, cold)

        if reader_py is not None:
            workers = bot["concurrency"]
            command = [str(reader_py), __file__, "--reader-child", server.base, "--feeds", str(n_feeds)]
            rdr = run_child([*command, "--workers", str(workers)], "the reader comparison")
            _line(
                "reader settings",
                f"reader {rdr['version']} defaults, update_feeds(workers={workers}) (botsvc's [fetch] concurrency); "
                "warm with scheduled=False (by default reader skips feeds updated in the last 60 minutes)",
            )
            for label in ("cold", "warm"):
                run = rdr[label]
                _line(f"reader {label}", f"{run['seconds']:.2f} s")
                _line(f"reader {label} cpu", f"{run['cpu']:.2f} s")
                got = Counter(run)
                feeds = f"{got['ok']} ok, {got['not_modified']} not modified, {got['error']} failed"
                _line(f"reader {label} feeds", feeds)
            runs += [("reader cold", rdr["cold"]["seconds"]), ("reader warm", rdr["warm"]["seconds"])]
            _line("reader entries", rdr["entries"])
            _line("reader peak memory", _mb(rdr["peak_kb"]))
            _line("reader connections refused (not 127.0.0.1)", rdr["refused"])
            _line("cold_ratio_reader", _ratio(rdr["cold"]["seconds"], cold["seconds"]))
            _line("warm_ratio_reader", _ratio(rdr["warm"]["seconds"], warm["seconds"]))
        fastest = min(figures["runs"], key=lambda run: run[1])
        _line("fastest poller rate", f"{n_feeds / fastest[1]:.0f} requests/s ({fastest[0]}), against server_rps above")
        return figures
    finally:
        server.close()


def _pairs(count: int, child: list[str], urls: list[str], naive: NaiveRun, cold: dict) -> None:
    """More cold cycles, each right before a naive loop, and the median of the ratios.

    The machine's speed drifts from one minute to the next: a cycle and a naive loop taken
    back to back share it, and the median of several such pairs says more than any one.
    """
    ratios = [naive.seconds / cold["seconds"]]
    for number in range(2, count + 1):
        again = run_child(child, "the botsvc cycle")["cold"]["seconds"]
        naive_again = naive_loop(urls).seconds
        ratios.append(naive_again / again)
        _line(f"pair {number}: cold cycle, naive loop", f"{again:.2f} s, {naive_again:.2f} s ({ratios[-1]:.2f}x)")
    _line("cold_ratio_naive_pairs", ", ".join(f"{ratio:.2f}" for ratio in ratios))
    _line("cold_ratio_naive_median", f"{statistics.median(ratios):.2f}")


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", default="1000", help="feeds, or sizes: 1000,2000,4000 (default 1000)")
    parser.add_argument("--items", type=int, default=20, help="items per feed (default 20)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive feedparser loop")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader library")
    parser.add_argument("--no-process", action="store_true", help="skip the whole `botsvc poll --once` processes")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the cold cycle (one size only)")
    parser.add_argument("--db", metavar="PATH", help="database file of the cycles (one size only; default: temporary)")
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="cold cycle and naive loop this many times, back to back; prints the median ratio (default 1)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--botsvc-child", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--reader-child", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=50, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.feeds.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--feeds: expected a number or numbers separated by commas, got {args.feeds!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--feeds: every size must be at least 1")
    if len(sizes) > 1 and (args.db or args.profile):
        parser.error("--db and --profile take one size only")
    if args.pairs < 1 or (args.pairs > 1 and args.db):
        parser.error("--pairs: at least 1, and each pair needs a fresh database (no --db)")
    args.db = args.db and str(Path(args.db).resolve())
    args.profile = args.profile and str(Path(args.profile).resolve())
    if args.serve:
        serve(sizes[0], args.items)
        return 0
    if args.botsvc_child:
        botsvc_child(args.botsvc_child, sizes[0], args.db, args.profile)
        return 0
    if args.reader_child:
        reader_child(args.reader_child, sizes[0], args.workers)
        return 0

    reader_py = None if args.no_reader else reader_python()
    refused = loopback_only()  # the naive loop and the server check reach 127.0.0.1 only
    results = {}
    for index, n_feeds in enumerate(sizes):
        if index:
            print(flush=True)
        results[n_feeds] = measure(args, n_feeds, reader_py, refused)
    if len(sizes) > 1:
        print(flush=True)
        for n_feeds, figures in results.items():
            _line(f"cold cycle at {n_feeds} feeds", f"{figures['cold']:.2f} s")
            _line(f"warm cycle at {n_feeds} feeds", f"{figures['warm']:.2f} s")
            _line(f"peak memory (main process) at {n_feeds} feeds", f"{_mb(figures['peak_kb'])} (ru_maxrss)")
        small, large = min(sizes), max(sizes)
        growth = results[large]["cold"] / results[small]["cold"]
        _line(f"cold_growth_{_k(large)}_over_{_k(small)}", f"{growth:.2f} (linear: {large / small:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
