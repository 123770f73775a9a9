"""Log formats keep one record on one line whatever the logged data holds, and
RateLimitedLog writes one line per interval with a count of the ones it left out.

Records go through ``botsvc.service.logs.setup`` (as ``botsvc run`` sets up logging) into a
string stream, so the tests read exactly the bytes an operator's log would get.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from botsvc.service import logs

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORGED = "feed title\n2026-01-01 00:00:00,000 INFO botsvc: admin password changed"
NASTY = "a\rb\x1b[31mc\x00d\x7fe\x85f\u2028g\u2029h\x0bi\x0cj\x1ck\tl"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """The root logger set up as ``botsvc run`` does, writing to a string; restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream, logging.getLogger("botsvc.test")
    root.handlers[:], root.level = saved


def test_text_format_writes_a_newline_in_a_message_as_an_escape(captured) -> None:
    stream, log = captured
    logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
    log.info("fetched %r from %s", 1, FORGED)
    log.info("next record")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(r"fetched 1 from feed title\n2026-01-01 00:00:00,000 INFO botsvc: admin password changed")
    assert second.endswith("INFO botsvc.test: next record")


def test_text_format_escapes_every_control_character_and_line_separator(captured) -> None:
    stream, log = captured
    logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
    log.warning("%s", NASTY)
    [line] = stream.getvalue().splitlines()  # str.splitlines breaks on \x85, \u2028, \x0b, \x1c too
    assert line.endswith(r"a\rb\x1b[31mc\x00d\x7fe\x85f\u2028g\u2029h\x0bi\x0cj\x1ck\tl")


def test_a_traceback_stays_indented_under_its_record_even_with_a_newline_in_the_error(captured) -> None:
    stream, log = captured
    logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
    try:
        raise ValueError(FORGED + "\rmore")
    except ValueError:
        log.exception("parsing failed")
    log.info("after")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("ERROR botsvc.test: parsing failed")
    assert lines[-1].endswith("INFO botsvc.test: after")
    middle = lines[1:-1]
    assert middle[0] == logs.TRACEBACK_INDENT + "Traceback (most recent call last):"
    assert all(line.startswith(logs.TRACEBACK_INDENT) for line in middle), middle
    assert middle[-2:] == [
        logs.TRACEBACK_INDENT + "ValueError: feed title",
        logs.TRACEBACK_INDENT + r"2026-01-01 00:00:00,000 INFO botsvc: admin password changed\rmore",
    ]


def test_json_format_is_one_line_per_record_and_keeps_the_message_exactly(captured) -> None:
    stream, log = captured
    logs.setup(logging.INFO, "json", TEXT_FORMAT, stream)
    log.info("%s|%s", FORGED, NASTY)
    try:
        raise RuntimeError(NASTY)
    except RuntimeError:
        log.exception("boom\n%s", "x")
    records = stream.getvalue().splitlines()
    assert len(records) == 2
    first, second = (json.loads(record) for record in records)
    assert first["message"] == f"{FORGED}|{NASTY}" and first["level"] == "info"
    assert second["message"] == "boom\nx" and second["error"].endswith(f"RuntimeError: {NASTY}")


def test_a_rate_limited_log_writes_one_line_per_interval_then_counts_the_rest(captured) -> None:
    stream, log = captured
    logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
    limited = logs.RateLimitedLog(log, interval=0.2)
    written = [limited.log("refused %s", n) for n in range(50)]
    assert written == [True] + [False] * 49
    time.sleep(0.25)
    assert limited.log("refused %s", 50)
    limited.log("refused %s", 51)
    limited.flush("refusals")
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "refused 0",
        "refused 50 (49 more since the last line like this)",
        "1 more refusals not logged",
    ]
    assert all(" WARNING " in line for line in lines)
    limited.flush("refusals")  # nothing left out since: nothing written
    assert len(stream.getvalue().splitlines()) == 3
