"""Is the database file still the one we opened?

SQLite keeps writing to an open file after it was deleted or replaced under it (a
mistaken ``rm``, a restore over a running bot), so nothing fails: the bot just writes
into a file nobody will see again, and the next start begins with an empty database
and alerts everything again. Comparing the file's identity (device and inode, taken at
open) and checking its header catches that cheaply, without reading the database.

The file is never opened and closed here while a connection is open: that would drop
the process's SQLite locks (see :func:`_held`). Identity comes from ``os.stat``; the
header is read through one descriptor held from the first store's open to the last one's close.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
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


def hold(path: str) -> tuple[int, int] | None:
    """:func:`identify`, keeping the descriptor :func:`problem` reads through open until
    the matching :func:`release` (a store holds it from open to close)."""
    identity = identify(path)
    if identity is not None and _held(path, identity) is not None:
        with _HELD_LOCK:
            _HOLDERS[identity] = _HOLDERS.get(identity, 0) + 1
    return identity


def release(identity: tuple[int, int] | None) -> None:
    """One holder of ``identity`` is done (its SQLite connection already closed); the last
    one closes the descriptor, when no connection of this process can lose a lock by it."""
    if identity is None:
        return
    with _HELD_LOCK:
        count = _HOLDERS.get(identity, 0) - 1
        if count > 0:
            _HOLDERS[identity] = count
            return
        _HOLDERS.pop(identity, None)
        fd = _HELD.pop(identity, None)
    if fd is not None:
        os.close(fd)


#: One read-only descriptor per database file (by identity), open while a store holds it.
_HELD: dict[tuple[int, int], int] = {}
_HOLDERS: dict[tuple[int, int], int] = {}
_SPARE: list[int] = []
_HELD_LOCK = threading.Lock()


def _held(path: str, identity: tuple[int, int]) -> int | None:
    """A descriptor of the file ``identity`` (at ``path``), kept open while the process uses it.

    On POSIX, closing *any* descriptor of a file drops every advisory lock the process
    holds on it, SQLite's included. A process with SQLite connections that opened and
    closed the database file itself would lose its locks; the next process to close the
    database then believes it is the last user, checkpoints and deletes the write-ahead
    log under the running bot, whose later writes go into a deleted file. So the header
    is read through one descriptor that stays open until the process's last store of the
    file has closed its connection (SQLite's "How to corrupt an SQLite database file",
    2.2). None when the file at ``path`` is no longer ``identity``.
    """
    with _HELD_LOCK:
        if identity in _HELD:
            return _HELD[identity]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        info = os.fstat(fd)
        key = info.st_dev, info.st_ino
        if key in _HELD:  # another file, already held, is at ``path`` now
            _SPARE.append(fd)  # never closed: closing it would drop that file's locks
        else:
            _HELD[key] = fd
        return fd if key == identity else None


def _header_and_size(fd: int) -> tuple[bytes, int]:
    return os.pread(fd, 100, 0), os.fstat(fd).st_size


def problem(
    path: str, identity: tuple[int, int] | None, *, checkpoint: Callable[[], bool | None] | None = None
) -> str | None:
    """What is wrong with the file at ``path`` that was ``identity`` when opened, or None.

    A file shorter than its header says is first given to ``checkpoint`` (which copies
    the write-ahead log into it through SQLite): after a full disk the log holds pages
    the file is still waiting for, and that database is whole. ``checkpoint`` answers True
    when every logged page is now in the file, False or None when it could not tell (a
    reader still needs old pages, the disk is still full): only a file that stays short
    after a complete checkpoint is truncated.
    """
    if identity is None:
        return None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"the database file {path} was deleted while open"
    except OSError as exc:
        return f"the database file {path} cannot be read: {exc.strerror or exc}"
    if (info.st_dev, info.st_ino) != identity:
        return f"the database file {path} was replaced by another file while open"
    fd = _held(path, identity)
    if fd is None:
        return f"the database file {path} was replaced by another file while open"
    try:
        header, size = _header_and_size(fd)
    except OSError as exc:
        return f"the database file {path} cannot be read: {exc.strerror or exc}"
    if not header.startswith(HEADER):
        return f"the database file {path} was truncated or overwritten (no SQLite header)"
    short = _shorter_than_its_header(size, header)
    # A checkpoint writes page 1 (with the new page count) before the pages that grow the
    # file, so a file can look short for a moment while another connection (the intake
    # thread) writes. Only a file that stays short is truncated.
    for _ in range(SETTLE_TRIES):
        if short is None:
            return None
        time.sleep(SETTLE_SECONDS)
        try:
            header, size = _header_and_size(fd)
        except OSError:
            break
        short = _shorter_than_its_header(size, header)
    if short is not None and checkpoint is not None:
        if not checkpoint():
            return None  # the log may still hold the missing pages: look again next time
        try:
            header, size = _header_and_size(fd)
        except OSError:
            return None
        short = _shorter_than_its_header(size, header)
    if short is not None:
        size, expected = short
        return f"the database file {path} was truncated ({size} bytes; its header says {expected})"
    return None


def looks_short(path: str, identity: tuple[int, int] | None) -> tuple[int, int] | None:
    """(size, size its header claims) when the file is shorter than its header says, else None.

    At start-up that means a checkpoint that could not finish (the disk filled while it
    grew the file): the write-ahead log still holds the pages, until a checkpoint copies them.
    """
    if identity is None:
        return None
    fd = _held(path, identity)
    if fd is None:
        return None
    try:
        header, size = _header_and_size(fd)
    except OSError:
        return None
    return _shorter_than_its_header(size, header)


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
