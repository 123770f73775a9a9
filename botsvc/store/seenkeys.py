"""Fixed-size seen keys for items judged irrelevant.

An irrelevant item is never stored, so all that is needed of its identity keys (GUID in
its feed, link, title from its outlet) is "seen before or not". Kept as full strings
they cost about 180 bytes a key; kept as a 64-bit hash of the key, about 30 with the
feed's body record, whatever the length of the link or title. A hash collision (one
chance in about 2×10^12 per new key with ten million keys stored) would make one new
item look seen; the keys of
stored articles stay full strings in ``seen_items``, where they also say which article.

A reused GUID is told from an edited title by the share of words the two titles have in
common (:mod:`botsvc.store.pipeline`). For an irrelevant item's GUID the title is kept as
a 64-bit word sketch: one bit per word, at a position its hash chooses. The share of bits
in common approximates the share of words (collisions make it a little higher).

The hashes here are stored, so they must never change without a migration that
rewrites ``seen_hashes`` and ``feed_bodies``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from array import array
from collections.abc import Iterable
from functools import lru_cache

_SIGN = 1 << 63
_MASK = (1 << 64) - 1


def _signed(value: int) -> int:
    """An unsigned 64-bit value as SQLite's signed INTEGER."""
    return value - (1 << 64) if value & _SIGN else value


def _digest(text: str, size: int) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).digest()


@lru_cache(maxsize=1024)
def key_hash(key: str) -> int:
    """The 64-bit hash an identity key is stored under in ``seen_hashes``.

    Judging one item looks its keys up and then records them: the last keys' hashes are kept.
    """
    return int.from_bytes(_digest(key, 8), "big", signed=True)


@lru_cache(maxsize=8192)
def _word_bit(word: str) -> int:
    """A word's bit in a title sketch; headlines share most of their words, so the common ones are kept."""
    return 1 << (_digest(word, 1)[0] % 64)


def title_sketch(title: str | None) -> int | None:
    """64 bits, one set per distinct word of the normalised ``title`` (None for no title)."""
    if not title:
        return None
    bits = 0
    for word in set(title.split()):
        bits |= _word_bit(word)
    return _signed(bits)


def sketch_overlap(before: int, now: int) -> float:
    """Share of bits in common: about the share of words two titles have in common."""
    a, b = before & _MASK, now & _MASK
    union = (a | b).bit_count()
    return (a & b).bit_count() / union if union else 1.0


def pack(hashes: Iterable[int]) -> bytes:
    """A feed body's key hashes as a blob (little-endian 64-bit, sorted, no repeats)."""
    values = array("q", sorted(set(hashes)))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes | None) -> set[int]:
    values = array("q")
    values.frombytes(blob or b"")
    if sys.byteorder == "big":
        values.byteswap()
    return set(values)


class _BodyKeys:
    """SQL aggregate: the packed hashes of a group's keys (used by the migration)."""

    def __init__(self) -> None:
        self.hashes: list[int] = []

    def step(self, key: object) -> None:
        if isinstance(key, str):
            self.hashes.append(key_hash(key))

    def finalize(self) -> bytes:
        return pack(self.hashes)


def register(conn: sqlite3.Connection) -> None:
    """Make ``seen_key_hash``, ``title_sketch`` and ``body_keys`` callable from SQL on ``conn``."""
    conn.create_function("seen_key_hash", 1, key_hash, deterministic=True)
    conn.create_function("title_sketch", 1, title_sketch, deterministic=True)
    conn.create_aggregate("body_keys", 1, _BodyKeys)  # type: ignore[arg-type]  # hint: finalize -> int only
