"""Relevance cost: the topic rules alone against the rules followed by the structural judgement,
and what judging costs per item on the intake thread, irrelevant and relevant.

    .venv/bin/python benchmarks/relevance_speed.py [--repeat N] [--archive N]

Items: the labelled feeds bundled with the project (``examples/`` = ``shared/eval/dev``,
``tests/fixtures/dev-real/``, ``tests/fixtures/dev-future/``, the same as the shared
sets), the real unrelated news of ``tests/fixtures/feed-snapshots/`` and the synthetic
news of ``poll_speed.py`` (mostly unrelated stories, some naming Japan or Korea). Each is
judged with the default topic of ``feeds.toml`` twice: ``structure = false`` (the rules
alone) and ``structure = true``. Printed, one ``name: value`` per line: the time to load
the structure vocabulary, its memory, the per-item cost of both ways over every item and
over the items that name neither state (which the structure must not make dearer), how
many items reached the structural judgement, and the process's peak memory.

Then the judging cost with the default topic as configured, in CPU microseconds per item
(best of ``--repeat`` passes):

* ``irrelevant_us_per_item``: items labelled irrelevant (the hard cases: most name Japan
  or Korea, many both); ``unrelated_us_per_item``: the real unrelated news snapshots;
* ``relevant_us_per_item``: items labelled relevant, the relevance judgement alone;
* ``placement_us_per_item``: items labelled relevant, judged and placed among an archive
  of ``--archive`` stored reports (default 20,000, a year or two of the beat): the
  relevance judgement, the fingerprint and the event assignment (the intake thread's
  work before it writes the article). The archive is made from the labelled relevant
  texts with 40% of their words replaced (so the beat's names stay as common as in real
  reports), published over the two years before the items.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
import tracemalloc
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from poll_speed import build_feeds  # noqa: E402

from botsvc.config import load_config  # noqa: E402
from botsvc.ingest.parse import parse_feed  # noqa: E402
from botsvc.judge.clustering import EventAssigner  # noqa: E402
from botsvc.judge.fingerprint import make_fingerprint  # noqa: E402
from botsvc.judge.relevance import Relevance  # noqa: E402
from botsvc.judge.structure import Structure  # noqa: E402
from botsvc.models import FeedItem  # noqa: E402

LABELLED = [REPO / "examples", REPO / "tests" / "fixtures" / "dev-real", REPO / "tests" / "fixtures" / "dev-future"]
SNAPSHOTS = REPO / "tests" / "fixtures" / "feed-snapshots"


def labelled(relevant: bool) -> list[FeedItem]:
    """The items of the bundled labelled sets with that label."""
    items: list[FeedItem] = []
    for directory in LABELLED:
        labels = json.loads((directory / "labels.json").read_text(encoding="utf-8"))["items"]
        wanted = {(label["feed"], label["guid"]) for label in labels if label["relevant"] == relevant}
        for path in sorted((directory / "feeds").glob("*.xml")):
            items += [i for i in parse_feed(path.read_bytes(), feed=path.name).items if (path.name, i.guid) in wanted]
    return items


def snapshots() -> list[FeedItem]:
    """The real news snapshots (none on the beat)."""
    items: list[FeedItem] = []
    for path in sorted(SNAPSHOTS.rglob("*")):
        if path.suffix in {".xml", ".rss"}:
            items += parse_feed(path.read_bytes(), feed=path.name).items
    return items


def archive(texts: list[FeedItem], size: int, now: datetime) -> EventAssigner:
    """``size`` stored reports like ``texts`` (40% of the words replaced), one event each, over two years."""
    rng = random.Random(22)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]

    def vary(text: str) -> str:
        words = text.split(" ")
        return " ".join(
            w if rng.random() < 0.6 else "".join(rng.choices(syllables, k=rng.randint(2, 4))) for w in words
        )

    assigner = EventAssigner()
    rows = []
    for n in range(size):
        item = texts[n % len(texts)]
        fingerprint = make_fingerprint(vary(item.title), vary(item.summary), vary(item.body))
        rows.append((n + 1, n + 1, fingerprint.to_bytes(), now - timedelta(days=730 * (size - n) / size)))
    assigner.record_many(rows)
    return assigner


def best_us(work, items: list[FeedItem], repeat: int) -> float:
    """Best of ``repeat`` passes of ``work`` over ``items``, in CPU microseconds per item."""
    for item in items:  # warm-up: patterns compiled, caches filled
        work(item)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - started)
    return 1e6 * best / max(1, len(items))


def corpus(synthetic_feeds: int) -> list[FeedItem]:
    items: list[FeedItem] = []
    for directory in LABELLED:
        for path in sorted((directory / "feeds").glob("*.xml")):
            items += parse_feed(path.read_bytes(), feed=path.name).items
    for n, body in enumerate(build_feeds(synthetic_feeds, 20)):
        items += parse_feed(body, feed=f"synthetic-{n}").items
    return items


def per_item_ms(ways: list[Relevance], items: list[FeedItem], repeat: int) -> list[float]:
    """Best of ``repeat`` passes per way, in milliseconds of CPU per item.

    The ways take turns pass by pass, so a busy machine slows each of them alike.
    """
    best = [float("inf")] * len(ways)
    for _ in range(repeat):
        for n, relevance in enumerate(ways):
            started = time.process_time()
            for item in items:
                relevance.match(item)
            best[n] = min(best[n], time.process_time() - started)
    return [1000 * b / max(1, len(items)) for b in best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed passes of each way; the best counts (default 10)")
    parser.add_argument("--synthetic-feeds", type=int, default=100, help="feeds of 20 synthetic items (default 100)")
    parser.add_argument("--archive", type=int, default=20_000, help="stored reports to place among (default 20000)")
    args = parser.parse_args(argv)

    config = load_config(REPO / "feeds.toml")
    topic = config.topic(config.default_topic)
    items = corpus(args.synthetic_feeds)

    started = time.perf_counter()
    structure = Structure.load()
    load_ms = 1000 * (time.perf_counter() - started)
    tracemalloc.start()
    Structure.load()
    structure_kb = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()

    rules = Relevance([replace(topic, structure=False)])
    both = Relevance([replace(topic, structure=True)], structure=structure)
    matcher = both.matchers[topic.name]
    neither = [i for i in items if not structure.states_named(matcher._found(f"{i.title}\n{i.summary}\n{i.body}"))]
    reached = [i for i in items if not rules.match(i) and i not in neither]
    by_structure = sum(1 for i in reached if both.match(i))

    print(f"items: {len(items)}")
    print(f"items naming neither state: {len(neither)}")
    print(f"items reaching the structural judgement: {len(reached)}")
    print(f"items kept by the structural judgement: {by_structure}")
    print(f"structure load ms: {load_ms:.1f}")
    print(f"structure memory kB: {structure_kb:.0f}")
    rules_ms, both_ms = per_item_ms([rules, both], items, args.repeat)
    print(f"rules per item ms: {rules_ms:.4f}")
    print(f"rules+structure per item ms: {both_ms:.4f}")
    rules_ms, both_ms = per_item_ms([rules, both], neither, args.repeat)
    print(f"rules per item ms, naming neither state: {rules_ms:.4f}")
    print(f"rules+structure per item ms, naming neither state: {both_ms:.4f}")
    if reached:
        rules_ms, both_ms = per_item_ms([rules, both], reached, args.repeat)
        print(f"rules per item ms, items reaching the structure: {rules_ms:.4f}")
        print(f"rules+structure per item ms, items reaching the structure: {both_ms:.4f}")

    judged = Relevance([topic])
    irrelevant, relevant, unrelated = labelled(False), labelled(True), snapshots()
    print(f"labelled irrelevant items: {len(irrelevant)}")
    print(f"labelled relevant items: {len(relevant)}")
    print(f"unrelated snapshot items: {len(unrelated)}")
    print(f"irrelevant_us_per_item: {best_us(judged.match, irrelevant, args.repeat):.1f}")
    print(f"unrelated_us_per_item: {best_us(judged.match, unrelated, args.repeat):.1f}")
    print(f"relevant_us_per_item: {best_us(judged.match, relevant, args.repeat):.1f}")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    started = time.perf_counter()
    assigner = archive(relevant, args.archive, now)
    print(f"archive articles: {args.archive}")
    print(f"archive build s: {time.perf_counter() - started:.1f}")

    def judge_and_place(item: FeedItem) -> None:
        if judged.match(item):
            fingerprint = make_fingerprint(item.title, item.summary, item.body)
            if assigner.assign(fingerprint, now, outlet=item.outlet_key).event_id is None:
                assigner.concepts_of(fingerprint)

    print(f"placement_us_per_item: {best_us(judge_and_place, relevant, args.repeat):.1f}")
    print(f"peak memory MB: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
