"""How long the upgrade that rebuilds the search index takes (Korean across spacing).

Fills a fresh database with synthetic English, Korean and Japanese articles, then runs
the migration's SQL as an upgrade does and prints ``name: value`` lines.

    .venv/bin/python benchmarks/search_reindex.py [--articles 20000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from botsvc.store.store import open_store

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "수출",
    "규제",
    "강화",
    "일본",
    "한국",
    "지소미아를",
    "輸出規制",
    "半導体",
    "GSOMIA",
    "export",
    "Seoul",
    "Tokyo",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    args = parser.parse_args()
    [migration] = (ROOT / "migrations" / "sqlite").glob("*_search_across_korean_spacing.sql")
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(Path(directory) / "reindex.db")
        conn = store.db.conn
        with store.atomic():
            for n in range(args.articles):
                text = " ".join(rnd.choice(WORDS) for _ in range(10))
                conn.execute(
                    "INSERT INTO articles (feed, guid, url, title, summary, body, source, first_seen) "
                    "VALUES ('bench', ?, ?, ?, ?, ?, 'bench', '2026-01-01T00:00:00+00:00')",
                    (str(n), f"https://bench.example/{n}", text, text * 3, text * 10),
                )
        started, cpu = time.monotonic(), time.process_time()
        conn.executescript(f"BEGIN;\n{migration.read_text(encoding='utf-8')}\nCOMMIT;")
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        store.close()
    print(f"articles: {args.articles}")
    print(f"reindex seconds: {wall:.2f}")
    print(f"reindex seconds per 100k articles: {wall * 100000 / args.articles:.1f}")
    print(f"reindex cpu seconds per 100k articles: {cpu * 100000 / args.articles:.1f}")


if __name__ == "__main__":
    main()
