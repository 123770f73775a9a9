"""Relevance cost: the topic rules alone against the rules followed by the structural judgement.

    .venv/bin/python benchmarks/relevance_speed.py [--repeat N]

Items: the labelled feeds bundled with the project (``examples/``,
``tests/fixtures/dev-real/``, ``tests/fixtures/dev-future/``) and the synthetic news of
``poll_speed.py`` (mostly unrelated stories, some naming Japan or Korea). Each is judged
with the default topic of ``feeds.toml`` twice: ``structure = false`` (the rules alone)
and ``structure = true``. Printed, one ``name: value`` per line: the time to load the
structure vocabulary, its memory, the per-item cost of both ways over every item and
over the items that name neither state (which the structure must not make dearer), how
many items reached the structural judgement, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from poll_speed import build_feeds  # noqa: E402

from botsvc.config import load_config  # noqa: E402
from botsvc.ingest.parse import parse_feed  # noqa: E402
from botsvc.judge.relevance import Relevance  # noqa: E402
from botsvc.judge.structure import Structure  # noqa: E402
from botsvc.models import FeedItem  # noqa: E402

LABELLED = [REPO / "examples", REPO / "tests" / "fixtures" / "dev-real", REPO / "tests" / "fixtures" / "dev-future"]


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
    parser.add_argument("--repeat", type=int, default=5, help="timed passes of each way; the best counts (default 5)")
    parser.add_argument("--synthetic-feeds", type=int, default=100, help="feeds of 20 synthetic items (default 100)")
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
    print(f"peak memory MB: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
