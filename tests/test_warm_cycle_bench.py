"""benchmarks/warm_cycle.py's cycle without HTTP keeps up with what the poll cycle hands fetch_many."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import poll_speed  # noqa: E402
import warm_cycle  # noqa: E402


def test_the_warm_cycle_without_http_runs_against_the_real_cycle(tmp_path, feed_server):
    bodies = poll_speed.build_feeds(3, 5)
    for number, body in enumerate(bodies):
        feed_server.static(f"/feed/{number}.xml", body, etag=f'"v{number}"')
    config = poll_speed.bench_config(feed_server.base_url, len(bodies))
    db = tmp_path / "warm.db"
    _, _, cold = warm_cycle.in_process_cycle(config, db)  # stores each feed's ETag
    assert cold == {"ok": 3}
    assert warm_cycle.cycle_without_http(config, db) >= 0.0  # every answer a 304 (it checks)
