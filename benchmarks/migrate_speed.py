"""Moving a bot to PostgreSQL: how long ``botsvc migrate-to-postgres`` takes, and what the archive weighs.

    .venv/bin/python benchmarks/migrate_speed.py                    # 20,000 articles
    .venv/bin/python benchmarks/migrate_speed.py --articles 100000

1. ``botsvc demo`` writes a real archive from the bundled sample feeds (articles with
   their fingerprints and bodies in English, Korean and Japanese, events, seen keys,
   a subscription, its deliveries and outbox);
2. that archive's articles, events, seen keys, deliveries and outbox rows are repeated
   with new ids and keys until it holds ``--articles`` articles, and each article gets
   3.5 irrelevant items' key hashes (about 78% of polled items are irrelevant), untimed;
3. a throwaway PostgreSQL cluster starts on 127.0.0.1 (tests/pgserver.py), durability
   off as in the tests, so the copy's own cost is measured, not the disk's;
4. ``botsvc migrate-to-postgres`` runs as a process of its own: its wall time and peak
   memory (``ru_maxrss`` of the child) are what a user moving such an archive meets.

Printed as ``name: value`` lines: the archive (articles, rows), the copy (seconds, rows
and articles per second, peak memory) and the sizes on both sides (whole SQLite file
incl. its full-text index; PostgreSQL tables with their indexes and TOAST, after the
copy), also per 10,000 articles.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pgserver import running_postgres  # noqa: E402

BOTSVC = [sys.executable, "-m", "botsvc"]
IRRELEVANT_PER_ARTICLE = 3.5

# How each repeated table's ids and references move for copy number k (``:a``, ``:e``, ``:o``
# are the article, event and outbox id offsets; ``:tag`` makes keys unique).
SHIFTS = {
    "events": {"id": "id + :e", "merged_into": "merged_into + :e", "low_article_id": "low_article_id + :a",
               "high_article_id": "high_article_id + :a"},
    "articles": {"id": "id + :a", "guid": "guid || :tag", "url": "url || :tag", "event_id": "event_id + :e",
                 "duplicate_of": "duplicate_of + :a"},
    "seen_items": {"key": "key || :tag", "article_id": "article_id + :a"},
    "outbox": {"id": "id + :o"},
    "deliveries": {"event_id": "event_id + :e", "alert_outbox_id": "alert_outbox_id + :o"},
}  # fmt: skip


def build(path: Path, articles: int) -> int:
    """A demo archive repeated until it holds ``articles`` articles; returns the number of rows."""
    from botsvc.store.store import open_store

    template = path.with_name("template.db")
    made = subprocess.run(
        [*BOTSVC, "demo", "--db", str(template), "--config", str(REPO / "examples" / "feeds.toml")],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("BOTSVC_DATABASE_URL", "BOTSVC_DB")},
    )
    if made.returncode != 0:
        raise SystemExit(f"botsvc demo failed: {made.stderr.strip()}")
    subprocess.run([*BOTSVC, "backup", str(path), "--db", str(template)], check=True, capture_output=True)
    store = open_store(path)
    db = store.db
    db.execute("ATTACH DATABASE ? AS tpl", (str(template),))
    top = {
        t: db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in ("articles", "events", "outbox")
    }
    each = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    statements = []
    for table, shifts in SHIFTS.items():
        columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
        chosen = ", ".join(shifts.get(c, f'"{c}"') for c in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        statements.append(f'INSERT INTO "{table}" ({names}) SELECT {chosen} FROM tpl."{table}"')
    rng = random.Random(7)
    with store.atomic():
        k = 1
        while each * (k + 1) <= articles:
            values = {"a": top["articles"] * k, "e": top["events"] * k, "o": top["outbox"] * k, "tag": f"#{k}"}
            for statement in statements:
                db.execute(statement, values)
            k += 1
        hashes = int(db.execute("SELECT count(*) FROM articles").fetchone()[0] * IRRELEVANT_PER_ARTICLE)
        db.conn.executemany(
            "INSERT INTO seen_hashes (hash, last_seen, sketch) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
            (
                (rng.getrandbits(63), 1_780_000_000, rng.getrandbits(62) if rng.random() < 0.3 else None)
                for _ in range(hashes)
            ),
        )
    db.execute("DETACH DATABASE tpl")
    tables = [
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    rows = sum(
        db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if not t.startswith("articles_fts")
    )
    store.checkpoint()
    store.close()
    return rows


def postgres_bytes(url: str) -> tuple[int, int, int]:
    """PostgreSQL's size after the copy: tables with indexes and TOAST; all indexes; the search index."""
    import psycopg

    relations = (
        "SELECT coalesce(sum({size}(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = '{kind}' AND n.nspname = current_schema()"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total = conn.execute(relations.format(size="pg_total_relation_size", kind="r")).fetchone()[0]
        indexes = conn.execute(relations.format(size="pg_relation_size", kind="i")).fetchone()[0]
        search = conn.execute("SELECT pg_relation_size('articles_search')").fetchone()[0]
    return int(total), int(indexes), int(search)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000, help="archive size (default 20,000 articles)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="botsvc-move-") as tmp:
        path = Path(tmp) / "bot.db"
        rows = build(path, args.articles)
        from botsvc.store.store import open_store

        store = open_store(path, create=False)
        articles = store.counts()["articles"]
        store.close()
        sqlite_bytes = sum(p.stat().st_size for p in path.parent.glob("bot.db*") if not p.name.endswith(".lock"))
        with running_postgres() as server:
            url = server.create_database(prefix="move")
            started = time.perf_counter()
            moving = subprocess.Popen(
                [*BOTSVC, "migrate-to-postgres", "--from", str(path), "--db", url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _, status, usage = os.wait4(moving.pid, 0)  # this child's own peak memory
            seconds = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"migrate-to-postgres failed: {moving.stderr.read().decode().strip()}")
            peak_mb = usage.ru_maxrss / 1024  # Linux: KiB
            pg_bytes, index_bytes, search_bytes = postgres_bytes(url)
    per_10k = 10_000 / articles
    print(f"articles: {articles}")
    print(f"rows: {rows}")
    print(f"migrate_s: {seconds:.2f}")
    print(f"migrate_rows_per_s: {rows / seconds:.0f}")
    print(f"migrate_articles_per_s: {articles / seconds:.0f}")
    print(f"migrate_peak_mb: {peak_mb:.0f}")
    print(f"sqlite_mb: {sqlite_bytes / 1e6:.1f}")
    print(f"postgres_mb: {pg_bytes / 1e6:.1f}")
    print(f"sqlite_mb_per_10k_articles: {sqlite_bytes / 1e6 * per_10k:.1f}")
    print(f"postgres_mb_per_10k_articles: {pg_bytes / 1e6 * per_10k:.1f}")
    print(f"postgres_index_mb_per_10k_articles: {index_bytes / 1e6 * per_10k:.1f}")
    print(f"postgres_search_index_mb_per_10k_articles: {search_bytes / 1e6 * per_10k:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
