"""Relevance and event-clustering quality on a labelled set of feeds.

    .venv/bin/python benchmarks/quality.py [DIR] [--config feeds.toml] [--threshold T] [--span-days D]
                                           [--from YYYY-MM-DD] [--until YYYY-MM-DD]
                                           [--oracle-relevance]

DIR holds ``feeds/*.xml`` and ``labels.json`` (``items``: feed file name, guid,
relevant, event). The feeds go through the real pipeline (``open_app`` → seeded
archive → one ``run_cycle`` reading the files from disk) on a fresh SQLite database;
the topic rules and dedup settings come from ``--config`` (default: the project's
``feeds.toml``). Nothing in here knows any item of any labelled set.

Printed, one ``name: value`` per line:

* relevance precision / recall: an item is kept when the pipeline put it in an event;
* clustering pairwise precision / recall / F1 over the labelled-relevant items plus the
  seeded reports (which carry the label ``--seeded-label``): a pair is predicted
  together when both items are in one event, and truly together when they share a
  label; an item the pipeline dropped is a cluster of its own;
* with ``--oracle-relevance`` the labels decide relevance (an item labelled relevant is
  kept, any other dropped), so the clustering figures measure event folding alone;
* alerts that would be posted (events opened by the cycle and not merged into another) against the number of
  distinct new events in the labels, and how many items of the seeded event were
  alerted (should be 0).

``--from`` / ``--until`` score only the labelled items published in that span (the
cycle still reads every item): the time split, e.g. ``--until 2021-12-31`` for the
events the vocabulary was written from and ``--from 2023-01-01`` for later ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import replace
from datetime import date, datetime
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from botsvc.config import FeedConfig, load_config  # noqa: E402
from botsvc.judge.relevance import Relevance, TopicMatch  # noqa: E402
from botsvc.models import FeedItem  # noqa: E402
from botsvc.service.app import open_app  # noqa: E402
from botsvc.service.cycle import run_cycle  # noqa: E402
from botsvc.store.merges import current_event  # noqa: E402

SEEDED_LABEL = "gsomia-termination-2019-08"


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def pairwise(truth: dict[str, str], predicted: dict[str, object]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of ``predicted`` clusters against ``truth`` labels."""
    both = true_pairs = predicted_pairs = 0
    for a, b in combinations(sorted(truth), 2):
        same_truth = truth[a] == truth[b]
        same_predicted = predicted[a] == predicted[b]
        true_pairs += same_truth
        predicted_pairs += same_predicted
        both += same_truth and same_predicted
    precision, recall = _ratio(both, predicted_pairs), _ratio(both, true_pairs)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


class OracleRelevance(Relevance):
    """Relevance taken from the labels: to measure clustering apart from relevance."""

    def __init__(self, rules: Relevance, relevant: set[tuple[str, str]], topic: str) -> None:
        self.matchers = rules.matchers
        self.structural = rules.structural
        self._rules = rules
        self._relevant = relevant
        self._topic = topic

    def match(self, item: FeedItem, topics: tuple[str, ...] | None = None) -> list[TopicMatch]:
        if (item.feed, item.guid) not in self._relevant and (item.feed, item.link) not in self._relevant:
            return []
        return self._rules.match(item, topics) or [TopicMatch(self._topic, ("labelled relevant",))]


def evaluate(
    directory: Path,
    config_path: Path,
    seeded_label: str,
    threshold: float | None = None,
    span_days: float | None = None,
    since: date | None = None,
    until: date | None = None,
    oracle_relevance: bool = False,
) -> dict[str, object]:
    labels = json.loads((directory / "labels.json").read_text(encoding="utf-8"))["items"]
    config = load_config(config_path)
    feed_files = sorted((directory / "feeds").glob("*.xml"))
    feeds = tuple(
        FeedConfig(
            name=path.name, url=str(path.resolve()), interval=3600, language=None, topics=(config.default_topic,)
        )
        for path in feed_files
    )
    dedup = config.dedup
    if threshold is not None:
        dedup = replace(dedup, threshold=threshold)
    if span_days is not None:
        dedup = replace(dedup, span_days=span_days)
    config = replace(config, feeds=feeds, dedup=dedup)

    with tempfile.TemporaryDirectory() as tmp:
        app = open_app(config_path, Path(tmp) / "quality.db", config=config)
        try:
            app.ensure_seeded()
            if oracle_relevance:
                relevant = {(label["feed"], label["guid"]) for label in labels if label["relevant"]}
                app.processor.relevance = OracleRelevance(app.processor.relevance, relevant, config.default_topic)
            seeded_event = app.store.seeded_event_id()
            seed_ids = [row["id"] for row in app.store.event_articles(seeded_event)] if seeded_event else []
            report = asyncio.run(
                run_cycle(app.store, app.processor, app.targets(), app.policy, workers=0, every_outcome=True)
            )
            # An event merged into another later in the cycle is told as the one it went into.
            now_in = {o.event_id: current_event(app.store, o.event_id) for o in report.outcomes if o.event_id}
        finally:
            app.close()

    failed = [f.target.name for f in report.feeds if f.status == "error"]

    # First outcome per (feed, guid) and per (feed, link): a re-issued guid counts once.
    def in_span(published: datetime | None) -> bool:
        if since is None and until is None:
            return True
        if published is None:
            return False
        day = published.date()
        return (since is None or day >= since) and (until is None or day <= until)

    by_key: dict[tuple[str, str], object] = {}
    for outcome in report.outcomes:
        by_key.setdefault((outcome.item.feed, outcome.item.guid), outcome)
        by_key.setdefault((outcome.item.feed, outcome.item.link), outcome)

    truth: dict[str, str] = {}
    predicted: dict[str, object] = {}
    scored: list[dict] = []
    kept_relevant = kept = relevant = missing = seeded_alerts = 0
    for n, label in enumerate(labels):
        outcome = by_key.get((label["feed"], label["guid"]))
        if outcome is None:
            missing += 1
            continue
        if not in_span(outcome.item.published):
            continue
        scored.append(label)
        is_kept = outcome.event_id is not None
        kept += is_kept
        if not label["relevant"]:
            continue
        relevant += 1
        kept_relevant += is_kept
        key = f"{label['feed']}\x1f{label['guid']}"
        if key in truth:
            continue
        truth[key] = label["event"]
        predicted[key] = now_in[outcome.event_id] if is_kept else ("dropped", n)
        seeded_alerts += label["event"] == seeded_label and outcome.decision == "new"
    for article_id in seed_ids:
        truth[f"seed\x1f{article_id}"] = seeded_label
        predicted[f"seed\x1f{article_id}"] = seeded_event

    precision, recall, f1 = pairwise(truth, predicted)
    alerts = len(
        {
            now_in[o.event_id]
            for o in report.outcomes
            if o.decision == "new" and o.event_id and in_span(o.item.published)
        }
    )
    new_events = {label["event"] for label in scored if label["relevant"] and label["event"] != seeded_label}
    return {
        "feeds": len(feed_files),
        "feeds failed": len(failed),
        "labelled items": len(labels),
        "labelled items scored": len(scored),
        "labelled items not found in feeds": missing,
        "relevance precision": round(_ratio(kept_relevant, kept), 3),
        "relevance recall": round(_ratio(kept_relevant, relevant), 3),
        "threshold": config.dedup.threshold,
        "span days": config.dedup.span_days,
        "oracle relevance": oracle_relevance,
        "clustering pairwise precision": round(precision, 3),
        "clustering pairwise recall": round(recall, 3),
        "clustering pairwise f1": round(f1, 3),
        "alerts that would be posted": alerts,
        "distinct new events in labels": len(new_events),
        "seeded-event items alerted": seeded_alerts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=REPO / "examples",
        help="holds feeds/*.xml and labels.json (default: the bundled examples/)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO / "feeds.toml",
        help="topic rules and [dedup] settings (default: feeds.toml)",
    )
    parser.add_argument(
        "--seeded-label",
        default=SEEDED_LABEL,
        help=f"label of the seeded event in labels.json (default {SEEDED_LABEL})",
    )
    parser.add_argument("--threshold", type=float, help="override [dedup] threshold")
    parser.add_argument("--span-days", type=float, help="override [dedup] span_days")
    parser.add_argument(
        "--from", dest="since", type=date.fromisoformat, help="score only items published on or after this day"
    )
    parser.add_argument("--until", type=date.fromisoformat, help="score only items published on or before this day")
    parser.add_argument(
        "--oracle-relevance",
        action="store_true",
        help="take relevance from the labels, to measure event clustering on its own",
    )
    args = parser.parse_args(argv)
    if not (args.directory / "labels.json").is_file():
        parser.error(f"{args.directory}: no labels.json")
    figures = evaluate(
        args.directory,
        args.config,
        args.seeded_label,
        args.threshold,
        args.span_days,
        since=args.since,
        until=args.until,
        oracle_relevance=args.oracle_relevance,
    )
    for name, value in figures.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
