"""Quiet hours: a daily window, in a channel's time zone, in which no alert is posted.

Alerts due inside the window wait (nothing is recorded as told), so when it ends the
next delivery tells them all in one digest. The window may cross midnight
(``22:00-07:00``). Its zone is also the zone the channel's messages show times in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RANGE = re.compile(r"^([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})(?:\s+(\S+))?$")


class QuietHoursError(ValueError):
    """A malformed time range or an unknown zone; the message says which."""


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: str = "UTC"

    def __str__(self) -> str:
        return f"{self.start.strftime('%H:%M')}-{self.end.strftime('%H:%M')} {self.zone}"

    def is_quiet(self, now: datetime) -> bool:
        """Whether ``now`` falls in the window (start included, end excluded)."""
        local = now.astimezone(ZoneInfo(self.zone)).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window crosses midnight


def _time(hour: str, minute: str, text: str) -> time:
    if int(hour) > 23 or int(minute) > 59:
        raise QuietHoursError(f"{text!r}: {hour}:{minute} is not a time of day")
    return time(int(hour), int(minute))


def parse_quiet_hours(text: str) -> QuietHours:
    """``HH:MM-HH:MM [Area/City]`` (zone default UTC); raise QuietHoursError otherwise."""
    value = " ".join(text.split())
    found = _RANGE.match(value)
    if not found:
        raise QuietHoursError(f"{value[:60]!r}: expected a range such as 22:00-07:00 and a zone such as Asia/Seoul")
    start, end = _time(found[1], found[2], value), _time(found[3], found[4], value)
    if start == end:
        raise QuietHoursError(f"{value!r}: the range starts and ends at the same time")
    zone = found[5] or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as 'Asia'
        raise QuietHoursError(f"unknown time zone {zone[:60]!r} (use an IANA name such as Asia/Seoul)") from None
    return QuietHours(start, end, zone)
