"""What missed-story reports teach: relevance recall on a labelled set before and after.

    .venv/bin/python benchmarks/learning.py [DIR] [--config feeds.toml] [--reports 5] [--threshold T] [--rules-only]

DIR (default ``tests/fixtures/dev-future``) holds ``feeds/*.xml`` and ``labels.json``.
Two fresh databases holding only the seeded archive judge the same items:

* before: every labelled item, as one cycle would (rules, structure);
* after: first a channel manager reports up to ``--reports`` missed stories (each the
  earliest report of one of the earliest labelled events that the judgement drops,
  stored through ``/news missed``'s own path minus the fetch), then the same cycle.

Precision and recall are measured on the rest (the reported items are left out of both
figures). Nothing here knows any item of the set beyond its label. Prints ``name: value``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from botsvc.chat.commands import CommandCore  # noqa: E402
from botsvc.config import Config, load_config  # noqa: E402
from botsvc.ingest.parse import parse_feed  # noqa: E402
from botsvc.ingest.story import Story  # noqa: E402
from botsvc.judge import learned  # noqa: E402
from botsvc.judge.relevance import Relevance  # noqa: E402
from botsvc.models import CommandContext, FeedItem  # noqa: E402
from botsvc.service.app import open_app  # noqa: E402


def load(directory: Path) -> tuple[list[FeedItem], dict[tuple[str, str], dict]]:
    labels = {(x["feed"], x["guid"]): x for x in json.loads((directory / "labels.json").read_text("utf-8"))["items"]}
    items = []
    for path in sorted((directory / "feeds").glob("*.xml")):
        parsed = parse_feed(path.read_bytes(), feed=path.name, source=path.name, url=str(path))
        items += [item for item in parsed.items if (item.feed, item.guid) in labels]
    return items, labels


def missed_stories(items: list[FeedItem], labels: dict, config: Config, count: int) -> list[FeedItem]:
    """The earliest dropped report of each of the earliest labelled events, up to ``count``."""
    relevance = Relevance(config.topics)
    first_of: dict[str, FeedItem] = {}
    for item in sorted(items, key=lambda i: (i.event_time is None, i.event_time)):
        event = labels[(item.feed, item.guid)]["event"]
        if event and event not in first_of and not relevance.match(item):
            first_of[event] = item
    return list(first_of.values())[:count]


def judge(config_path: Path, config: Config, items: list[FeedItem], reported: list[FeedItem]) -> dict:
    """Decisions for ``items`` on a seeded database, after ``reported`` were reported missed by a manager."""
    with tempfile.TemporaryDirectory() as tmp:
        app = open_app(config_path, Path(tmp) / "learning.db", config=config)
        try:
            app.ensure_seeded()
            core = CommandCore(app.store, config)
            manager = CommandContext("slack", "C1", "T1", "U1", can_manage=True)
            for item in reported:
                story = Story(item.link or item.guid, item.title, item.summary, item.published, item.source)
                core._record_missed(story, manager)
            started = time.perf_counter()
            with app.store.atomic():
                outcomes = app.processor.process(items)
            elapsed = time.perf_counter() - started
        finally:
            app.close()
    return {
        "kept": {(o.item.feed, o.item.guid) for o in outcomes if o.decision != "irrelevant" and o.event_id},
        "ms_per_item": 1000 * elapsed / max(len(items), 1),
    }


def figures(kept: set, labels: dict, scored: list[FeedItem]) -> tuple[float, float]:
    keys = [(i.feed, i.guid) for i in scored]
    relevant = [k for k in keys if labels[k]["relevant"]]
    hits = sum(1 for k in relevant if k in kept)
    chosen = sum(1 for k in keys if k in kept)
    return (hits / chosen if chosen else 1.0), (hits / len(relevant) if relevant else 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(REPO / "tests" / "fixtures" / "dev-future"))
    parser.add_argument("--config", default=str(REPO / "feeds.toml"))
    parser.add_argument("--reports", type=int, default=5)
    parser.add_argument("--threshold", type=float, help="the learned judgement's similarity threshold")
    parser.add_argument(
        "--rules-only", action="store_true", help="topic rules without the structural judgement (a weaker start)"
    )
    args = parser.parse_args(argv)
    if args.threshold is not None:
        learned.LEARNED_THRESHOLD = args.threshold
    directory, config_path = Path(args.directory), Path(args.config)
    config = replace(load_config(config_path), feeds=(), subscriptions=())
    if args.rules_only:
        config = replace(config, topics=tuple(replace(topic, structure=False) for topic in config.topics))
    items, labels = load(directory)
    reported = missed_stories(items, labels, config, args.reports)
    reported_keys = {(i.feed, i.guid) for i in reported}
    rest = [i for i in items if (i.feed, i.guid) not in reported_keys]
    before = judge(config_path, config, rest, [])
    after = judge(config_path, config, rest, reported)
    p0, r0 = figures(before["kept"], labels, rest)
    p1, r1 = figures(after["kept"], labels, rest)
    print(f"set: {directory.name}")
    print(f"learned threshold: {learned.LEARNED_THRESHOLD}")
    print(f"judgement before: {'topic rules only' if args.rules_only else 'topic rules and structure'}")
    print(f"missed stories reported: {len(reported)}")
    print(f"items judged after them: {len(rest)}")
    print(f"relevance precision before: {p0:.2f}")
    print(f"relevance recall before: {r0:.2f}")
    print(f"relevance precision after: {p1:.2f}")
    print(f"relevance recall after: {r1:.2f}")
    print(f"judging and placing ms per item before: {before['ms_per_item']:.2f}")
    print(f"judging and placing ms per item after: {after['ms_per_item']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
