"""How many never-seen items a feed usually brings per poll, and when it suddenly brought far more.

A surge (a feed gone wild: a CMS republishing its archive, GUIDs regenerated on every
request, spam) is capped by :mod:`botsvc.deliver.alert_limits` either way; recording it lets an
operator see which feed did it (``botsvc feeds``, ``botsvc status``, ``/news feeds``).

The usual number is a running average over the feed's polls after the first (a first
poll brings the feed's whole history, which says nothing about its rate): the plain mean
of the first ten polls, then an exponential average that follows slow changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from botsvc.deliver.alert_limits import AlertLimits
from botsvc.models import ItemOutcome
from botsvc.store.store import Store, iso, parse_iso_required
from botsvc.store.volume import feed_volume, record_surge, save_feed_volume, start_feed_volume, surges_since

SURGE_SHOWN_FOR = timedelta(hours=24)
"""How long a surge stays flagged after the poll that brought it."""
MIN_WEIGHT = 0.1
"""Weight of the latest poll in the running average once it has ten polls behind it."""


@dataclass(frozen=True)
class Surge:
    feed: str
    items: int
    usual: float
    at: datetime

    def describe(self) -> str:
        return (
            f"SURGE: {self.items} new items in one poll at {iso(self.at)} "
            f"(usually about {self.usual:.0f}); alerts from it are capped"
        )


def fresh_items(outcomes: Sequence[ItemOutcome]) -> int:
    """Items never seen before: all but exact repeats (near-duplicates are new reports)."""
    return sum(1 for o in outcomes if o.decision != "duplicate" or o.article_id is not None)


def record_poll(
    store: Store, feed: str, fresh: int, limits: AlertLimits, *, first_poll: bool, now: datetime
) -> Surge | None:
    """Count one successful poll of ``feed`` (inside its transaction); a Surge if it was one."""
    row = feed_volume(store, feed)
    if first_poll:
        if row is None:
            start_feed_volume(store, feed)
        return None
    polls, average = row if row is not None else (0, 0.0)
    surge = fresh > limits.surge_min_items and fresh > limits.surge_factor * average
    weight = max(1.0 / (polls + 1), MIN_WEIGHT)
    save_feed_volume(store, feed, polls + 1, average + weight * (fresh - average))
    if not surge:
        return None
    record_surge(store, feed, fresh, average, now)
    return Surge(feed, fresh, average, now)


def recent_surges(store: Store, now: datetime) -> dict[str, Surge]:
    """Feeds that surged within :data:`SURGE_SHOWN_FOR` of ``now``, by name."""
    rows = surges_since(store, now - SURGE_SHOWN_FOR)
    return {
        r["feed"]: Surge(
            r["feed"],
            r["surge_items"],
            r["surge_usual"],
            parse_iso_required(r["surge_at"], f"feed {r['feed']}: surge_at"),
        )
        for r in rows
    }
