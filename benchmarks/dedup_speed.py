"""Near-duplicate check speed: SimilarityIndex + EventAssigner on synthetic archives.

    .venv/bin/python benchmarks/dedup_speed.py                    # sizes 1000, 10000, 100000
    .venv/bin/python benchmarks/dedup_speed.py --sizes 1000,10000 --queries 500

For each archive size, in a fresh interpreter (so peak memory is per size):

1. generates that many news-like articles: words drawn from a 60,000-word
   vocabulary with Zipfian frequencies, mixed with English function words; a
   title of ~10 words, a summary of ~40 and, for 30%, a body of ~300; a
   quarter of the articles are rewrites of a recent story (about 60% of its
   content words kept, the rest replaced, the order shuffled) and belong to
   that story's event; publication times spread evenly over two years;
2. fingerprints each article and records it in an ``EventAssigner`` (index and
   events); for the largest size it also writes the archive into a real botsvc
   SQLite database (events, articles with their fingerprints), untimed;
3. checks ``--queries`` incoming feed items (title + summary) published just
   after the archive's last article: a third rewrites of the last two days' stories,
   a third rewrites of older stories, a third new stories. Timed per item: the
   check ``make_fingerprint`` + ``EventAssigner.assign`` with the default
   threshold and span (nothing is added to the archive).

For the largest size (every size with ``--rebuild-all``) another fresh
interpreter then starts up as ``botsvc run`` does: ``open_store`` (migrations)
and ``EventBook``, which reads every article's fingerprint from SQLite and
rebuilds the index. Timed, with its peak memory.

Printed, one ``name: value`` line each, per size: build time; check p50, p99
and max; assign-only p50 and p99; documents met by the posting walk and scored
exactly per item; the share of those recent rewrites that joined their story's
event; persisted bytes; peak memory (``ru_maxrss``); and the start-up rebuild
time and peak memory. Finally the growth of p50 and p99 between the two
largest sizes.

Then, on that database, the cost of sharing it with other workers
(``placement_sync_us``): one process holds the index (as a worker does) and places
``--sync-placements`` reports, each in its own write transaction, while another
process stores an article every few milliseconds. Timed per placement: taking the
write lock (``BEGIN IMMEDIATE``, which waits for the other writer), then the
placement turn and :meth:`EventBook.catch_up` reading what the other stored since;
also the same with nobody else writing. The default run takes about 3 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VOCAB = 60_000
ZIPF_S = 1.07
FUNCTION_WORDS = (
    "the of and to in a is that for on with as was by at from it be has have are said its his "
    "an will their were which this but after been not or would over who also more than they into"
).split()
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ei")]


def _vocabulary(rng) -> list[str]:
    """VOCAB distinct pseudo-words of 2-4 syllables (deterministic)."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCAB:
        n = int(rng.integers(2, 5))
        w = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), n))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Generator:
    def __init__(self, seed: int) -> None:
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(seed)
        self.words = _vocabulary(self.rng)
        ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
        p = ranks**-ZIPF_S
        self.cdf = np.cumsum(p / p.sum())
        self._pool = np.empty(0, dtype=np.int64)
        self._pos = 0

    def _draw(self, n: int) -> list[int]:
        if self._pos + n > len(self._pool):
            self._pool = self.np.searchsorted(self.cdf, self.rng.random(200_000))
            self._pos = 0
        out = self._pool[self._pos : self._pos + n].tolist()
        self._pos += n
        return out

    def content(self, n: int) -> list[str]:
        return [self.words[i] for i in self._draw(n)]

    def text(self, content: list[str], sentence: int = 14) -> str:
        """Content words interleaved with function words (~40%), capitalised sentences."""
        rng = self.rng
        out: list[str] = []
        fillers = rng.integers(0, len(FUNCTION_WORDS), len(content))
        coins = rng.random(len(content))
        for i, w in enumerate(content):
            if coins[i] < 0.7:
                out.append(FUNCTION_WORDS[fillers[i]])
            out.append(w)
            if (i + 1) % sentence == 0:
                out[-1] += "."
        if out:
            out[0] = out[0].capitalize()
        return " ".join(out)

    def story(self, with_body: bool) -> tuple[list[str], list[str], list[str]]:
        return (
            self.content(int(self.rng.integers(6, 9))),
            self.content(int(self.rng.integers(20, 30))),
            self.content(int(self.rng.integers(160, 220))) if with_body else [],
        )

    def rewrite(self, parts):
        """Keep ~60% of the content words, replace the rest, shuffle a little."""
        out = []
        for words in parts:
            if not words:
                out.append([])
                continue
            keep = self.rng.random(len(words)) < 0.6
            fresh = self.content(len(words))
            new = [w if k else f for w, k, f in zip(words, keep, fresh)]
            self.rng.shuffle(new)
            out.append(new)
        return tuple(out)


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    pos = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[pos]


def worker(size: int, queries: int, seed: int, dump: str | None) -> dict:
    """Build an archive of ``size`` articles, time ``queries`` checks; optionally write it to SQLite at ``dump``."""
    from botsvc.judge.clustering import EventAssigner
    from botsvc.judge.fingerprint import make_fingerprint

    gen = Generator(seed)
    rng = gen.rng
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    span = timedelta(days=730).total_seconds()

    assigner = EventAssigner()
    stories: list[tuple[tuple, int, datetime]] = []  # (content parts, event id, first published)
    database = _ArchiveWriter(dump) if dump else None
    persisted_bytes = 0
    writing_s = 0.0
    t0 = time.perf_counter()
    for doc_id in range(1, size + 1):
        published = start + timedelta(seconds=span * doc_id / size)
        if stories and rng.random() < 0.25:
            # a rewrite of one of the last 200 stories (most rewrites follow within days)
            parts, event, _ = stories[int(rng.integers(max(0, len(stories) - 200), len(stories)))]
            parts = gen.rewrite(parts)
        else:
            parts = gen.story(with_body=rng.random() < 0.3)
            event = doc_id
            stories.append((parts, event, published))
        title, summary, body = parts
        fp = make_fingerprint(gen.text(title, 99), gen.text(summary), gen.text(body) if body else "")
        assigner.record(doc_id, event, fp, published)
        blob = fp.to_bytes()
        persisted_bytes += len(blob)
        if database is not None:
            w0 = time.perf_counter()
            database.add(doc_id, event, title[:12], summary[:40], blob, published)
            writing_s += time.perf_counter() - w0
    if database is not None:
        w0 = time.perf_counter()
        database.close()
        writing_s += time.perf_counter() - w0
    build_s = time.perf_counter() - t0 - writing_s

    # Incoming items (title + summary), published just after the archive's last article:
    # a third rewrites of stories from the last two days (their events began inside the
    # [dedup] span), a third rewrites of older stories, a third new stories.
    now = start + timedelta(seconds=span) + timedelta(hours=1)
    recent_from = next(i for i, (_, _, when) in enumerate(stories) if when >= now - timedelta(days=2))
    incoming = []
    for _ in range(queries):
        coin = rng.random()
        if coin < 2 / 3:
            lo = recent_from if coin < 1 / 3 else 0
            parts, event, _ = stories[int(rng.integers(lo, len(stories)))]
            title, summary, _ = gen.rewrite(parts)
            incoming.append((gen.text(title, 99), gen.text(summary), event if coin < 1 / 3 else None))
        else:
            title, summary, _ = gen.story(with_body=False)
            incoming.append((gen.text(title, 99), gen.text(summary), None))
    check_ms: list[float] = []
    assign_ms: list[float] = []
    candidates: list[int] = []
    scored: list[int] = []
    found = recent = 0
    index = assigner.index
    for title, summary, event in incoming:
        t1 = time.perf_counter()
        fp = make_fingerprint(title, summary)
        t2 = time.perf_counter()
        a = assigner.assign(fp, now)
        t3 = time.perf_counter()
        check_ms.append((t3 - t1) * 1000)
        assign_ms.append((t3 - t2) * 1000)
        candidates.append(index.last_candidates)
        scored.append(index.last_scored)
        if event is not None:
            recent += 1
            found += a.event_id == event
    out = {
        "size": size,
        "build_s": build_s,
        "check_p50_ms": statistics.median(check_ms),
        "check_p99_ms": _percentile(check_ms, 99),
        "check_max_ms": max(check_ms),
        "assign_p50_ms": statistics.median(assign_ms),
        "assign_p99_ms": _percentile(assign_ms, 99),
        "candidates_mean": statistics.fmean(candidates),
        "scored_mean": statistics.fmean(scored),
        "rewrites_found": found / recent if recent else float("nan"),
        "persisted_mb": persisted_bytes / 1e6,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }
    return out


class _ArchiveWriter:
    """Writes the synthetic archive into a real botsvc database (migrations applied), in batches."""

    def __init__(self, path: str) -> None:
        from botsvc.store.store import open_store

        self.store = open_store(path)
        self.events: list[tuple] = []
        self.articles: list[tuple] = []

    def add(
        self, doc_id: int, event: int, title: list[str], summary: list[str], blob: bytes, published: datetime
    ) -> None:
        when = published.isoformat(timespec="seconds")
        if event == doc_id:
            self.events.append((event, " ".join(title), when, when))
        self.articles.append(
            (
                doc_id,
                "synthetic",
                f"g{doc_id}",
                f"https://news.example/{doc_id}",
                " ".join(title),
                " ".join(summary),
                when,
                "Synthetic",
                event,
                when,
                blob,
                when,
            )
        )
        if len(self.articles) >= 5000:
            self.flush()

    def flush(self) -> None:
        with self.store.atomic():
            self.store.db.conn.executemany(
                "INSERT INTO events (id, title, first_seen, last_seen) VALUES (?, ?, ?, ?)", self.events
            )
            self.store.db.conn.executemany(
                "INSERT INTO articles (id, feed, guid, url, title, summary, published, source, event_id, "
                "first_seen, fingerprint, event_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.articles,
            )
        self.events.clear()
        self.articles.clear()

    def close(self) -> None:
        self.flush()
        self.store.close()


def rebuild_worker(path: str) -> dict:
    """A start-up as ``botsvc run`` does it: open the database, build the EventBook from its rows."""
    from botsvc.store.events import EventBook
    from botsvc.store.store import open_store

    t0 = time.perf_counter()
    store = open_store(path)
    book = EventBook(store)
    startup_s = time.perf_counter() - t0
    out = {
        "docs": len(book.assigner.index),
        "startup_s": startup_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    store.close()
    return out


def _synthetic_fingerprints(seed: int, count: int) -> list[bytes]:
    """``count`` persisted fingerprints of new synthetic stories (title + summary)."""
    from botsvc.judge.fingerprint import make_fingerprint

    gen = Generator(seed)
    out = []
    for _ in range(count):
        title, summary, _ = gen.story(with_body=False)
        out.append(make_fingerprint(gen.text(title, 99), gen.text(summary)).to_bytes())
    return out


def _store_synthetic(store, number: int, blob: bytes, published: datetime) -> None:
    """Store one synthetic article in an event of its own (inside the caller's transaction)."""
    when = published.isoformat(timespec="seconds")
    cursor = store.db.execute(
        "INSERT INTO events (title, first_seen, last_seen) VALUES (?, ?, ?)", (f"s{number}", when, when)
    )
    store.db.execute(
        "INSERT INTO articles (feed, guid, url, title, source, event_id, first_seen, fingerprint, event_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "sync",
            f"s{number}-{time.time_ns()}",
            f"https://sync.example/{number}",
            f"s{number}",
            "Sync",
            cursor.lastrowid,
            when,
            blob,
            when,
        ),
    )


def inserter(path: str, seconds: float, every_ms: float, seed: int) -> dict:
    """Another worker: store an article every ``every_ms`` for ``seconds``, each in its own transaction."""
    from botsvc.store.store import open_store

    store = open_store(path)
    blobs = _synthetic_fingerprints(seed, 500)
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    stored = 0
    print("ready", flush=True)
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        with store.atomic():
            _store_synthetic(store, stored, blobs[stored % len(blobs)], when)
        stored += 1
        time.sleep(every_ms / 1000)
    store.close()
    return {"stored": stored}


def sync_worker(path: str, placements: int, every_ms: float, seed: int) -> dict:
    """A worker holding the index places reports while another process stores (see the module docstring)."""
    from botsvc.store.events import EventBook
    from botsvc.store.placement import placement_turn
    from botsvc.store.store import open_store

    store = open_store(path)
    book = EventBook(store)
    blobs = _synthetic_fingerprints(seed + 1, placements)
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)

    def place(number: int, lock_us: list[float], sync_us: list[float], rows: list[int]) -> None:
        t0 = time.perf_counter()
        with store.atomic():
            t1 = time.perf_counter()
            with placement_turn(store):
                rows.append(book.catch_up())
                t2 = time.perf_counter()
                _store_synthetic(store, number, blobs[number % len(blobs)], when)
        lock_us.append((t1 - t0) * 1e6)
        sync_us.append((t2 - t0) * 1e6)

    quiet_lock: list[float] = []
    quiet_sync: list[float] = []
    quiet_rows: list[int] = []
    for number in range(placements):
        place(number, quiet_lock, quiet_sync, quiet_rows)
    seconds = placements * 0.004 + 5
    other = subprocess.Popen(
        [sys.executable, __file__, "--insert-into", path, "--seconds", str(seconds), "--every-ms", str(every_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None
    other.stdout.readline()  # the other worker is storing now
    lock_us: list[float] = []
    sync_us: list[float] = []
    rows: list[int] = []
    for number in range(placements):
        place(placements + number, lock_us, sync_us, rows)
        time.sleep(0.002)
    stored = json.loads(other.communicate()[0].strip().splitlines()[-1])["stored"]
    store.close()
    return {
        "quiet_sync_p50_us": statistics.median(quiet_sync),
        "quiet_sync_p99_us": _percentile(quiet_sync, 99),
        "sync_p50_us": statistics.median(sync_us),
        "sync_p99_us": _percentile(sync_us, 99),
        "lock_p50_us": statistics.median(lock_us),
        "lock_p99_us": _percentile(lock_us, 99),
        "catch_up_p50_us": statistics.median([s - lk for s, lk in zip(sync_us, lock_us)]),
        "catch_up_p99_us": _percentile([s - lk for s, lk in zip(sync_us, lock_us)], 99),
        "rows_mean": statistics.fmean(rows),
        "other_stored": stored,
        "docs": len(book.assigner.index),
    }


def _run(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="near-duplicate check speed")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated archive sizes")
    ap.add_argument("--queries", type=int, default=1000, help="incoming items checked per size")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rebuild-all", action="store_true", help="measure the rebuild at every size")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    ap.add_argument("--rebuild-from", help=argparse.SUPPRESS)
    ap.add_argument(
        "--sync-placements", type=int, default=1000, help="placements timed beside another writer (0: skip)"
    )
    ap.add_argument("--sync-from", help=argparse.SUPPRESS)
    ap.add_argument("--insert-into", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    ap.add_argument("--every-ms", type=float, default=5.0, help="the other writer stores an article this often")
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.queries, args.seed, args.dump)))
        return 0
    if args.rebuild_from:
        print(json.dumps(rebuild_worker(args.rebuild_from)))
        return 0
    if args.insert_into:
        print(json.dumps(inserter(args.insert_into, args.seconds, args.every_ms, args.seed)))
        return 0
    if args.sync_from:
        print(json.dumps(sync_worker(args.sync_from, args.sync_placements, args.every_ms, args.seed)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="dedup-speed-") as tmp:
        for size in sizes:
            n = f"{size}"
            cmd = ["--worker", n, "--queries", str(args.queries), "--seed", str(args.seed)]
            dump = None
            if args.rebuild_all or size == max(sizes):
                dump = str(Path(tmp) / f"archive-{size}.db")
                cmd += ["--dump", dump]
            r = _run(cmd)
            results.append(r)
            print(f"archive {n} build (fingerprint + record): {r['build_s']:.1f} s")
            print(f"archive {n} check p50 (fingerprint + assign): {r['check_p50_ms']:.3f} ms")
            print(f"archive {n} check p99 (fingerprint + assign): {r['check_p99_ms']:.3f} ms")
            print(f"archive {n} check max: {r['check_max_ms']:.3f} ms")
            print(f"archive {n} assign p50: {r['assign_p50_ms']:.3f} ms")
            print(f"archive {n} assign p99: {r['assign_p99_ms']:.3f} ms")
            print(f"archive {n} documents met by the posting walk per item (mean): {r['candidates_mean']:.0f}")
            print(f"archive {n} documents scored exactly per item (mean): {r['scored_mean']:.1f}")
            print(
                f"archive {n} rewrites of the last two days' stories assigned to their event: "
                f"{100 * r['rewrites_found']:.1f}%"
            )
            print(f"archive {n} persisted fingerprints: {r['persisted_mb']:.1f} MB")
            print(f"archive {n} peak memory: {r['peak_mb']:.0f} MB")
            sys.stdout.flush()
            if dump:
                rb = _run(["--rebuild-from", dump])
                print(
                    f"archive {n} start-up (open SQLite, rebuild the index of {rb['docs']} articles): "
                    f"{rb['startup_s']:.2f} s"
                )
                print(f"archive {n} start-up peak memory: {rb['peak_mb']:.0f} MB")
                sys.stdout.flush()
            if dump and size == max(sizes) and args.sync_placements:
                cmd = ["--sync-from", dump, "--sync-placements", str(args.sync_placements)]
                sy = _run([*cmd, "--every-ms", str(args.every_ms), "--seed", str(args.seed)])
                print(f"archive {n} placement_sync_us p50 (nobody else writing): {sy['quiet_sync_p50_us']:.0f}")
                print(f"archive {n} placement_sync_us p99 (nobody else writing): {sy['quiet_sync_p99_us']:.0f}")
                print(f"archive {n} placement_sync_us p50 (another process storing): {sy['sync_p50_us']:.0f}")
                print(f"archive {n} placement_sync_us p99 (another process storing): {sy['sync_p99_us']:.0f}")
                print(f"archive {n} placement write-lock wait p50: {sy['lock_p50_us']:.0f} us")
                print(f"archive {n} placement write-lock wait p99: {sy['lock_p99_us']:.0f} us")
                print(f"archive {n} placement catch-up p50: {sy['catch_up_p50_us']:.0f} us")
                print(f"archive {n} placement catch-up p99: {sy['catch_up_p99_us']:.0f} us")
                print(f"archive {n} placement catch-up rows read per placement (mean): {sy['rows_mean']:.2f}")
                print(f"archive {n} articles the other process stored meanwhile: {sy['other_stored']}")
                sys.stdout.flush()
    if len(results) >= 2:
        a, b = results[-2], results[-1]
        print(
            f"check p50 growth {a['size']} -> {b['size']}: {b['check_p50_ms'] / a['check_p50_ms']:.2f}x "
            f"(archive {b['size'] / a['size']:.0f}x)"
        )
        print(f"check p99 growth {a['size']} -> {b['size']}: {b['check_p99_ms'] / a['check_p99_ms']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
