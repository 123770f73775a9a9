"""Which new events of one feed's poll are alerted: one feed must never flood channels.

Judging (:mod:`botsvc.store.pipeline`) says what an item is; this decides whether the event it
opened is posted. Two kinds are *held back*, stored and searchable like any other but
never posted as an alert, then or later:

- ``backfill``: on a feed's first successful poll, items older than ``backfill_max_age``
  (or undated) are the feed's history, not news. Without this a fresh install or a newly
  added feed posts every relevant item it has ever carried.
- ``capped``: beyond ``max_per_feed`` new events in one poll, the newest are alerted
  and the rest are only counted in the digest ("and 412 more from Feed X").

The choice is written in the feed's own transaction, so a crash can never leave stored
items whose events would later be posted in one burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from botsvc.models import ItemOutcome
from botsvc.store.alert_limits import reclassify_held_back, set_held_back
from botsvc.store.store import Store

BACKFILL = "backfill"
CAPPED = "capped"
JUDGING = "judging"
"""Opened by a big feed whose poll is stored in several transactions and not finished yet:
not alerted until its last one decides (see :func:`settle_judging`)."""


@dataclass(frozen=True)
class AlertLimits:
    """The ``[alerts]`` table."""

    backfill_max_age: int | None = 86400
    """Seconds; on a feed's first poll, older items are archived, not alerted. None: alert them."""
    max_per_feed: int = 20
    """New alerts from one feed per poll; the rest are archived and counted in the digest."""
    max_per_digest: int = 50
    """New alerts in one digest for one channel; the rest are counted, one line per feed."""
    surge_factor: float = 5.0
    """A poll bringing more than this many times the feed's usual number of new items is a surge ..."""
    surge_min_items: int = 50
    """... if it also brings more than this many."""
    reports_per_hour: int = 10
    """Missed-story reports (``/news missed``) one member may make in an hour."""


def _is_backlog(outcome: ItemOutcome, cutoff: datetime | None) -> bool:
    when = outcome.item.event_time
    return cutoff is not None and (when is None or when < cutoff)


def hold_back(
    store: Store,
    outcomes: Sequence[ItemOutcome],
    limits: AlertLimits,
    *,
    first_poll: bool,
    now: datetime,
    batched: bool = False,
) -> None:
    """Mark the events of ``outcomes`` that must not be alerted (call in the feed's transaction).

    Sets ``held_back`` on those outcomes and on their events. Of the rest, the newest
    ``max_per_feed`` stay alerted. ``batched``: earlier transactions of this poll marked
    its events :data:`JUDGING`, so the alerted ones are cleared too.
    """
    cutoff = None
    if first_poll and limits.backfill_max_age is not None:
        cutoff = now - timedelta(seconds=limits.backfill_max_age)
    opened = [o for o in outcomes if o.decision == "new" and o.event_id is not None]
    alerted = []
    for outcome in opened:
        if _is_backlog(outcome, cutoff):
            outcome.held_back = BACKFILL
        else:
            alerted.append(outcome)
    alerted.sort(key=lambda o: o.item.event_time or now, reverse=True)
    for outcome in alerted[limits.max_per_feed :]:
        outcome.held_back = CAPPED
    set_held_back(store, [(o.held_back, o.event_id) for o in opened if o.held_back or batched])


def mark_judging(store: Store, outcomes: Sequence[ItemOutcome]) -> None:
    """Hold back the events ``outcomes`` opened until the poll's last transaction decides on them."""
    set_held_back(store, [(JUDGING, o.event_id) for o in outcomes if o.decision == "new" and o.event_id is not None])


def settle_judging(store: Store, feeds: Sequence[str]) -> int:
    """Events of ``feeds`` left held back by a poll that never finished (a kill, a stop): they are
    counted in the next digest as capped (the caps of that poll could not be applied), never lost.
    Call in the feeds' last transaction, after :func:`hold_back` of every one of them (it decides
    on the events their poll opened, which then are no longer held back as judging)."""
    return reclassify_held_back(store, feeds, JUDGING, CAPPED)


def held_back_counts(outcomes: Sequence[ItemOutcome]) -> dict[str, int]:
    """How many events of a poll were held back, by reason."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.held_back:
            counts[outcome.held_back] = counts.get(outcome.held_back, 0) + 1
    return counts
