"""Is the database file still the one we opened?

SQLite keeps writing to an open file after it was deleted or replaced under it (a
mistaken ``rm``, a restore over a running bot), so nothing fails: the bot just writes
into a file nobody will see again, and the next start begins with an empty database
and alerts everything again. Comparing the file's identity (device and inode, taken at
open) and checking its header catches that cheaply, without reading the database.
"""

from __future__ import annotations

import os
import struct
import time
from datetime import datetime, timezone
from pathlib import Path

HEADER = b"SQLite format 3\x00"


def lost_marker(path: str) -> Path:
    """``<database>.lost``: left when the file was lost under a running bot, so a restart
    (Docker restarts it) does not quietly begin an empty database and alert everything again."""
    return Path(path + ".lost")


def mark_lost(path: str, problem: str) -> None:
    """Leave :func:`lost_marker` with what happened (best effort: the directory may be gone too)."""
    try:
        lost_marker(path).write_text(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {problem}\n")
    except OSError:
        pass


def identify(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at ``path``; None for ``:memory:`` or a missing file."""
    if path == ":memory:":
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def problem(path: str, identity: tuple[int, int] | None) -> str | None:
    """What is wrong with the file at ``path`` that was ``identity`` when opened, or None."""
    if identity is None:
        return None
    try:
        info = os.stat(path)
        with open(path, "rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return f"the database file {path} was deleted while open"
    except OSError as exc:
        return f"the database file {path} cannot be read: {exc.strerror or exc}"
    if (info.st_dev, info.st_ino) != identity:
        return f"the database file {path} was replaced by another file while open"
    if not header.startswith(HEADER):
        return f"the database file {path} was truncated or overwritten (no SQLite header)"
    short = _shorter_than_its_header(info.st_size, header)
    # A checkpoint writes page 1 (with the new page count) before the pages that grow the
    # file, so a file can look short for a moment while another connection (the intake
    # thread) writes. Only a file that stays short is truncated.
    for _ in range(SETTLE_TRIES):
        if short is None:
            return None
        time.sleep(SETTLE_SECONDS)
        try:
            with open(path, "rb") as handle:
                header = handle.read(100)
                size = os.fstat(handle.fileno()).st_size
        except OSError:
            break
        short = _shorter_than_its_header(size, header)
    if short is not None:
        size, expected = short
        return f"the database file {path} was truncated ({size} bytes; its header says {expected})"
    return None


#: How often, and how far apart, a file that looks shorter than its header is looked at again.
SETTLE_TRIES = 40
SETTLE_SECONDS = 0.05


def _shorter_than_its_header(size: int, header: bytes) -> tuple[int, int] | None:
    """(size, size the header claims) when the file is shorter than its header says, else None."""
    if not header.startswith(HEADER) or len(header) < 100:
        return None
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    changes, pages = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])  # the page count is trusted only when it matches
    if changes == valid_for and size < pages * page_size:
        return size, pages * page_size
    return None
