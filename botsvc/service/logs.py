"""Log formats: readable text by default, one JSON object per line for log collectors.

Log lines carry text from outside (feed titles, chat commands, HTTP requests). Both
formats keep one record one line: the text format shows control characters as escapes
(``\\n``, ``\\x1b``) and indents a traceback's lines under their record, the JSON format
leaves no raw line separator in its output. So a newline in someone's input cannot
start a line that looks like a record of its own.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import IO

FORMATS = ("text", "json")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SEPARATORS = ("\u2028", "\u2029")
"""Line and paragraph separators: not control characters, but str.splitlines() and some viewers break on them."""
_CONTROLS = [chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))]
_ESCAPES = str.maketrans(
    {char: _NAMED.get(char) or f"\\x{ord(char):02x}" for char in _CONTROLS}
    | {char: f"\\u{ord(char):04x}" for char in _SEPARATORS}
)
_JSON_ESCAPES = str.maketrans({char: f"\\u{ord(char):04x}" for char in (*_CONTROLS[0x20:], *_SEPARATORS)})
"""DEL, C1 controls and line separators: json.dumps(ensure_ascii=False) leaves them raw (C0 it escapes)."""
TRACEBACK_INDENT = "    "


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters and line separators as visible escapes."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """The given ``%``-format with the message escaped; a traceback follows on lines that
    start with :data:`TRACEBACK_INDENT`, so only a record's first line starts at column 0."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        details = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            details.append(record.exc_text)
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        for detail in details:
            text += "".join(f"\n{TRACEBACK_INDENT}{escape_controls(line)}" for line in detail.split("\n"))
        return text


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "error"]}`` per record, UTC ISO 8601 times."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False).translate(_JSON_ESCAPES)


def setup(level: int, fmt: str, text_format: str, stream: IO[str]) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(text_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class Throttle:
    """Admits one event per ``interval`` seconds and counts the ones it turns away."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.suppressed = 0
        self._last: float | None = None

    def admit(self) -> int | None:
        """None if the last admitted event was less than ``interval`` ago (this one is counted);
        else how many were turned away since then (the count starts again)."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return None
        self._last = now
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed


class RateLimitedLog:
    """At most one line per ``interval`` seconds for one kind of recurring event (say, a
    refused request anyone on the internet can send); the next line written says how many
    were left out since the previous one, and :meth:`flush` writes that count at shutdown."""

    def __init__(self, logger: logging.Logger, interval: float, *, level: int = logging.WARNING) -> None:
        self.logger = logger
        self.level = level
        self.throttle = Throttle(interval)

    def log(self, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a line was written less than ``interval`` ago; True if written."""
        suppressed = self.throttle.admit()
        if suppressed is None:
            return False
        if suppressed:
            message += " (%d more since the last line like this)"
            args = (*args, suppressed)
        self.logger.log(self.level, message, *args)
        return True

    def flush(self, what: str) -> None:
        """Log the count of lines left out since the last one written, if any."""
        if self.throttle.suppressed:
            self.logger.log(self.level, "%d more %s not logged", self.throttle.suppressed, what)
            self.throttle.suppressed = 0
