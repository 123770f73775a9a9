"""Trying a feed that is not polled: ``botsvc poll --once URL`` of a feed not in the configuration.

Trying must never send or keep anything: otherwise the next real poll would find the
items seen and alert nothing, or a later poll would alert items from a feed nobody added.
So the feed is fetched and parsed outside any transaction, then judged by the real
pipeline inside a transaction that is always rolled back (:func:`botsvc.store.preview.preview`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from botsvc.config import Config
from botsvc.ingest.fetch import FetchPolicy, Validators, fetch_many
from botsvc.service.cycle import CycleReport, FeedReport, FeedTarget, parse_fetched
from botsvc.store.preview import preview
from botsvc.store.store import Store

DRY_RUN = "dry run"
"""What a tried item's ``held_back`` says: it would open an event, but nothing was stored or sent."""


async def try_feeds(
    store: Store,
    config: Config,
    targets: Sequence[FeedTarget],
    policy: FetchPolicy,
    clock: Callable[[], datetime],
) -> CycleReport:
    """Judge every item of ``targets`` as a poll would now; the database is left as it was."""
    started = clock()
    fetched = {result.url: result async for result in fetch_many([(t.url, Validators()) for t in targets], policy)}
    reports = []
    for target in targets:
        result = fetched[target.url]
        parsed = parse_fetched(result, target) if result.status == "ok" else result.error or "nothing fetched"
        if isinstance(parsed, str):
            reports.append(FeedReport(target, "error", error=parsed))
            continue
        outcomes = await preview(store, config, parsed.items, target.topics, clock)
        for outcome in outcomes:
            if outcome.decision == "new":  # its event was rolled back: no id to show, nothing alerted
                outcome.held_back, outcome.event_id, outcome.article_id = DRY_RUN, None, None
        reports.append(FeedReport(target, "ok", warning=parsed.warning, outcomes=outcomes))
    return CycleReport(reports, started, clock())
