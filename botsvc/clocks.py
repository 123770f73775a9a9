"""Stored moments read back against a clock that may have been wrong when they were written.

A host whose clock ran ahead (a bad NTP server, a VM restored from a snapshot) writes
moments in the future: a feed's next attempt a year away, a subscription's last digest
"tomorrow". Once the clock is corrected, such a moment would silently stop a feed or a
channel until that date. Every stored moment that gates an action is therefore read
through :func:`not_after`, which treats anything further ahead than it could honestly be
as "now".
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import overload

log = logging.getLogger(__name__)

TOLERANCE = timedelta(minutes=5)
"""How far ahead of the clock a stored moment may be before it is taken as written by a wrong clock."""


@overload
def not_after(value: datetime, now: datetime, *, ahead: timedelta = ..., what: str = ...) -> datetime: ...
@overload
def not_after(value: datetime | None, now: datetime, *, ahead: timedelta = ..., what: str = ...) -> datetime | None: ...


def not_after(
    value: datetime | None, now: datetime, *, ahead: timedelta = timedelta(0), what: str = "a stored time"
) -> datetime | None:
    """``value``, or ``now`` if it lies more than ``ahead`` + :data:`TOLERANCE` after ``now``.

    ``ahead`` is how far in the future the value may legitimately be (a backoff's cap);
    a recorded moment of the past (a last digest, a creation time) has none.
    """
    if value is None or value <= now + ahead + TOLERANCE:
        return value
    log.warning(
        "%s is %s, ahead of the clock (%s); the clock was wrong when it was written, using now",
        what,
        value.isoformat(timespec="seconds"),
        now.isoformat(timespec="seconds"),
    )
    return now
