"""How many never-seen items a feed usually brings per poll, and when it suddenly brought far more.

A surge (a feed gone wild: a CMS republishing its archive, GUIDs regenerated on every
request, spam) is capped by :mod:`botsvc.deliver.alert_limits` either way; recording it lets an
operator see which feed did it (``botsvc feeds``, ``botsvc status``, ``/news feeds``).

The usual number is a running average over the feed's polls after the first (a first
poll brings the feed's whole history, which says nothing about its rate): the plain mean
of the first ten polls, then an exponential average that follows slow changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from botsvc.deliver.alert_limits import AlertLimits
from botsvc.models import ItemOutcome
from botsvc.store.store import Store, iso, parse_iso_required

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
    row = store.db.execute("SELECT polls, average FROM feed_volume WHERE feed = ?", (feed,)).fetchone()
    if first_poll:
        if row is None:
            store.db.execute("INSERT INTO feed_volume (feed) VALUES (?)", (feed,))
        return None
    polls, average = row if row is not None else (0, 0.0)
    surge = fresh > limits.surge_min_items and fresh > limits.surge_factor * average
    weight = max(1.0 / (polls + 1), MIN_WEIGHT)
    store.db.execute(
        "INSERT INTO feed_volume (feed, polls, average) VALUES (?, ?, ?) ON CONFLICT (feed) DO UPDATE SET "
        "polls = excluded.polls, average = excluded.average",
        (feed, polls + 1, average + weight * (fresh - average)),
    )
    if not surge:
        return None
    store.db.execute(
        "UPDATE feed_volume SET surge_at = ?, surge_items = ?, surge_usual = ? WHERE feed = ?",
        (iso(now), fresh, average, feed),
    )
    return Surge(feed, fresh, average, now)


def record_unchanged_polls(store: Store, feeds: Sequence[str], before: Collection[str]) -> None:
    """Count a poll that brought nothing new (answered 304) for each of ``feeds``, in two statements.

    What :func:`record_poll` does with no fresh items, for every feed at once, inside the
    caller's transaction: never a surge. ``before``: the feeds that had a successful poll
    before this one (the others' first poll is only noted).
    """
    conn = store.db.conn
    conn.executemany(
        "INSERT OR IGNORE INTO feed_volume (feed) VALUES (?)", [(feed,) for feed in feeds if feed not in before]
    )
    # The running average of fresh items moves towards 0 by this poll's weight (record_poll's formula).
    conn.executemany(
        "INSERT INTO feed_volume (feed, polls, average) VALUES (?, 1, 0.0) ON CONFLICT (feed) DO UPDATE SET "
        "polls = polls + 1, average = average - max(1.0 / (polls + 1), ?) * average",
        [(feed, MIN_WEIGHT) for feed in feeds if feed in before],
    )


def recent_surges(store: Store, now: datetime) -> dict[str, Surge]:
    """Feeds that surged within :data:`SURGE_SHOWN_FOR` of ``now``, by name."""
    rows = store.query(
        "SELECT feed, surge_items, surge_usual, surge_at FROM feed_volume WHERE surge_at >= ?",
        (iso(now - SURGE_SHOWN_FOR),),
    )
    return {
        r["feed"]: Surge(
            r["feed"],
            r["surge_items"],
            r["surge_usual"],
            parse_iso_required(r["surge_at"], f"feed {r['feed']}: surge_at"),
        )
        for r in rows
    }
