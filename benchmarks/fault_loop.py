"""Does `botsvc run` keep answering HTTP while it judges a 10 MB feed?

    .venv/bin/python benchmarks/fault_loop.py               # 10 MB, about 14,000 GSOMIA items
    .venv/bin/python benchmarks/fault_loop.py --mb 2
    .venv/bin/python benchmarks/fault_loop.py --only storm --presses 40

A loopback feed server serves one generated feed (tests/bigfeed.py: every item names
GSOMIA, so each is judged relevant, fingerprinted, placed into an event and stored) to a
real `botsvc run` with a Slack signing secret. While that one poll runs, /healthz and a
signed Slack `/news help` are asked in turns and every answer is timed (tests/loopprobe.py),
until the bot logs the poll as done; then it is stopped with SIGTERM.

Printed: the feed's size and items, the poll's own duration, /healthz p50/max, the Slack
command's p50/max, how many answers fell inside the poll, failed requests, and the exit
status. Target: every answer within 1,000 ms (Slack gives up after 3 s).

The storm scenario polls the same feed and, once it is served, presses "Not relevant" on
an alert ``--presses`` times (one member, a different channel each: it counts once) and
sends ``/news feed preview`` of a page whose feed links each take 3 s to answer (with a
4 s ``[fetch] total_deadline``). Printed: ``/healthz`` p99 (target at most 100 ms), the
slowest acknowledgement of any Slack request (target at most 1 s), whether every press and
the preview were answered through their response_url, and how long the last one took.

``--only hung-slack`` (run by default too): a hung Slack API during delivery
(``fault_hung_chat.py``): when the Discord message of the same delivery was posted and how
long a poll during it took. Target: both within 1,000 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bigfeed import gsomia_feed, item_count  # noqa: E402
from tests.loopprobe import probe_big_poll  # noqa: E402

MB = 1_000_000


def run_loop(size: int = 10 * MB) -> dict[str, object]:
    """Serve a generated feed of ``size`` bytes to `botsvc run`; the figures, by printed name."""
    feed = gsomia_feed(size)
    with tempfile.TemporaryDirectory() as workdir:
        figures = probe_big_poll(feed, Path(workdir))
    healthz, slack = figures.healthz_ms or [0.0], figures.slack_ms or [0.0]
    return {
        "loop: feed bytes": len(feed),
        "loop: feed items": item_count(feed),
        "loop: poll seconds": figures.poll_seconds,
        "loop: poll outcome": figures.poll_summary or "not finished",
        "loop: healthz p50/max ms": f"{statistics.median(healthz):.1f}/{max(healthz):.1f}",
        "loop: slack command p50/max ms": f"{statistics.median(slack):.1f}/{max(slack):.1f}",
        "loop: slack command max ms": round(max(slack), 1),
        "loop: answers during poll": figures.answers_while_polling,
        "loop: failed requests": len(figures.failures),
        "loop: exit status": figures.exit_status,
    }


def p99(values: list[float]) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def run_storm(size: int = 10 * MB, presses: int = 40) -> dict[str, object]:
    """A press storm and a slow-page preview during the big poll; the figures, by printed name."""
    feed = gsomia_feed(size)
    with tempfile.TemporaryDirectory() as workdir:
        figures = probe_big_poll(feed, Path(workdir), presses=presses, slow_preview=True)
    answered = len(figures.answers) >= figures.expected_answers > 0
    return {
        "storm: feed items": item_count(feed),
        "storm: poll seconds": figures.poll_seconds,
        "storm: presses and previews sent": figures.expected_answers,
        "storm: healthz p99 ms": round(p99(figures.healthz_ms), 1),
        "storm: healthz max ms": round(max(figures.healthz_ms or [0.0]), 1),
        "storm: slowest acknowledgement ms": round(max(figures.ack_ms or [0.0]), 1),
        "storm: every command answered": "yes" if answered and not figures.failures else "no",
        "storm: last answer after s": round(figures.answered_after, 1) if figures.answered_after is not None else "-",
        "storm: database locked in log": "yes" if "locked" in figures.log else "no",
        "storm: exit status": figures.exit_status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="feed size in MB (default 10)")
    parser.add_argument("--only", default="loop,storm,hung-slack", help="cases to run (default: loop,storm,hung-slack)")
    parser.add_argument("--presses", type=int, default=40, help="not-relevant presses in the storm (default 40)")
    args = parser.parse_args()
    chosen = {case.strip() for case in args.only.split(",") if case.strip()}
    failed = False
    if "loop" in chosen:
        results = run_loop(int(args.mb * MB))
        for name, value in results.items():
            print(f"{name}: {value}")
        healthz_max = float(str(results["loop: healthz p50/max ms"]).split("/")[1])
        slow = max(healthz_max, float(results["loop: slack command max ms"])) >= 1000  # type: ignore[arg-type]
        failed |= bool(slow or results["loop: failed requests"] or results["loop: exit status"] != 0)
    if "storm" in chosen:
        storm = run_storm(int(args.mb * MB), args.presses)
        for name, value in storm.items():
            print(f"{name}: {value}")
        failed |= bool(
            float(storm["storm: healthz p99 ms"]) > 100  # type: ignore[arg-type]
            or float(storm["storm: slowest acknowledgement ms"]) > 1000  # type: ignore[arg-type]
            or storm["storm: every command answered"] != "yes"
            or storm["storm: exit status"] != 0
        )
    if "hung-slack" in chosen:  # a hung Slack API during delivery
        from fault_hung_chat import run_hung_chat

        hung = run_hung_chat()
        for name, value in hung.items():
            print(f"{name}: {value}")
        late = hung["hung slack: discord delivered after ms"]
        poll_ms = float(hung["hung slack: poll during delivery ms"])  # type: ignore[arg-type]
        failed = failed or not isinstance(late, float) or late >= 1000 or poll_ms >= 1000
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
