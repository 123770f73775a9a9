"""The quality targets on the bundled labelled feeds, measured by benchmarks/quality.py's own code."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # noqa: E402


def test_pairwise_scores_count_pairs():
    truth = {"a": "x", "b": "x", "c": "y"}
    assert quality.pairwise(truth, {"a": 1, "b": 1, "c": 2}) == (1.0, 1.0, 1.0)
    precision, recall, f1 = quality.pairwise(truth, {"a": 1, "b": 2, "c": 2})
    assert (precision, recall, f1) == (0.0, 0.0, 0.0)
    precision, recall, _ = quality.pairwise(truth, {"a": 1, "b": 1, "c": 1})
    assert precision == 1 / 3 and recall == 1.0


def test_bundled_labelled_feeds_meet_the_quality_targets():
    figures = quality.evaluate(ROOT / "examples", ROOT / "feeds.toml", quality.SEEDED_LABEL)
    assert figures["labelled items not found in feeds"] == 0 and figures["feeds failed"] == 0
    assert figures["relevance precision"] >= 0.95 and figures["relevance recall"] >= 0.95
    assert figures["clustering pairwise f1"] >= 0.90
    assert figures["seeded-event items alerted"] == 0
    assert figures["alerts that would be posted"] >= figures["distinct new events in labels"]


def test_real_reports_in_three_languages_meet_the_quality_targets():
    figures = quality.evaluate(ROOT / "tests" / "fixtures" / "dev-real", ROOT / "feeds.toml", quality.SEEDED_LABEL)
    assert figures["labelled items not found in feeds"] == 0 and figures["feeds failed"] == 0
    assert figures["relevance precision"] >= 0.95 and figures["relevance recall"] >= 0.90
    assert figures["clustering pairwise f1"] >= 0.85
    assert figures["seeded-event items alerted"] == 0
    alerts, events = figures["alerts that would be posted"], figures["distinct new events in labels"]
    assert abs(alerts - events) <= 0.2 * events


@pytest.fixture(scope="module")
def dev_future():
    """Reports of 2023-2025 events, later than anything the relevance vocabulary was written from."""
    return quality.evaluate(ROOT / "tests" / "fixtures" / "dev-future", ROOT / "feeds.toml", quality.SEEDED_LABEL)


def test_later_news_meets_the_relevance_targets(dev_future):
    assert dev_future["labelled items not found in feeds"] == 0 and dev_future["feeds failed"] == 0
    assert dev_future["relevance precision"] >= 0.95 and dev_future["relevance recall"] >= 0.90
    assert dev_future["seeded-event items alerted"] == 0


def test_later_news_meets_the_clustering_target(dev_future):
    assert dev_future["clustering pairwise f1"] >= 0.85


def test_later_news_alerts_each_event_about_once(dev_future):
    """First reports of one happening in different languages open one event, not one per language."""
    alerts, events = dev_future["alerts that would be posted"], dev_future["distinct new events in labels"]
    assert events > 0
    assert abs(alerts - events) <= 0.2 * events


def test_time_split_scores_only_items_in_the_span():
    later = quality.evaluate(
        ROOT / "tests" / "fixtures" / "dev-real", ROOT / "feeds.toml", quality.SEEDED_LABEL, since=date(2023, 1, 1)
    )
    assert 0 < later["labelled items scored"] < later["labelled items"]
    assert later["relevance precision"] >= 0.95 and later["relevance recall"] >= 0.90


def test_quality_script_prints_name_value_lines():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality.py"), str(ROOT / "examples")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = [line.split(": ", 1)[0] for line in proc.stdout.splitlines()]
    for name in (
        "relevance precision",
        "relevance recall",
        "clustering pairwise precision",
        "clustering pairwise recall",
        "clustering pairwise f1",
        "alerts that would be posted",
        "distinct new events in labels",
        "seeded-event items alerted",
    ):
        assert name in names


def test_later_events_in_three_languages_fold_into_their_events():
    """dev-future with the labels' relevance: the clustering target on events the rules were not fitted on."""
    figures = quality.evaluate(
        ROOT / "tests" / "fixtures" / "dev-future", ROOT / "feeds.toml", quality.SEEDED_LABEL, oracle_relevance=True
    )
    assert figures["labelled items not found in feeds"] == 0 and figures["feeds failed"] == 0
    assert figures["relevance precision"] == figures["relevance recall"] == 1.0
    assert figures["clustering pairwise f1"] >= 0.85
    assert figures["seeded-event items alerted"] == 0
