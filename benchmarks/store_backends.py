"""The same store work on SQLite and on PostgreSQL: writes per second and search time.

Stores N synthetic reports (English, Korean, Japanese; a few per event) through the
store's own calls, one transaction per report as the pipeline does, then times
``search_events`` for a few kinds of query. Prints ``name: value`` lines per database.

    .venv/bin/python benchmarks/store_backends.py [--articles 5000] [--database-url postgresql://...]

Without ``--database-url`` a throwaway PostgreSQL server is started on 127.0.0.1 (the
tests' helper: ``initdb`` + ``pg_ctl``, durability off), so PostgreSQL figures are for a
local server without fsync; SQLite runs as the bot runs it (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

from botsvc.models import FeedItem
from botsvc.store import postgres as pg_backend
from botsvc.store.search import search_events
from botsvc.store.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2020, 1, 1, tzinfo=timezone.utc)
WORDS = ["Seoul", "Tokyo", "GSOMIA", "export", "curbs", "summit", "court", "labour", "pact", "talks"]
KOREAN = ["수출 규제 강화", "지소미아를 종료", "정상회담 개최", "강제징용 판결"]
JAPANESE = ["輸出規制を強化", "半導体材料の輸出管理", "首脳会談を開催", "徴用工判決"]
QUERIES = ["gsomia", "seoul export curbs", "수출규제", "輸出規制", "talks", "no-such-word"]


def fill(store: Store, articles: int, seed: int = 7) -> float:
    """Store ``articles`` reports; returns the seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    event_id, left = 0, 0
    for n in range(articles):
        when = START + timedelta(minutes=30 * n)
        kind = rng.random()
        if kind < 0.1:
            title = rng.choice(KOREAN) + " " + rng.choice(KOREAN)
        elif kind < 0.2:
            title = rng.choice(JAPANESE) + rng.choice(JAPANESE)
        else:
            title = " ".join(rng.choice(WORDS) for _ in range(8))
        item = FeedItem(
            feed="wire",
            guid=str(n),
            link=f"https://news.example/{n}",
            title=title,
            summary=" ".join(rng.choice(WORDS) for _ in range(30)),
            published=when,
            source=f"outlet{n % 7}",
        )
        with store.atomic():
            if left == 0:
                event_id = store.create_event(title=title, topic="jk", published=when, outlet=item.source, when=when)
                left = rng.randint(1, 5)
            else:
                store.add_event_member(event_id, published=when, outlet=item.source, when=when)
            left -= 1
            article = store.insert_article(
                item, topics=["jk"], keywords=[], event_id=event_id, similarity=None, when=when
            )
            store.mark_seen([f"guid:wire\x1f{n}", f"url:{item.link}"], "new", article, when, title=title)
    return time.perf_counter() - started


def measure(name: str, location: str, articles: int) -> dict[str, list[int]]:
    """Print the figures; returns each query's answer (event ids, best first)."""
    answers: dict[str, list[int]] = {}
    store = open_store(location)
    try:
        seconds = fill(store, articles)
        print(f"{name}_writes_per_second: {articles / seconds:.0f}")
        for query in QUERIES:
            search_events(store, query)  # warm
            times = []
            for _ in range(5):
                began = time.perf_counter()
                search_events(store, query)
                times.append((time.perf_counter() - began) * 1000)
            print(f"{name}_search_ms[{query}]: {statistics.median(times):.1f}")
            answers[query] = [hit.event_id for hit in search_events(store, query)]
    finally:
        store.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: a throwaway one)")
    args = parser.parse_args()
    print(f"articles: {args.articles}")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sqlite = measure("sqlite", str(folder / "bench.db"), args.articles)
        url = args.database_url
        if url is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from pgserver import running_postgres

            server = stack.enter_context(running_postgres())
            url = server.create_database(prefix="bench")
        postgres = measure("postgres", url, args.articles)
        pg_backend.close_pools()
    same = sum(sqlite[q] == postgres[q] for q in QUERIES)
    print(f"search_same_answers: {same} of {len(QUERIES)} queries")


if __name__ == "__main__":
    main()
