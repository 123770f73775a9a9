"""How long a failing feed rests before the next attempt.

Exponential in the number of consecutive failures, starting from the feed's own
interval, capped, with jitter so feeds that failed together (one outage) do not all
come back at the same moment.
"""

from __future__ import annotations

import random

MAX_DELAY = 6 * 3600.0
"""Longest rest between attempts (seconds): a feed that is down for days is still tried."""
JITTER = 0.2
LONGEST_DELAY = MAX_DELAY * (1 + JITTER)
"""No stored next attempt lies further ahead than this; one that does was written by a wrong clock."""


def retry_delay(failures: int, interval: float, *, cap: float = MAX_DELAY, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures of a feed polled every ``interval`` s.

    One failure waits about one interval (the normal schedule); each further failure
    doubles it, up to ``cap``; then +/- 20% jitter.
    """
    if failures <= 0:
        return 0.0
    base = min(cap, interval * 2 ** min(failures - 1, 30))
    jitter = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return min(cap * (1 + JITTER), base * jitter)
