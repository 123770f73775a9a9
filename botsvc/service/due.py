"""Which feeds are due for a poll, decided from the database (for the job queue's enqueuer).

The same rule ``botsvc run`` follows on SQLite: a feed is polled every ``interval``
seconds, and after failures it rests until its ``retry_at`` (botsvc's own backoff,
:mod:`botsvc.service.backoff`). A feed whose poll is already waiting or running is claimed
(``poll_queued_at``) and is not due again until that poll has ended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from botsvc.clocks import not_after
from botsvc.config import FeedConfig
from botsvc.service.backoff import LONGEST_DELAY
from botsvc.store.pollqueue import add_missing_feeds, claim_poll
from botsvc.store.store import FeedState, Store, parse_iso


def is_due(state: FeedState | None, interval: float, now: datetime, *, slack: float = 0.0) -> bool:
    """Whether a feed polled every ``interval`` s should be polled at ``now``.

    ``slack``: how early a poll may come (the enqueuer's tick), so a feed polled a few
    seconds after one tick is due at the tick one interval later, not the one after; at
    most a quarter of the interval, so a feed is never polled at every tick by it.
    """
    if state is None:
        return True
    retry_at = not_after(
        parse_iso(state.retry_at), now, ahead=timedelta(seconds=LONGEST_DELAY), what=f"{state.name}: next attempt"
    )
    if retry_at is not None:
        return retry_at <= now  # resting after failures until then; the backoff already counts the interval
    last = not_after(parse_iso(state.last_polled_at), now, what=f"{state.name}: last poll")
    return last is None or last + timedelta(seconds=interval - min(slack, interval / 4)) <= now


def claim_due(
    store: Store,
    feeds: list[FeedConfig],
    now: datetime,
    *,
    slack: float,
    abandoned_before: datetime,
    orphaned_before: datetime,
    live: set[str],
    queue_poll: Callable[[str], None] | None = None,
) -> list[str]:
    """Claim the poll of every due feed not already waiting or running; returns their names.

    One transaction. ``queue_poll(name)``, called in it for each claim, queues the poll job
    in the same transaction (a PostgreSQL store holding the queue): a process killed after
    committing claims can then never leave a claimed feed without its job.

    ``live``: feeds with a poll job waiting or running in the queue; a
    claim without one (its job deleted, or its worker stopped before it let go) is taken
    over once older than ``orphaned_before``; a claim with one, only after ``abandoned_before``.
    """
    claimed: list[str] = []
    with store.atomic():
        states = {state.name: state for state in store.feed_states()}
        add_missing_feeds(store, [(feed.name, feed.url) for feed in feeds if feed.name not in states])
        for feed in feeds:
            state = states.get(feed.name)
            expired = abandoned_before if feed.name in live else orphaned_before
            claimed_at = parse_iso(state.poll_queued_at) if state is not None else None
            if claimed_at is not None and claimed_at >= expired:
                continue  # waiting or running: no write for it (thousands of feeds wait at each tick)
            if not is_due(state, feed.interval, now, slack=slack):
                continue
            if claim_poll(store, feed.name, now, abandoned_before=expired):
                if queue_poll is not None:
                    queue_poll(feed.name)
                claimed.append(feed.name)
    return claimed
