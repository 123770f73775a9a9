"""Feed parsing cost: the fast lxml reader against feedparser, the reference.

    .venv/bin/python benchmarks/parse_speed.py [--feeds 1000] [--items 20] [--repeat 3]

Two sets: the real feed snapshots in ``tests/fixtures/feed-snapshots/`` (each read as
served, with a URL and its media type) and the synthetic news of ``poll_speed.py``
(``--feeds`` RSS feeds of ``--items`` items). Each body is read with ``parse_feed`` by
feedparser alone (``reader="feedparser"``) and by the default path (``reader="auto"``:
the fast reader, feedparser for whatever it declines), the best of ``--repeat`` runs.
Printed, one ``name: value`` per line: per-feed milliseconds of both for each snapshot,
the synthetic set's totals and per-feed times, the speedups, how many feeds the fast
reader read itself, and how many feeds the two readings differ on (0 expected).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from poll_speed import build_feeds  # noqa: E402

from botsvc.ingest.parse import ParsedFeed, parse_feed  # noqa: E402

SNAPSHOTS = REPO / "tests" / "fixtures" / "feed-snapshots"
URL = "https://news.example.org/feed.xml"
MEDIA = "application/rss+xml; charset=utf-8"


def timed(body: bytes, reader: str, content_type: str | None, repeat: int) -> tuple[float, ParsedFeed]:
    """Best wall time of ``repeat`` readings of ``body``, and the last reading."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        parsed = parse_feed(body, feed="bench", url=URL, content_type=content_type, reader=reader)
        best = min(best, time.perf_counter() - started)
    return best, parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    snap_ref = snap_fast = 0.0
    for path in sorted(p for p in SNAPSHOTS.rglob("*") if p.suffix in (".xml", ".rss")):
        body = path.read_bytes()
        # Served as the encoding it declares: a UTF-8 media type on EUC-KR bytes is a different feed.
        content_type = MEDIA if b"euc-kr" not in body[:100].lower() else "application/rss+xml"
        ref, _ = timed(body, "feedparser", content_type, args.repeat)
        fast, parsed = timed(body, "auto", content_type, args.repeat)
        snap_ref += ref
        snap_fast += fast
        print(f"snapshot_{path.stem}_feedparser_ms: {ref * 1000:.2f}")
        print(f"snapshot_{path.stem}_auto_ms: {fast * 1000:.2f}")
        print(f"snapshot_{path.stem}_reader: {parsed.reader}")
    print(f"snapshots_feedparser_ms: {snap_ref * 1000:.1f}")
    print(f"snapshots_auto_ms: {snap_fast * 1000:.1f}")
    print(f"snapshots_speedup: {snap_ref / snap_fast:.2f}")

    bodies = build_feeds(args.feeds, args.items)
    totals = {"feedparser": 0.0, "auto": 0.0}
    cpu = {"feedparser": 0.0, "auto": 0.0}
    per_feed: dict[str, list[float]] = {"feedparser": [], "auto": []}
    readings: dict[str, list[ParsedFeed]] = {"feedparser": [], "auto": []}
    for reader in totals:
        started, cpu_started = time.perf_counter(), time.process_time()
        for body in bodies:
            seconds, parsed = timed(body, reader, MEDIA, 1)
            per_feed[reader].append(seconds)
            readings[reader].append(parsed)
        totals[reader] = time.perf_counter() - started
        cpu[reader] = time.process_time() - cpu_started
    fast_read = sum(parsed.reader == "lxml" for parsed in readings["auto"])
    differ = sum(
        (a.title, a.items, a.warning) != (b.title, b.items, b.warning)
        for a, b in zip(readings["auto"], readings["feedparser"])
    )
    print(f"synthetic_feeds: {len(bodies)}")
    print(f"synthetic_items_per_feed: {args.items}")
    for reader in totals:
        times = sorted(per_feed[reader])
        print(f"synthetic_{reader}_total_s: {totals[reader]:.2f}")
        print(f"synthetic_{reader}_cpu_s: {cpu[reader]:.2f}")
        print(f"synthetic_{reader}_per_feed_ms: {totals[reader] / len(bodies) * 1000:.2f}")
        print(f"synthetic_{reader}_p50_ms: {times[len(times) // 2] * 1000:.2f}")
        print(f"synthetic_{reader}_p95_ms: {times[int(len(times) * 0.95)] * 1000:.2f}")
    print(f"synthetic_speedup: {totals['feedparser'] / totals['auto']:.2f}")
    print(f"synthetic_read_by_lxml: {fast_read}")
    print(f"synthetic_feeds_differing: {differ}")


if __name__ == "__main__":
    main()
