"""Fingerprints: what is stored per article so near-duplicates can be found later.

A fingerprint is the sorted set of 64-bit hashes of an article's content tokens
(:func:`botsvc.judge.tokens.content_tokens`; blake2b, stable across processes and releases)
and, per token, one byte saying where it occurs (title, lead = summary, rest of the
body) and how often. Document frequencies are *not* part of it: the index
(:mod:`botsvc.judge.similarity`) derives them from the fingerprints it holds, so weights stay
current as the archive grows. ``to_bytes()`` takes 5 + 9 bytes per distinct token: a
feed item (title + summary) ~0.3-0.5 KB, an article with a body ~2-3 KB. The store keeps
it per article (a BLOB column), and the index is rebuilt from those bytes at start-up
instead of re-tokenising the texts.
"""

from __future__ import annotations

import struct
from array import array
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b

from botsvc.judge.concepts import concept_tokens, is_cross_language
from botsvc.judge.tokens import content_tokens

__all__ = [
    "IN_BODY",
    "IN_LEAD",
    "IN_TITLE",
    "Fingerprint",
    "is_cross_language_hash",
    "make_fingerprint",
    "raw_parts",
    "token_hash",
]

#: Bits of the per-token byte in a :class:`Fingerprint`.
IN_TITLE = 0x01
IN_LEAD = 0x02
IN_BODY = 0x04
_COUNT_SHIFT = 3
_COUNT_MAX = 31

#: At most this many body tokens (after the lead) are fingerprinted; later text rarely decides a match.
MAX_BODY_TOKENS = 600
#: When there is no summary, this many leading body tokens serve as the lead.
LEAD_TOKENS_FROM_BODY = 45

#: Version 2: concept tokens added, cross-language tokens marked by the top hash bit.
_FORMAT_VERSION = 2
#: The top bit of a token hash says "this token means the same in every language".
CROSS_LANGUAGE_BIT = 1 << 63
#: Body text searched for concepts (characters); later text rarely names the story.
MAX_BODY_CHARS_FOR_CONCEPTS = 4000
#: Without a summary, concepts in this much of the body count as the lead's.
LEAD_CHARS_FROM_BODY = 300
_HEADER = struct.Struct("<BI")


def check_header(data: bytes) -> int:
    """Token count of persisted fingerprint bytes, after checking version and length."""
    if len(data) < _HEADER.size:
        raise ValueError("fingerprint: too short")
    version, count = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION:
        raise ValueError(f"fingerprint: unknown format version {version}")
    if len(data) != _HEADER.size + 9 * count:
        raise ValueError("fingerprint: length does not match its token count")
    return count


@lru_cache(maxsize=1 << 16)
def token_hash(token: str) -> int:
    """Stable 64-bit hash of a token (the same across processes and releases).

    The top bit is set exactly for cross-language tokens (concepts, numbers), so the
    index can tell them apart from the hash alone.
    """
    value = int.from_bytes(blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
    return (value | CROSS_LANGUAGE_BIT) if is_cross_language(token) else (value & ~CROSS_LANGUAGE_BIT)


def is_cross_language_hash(value: int) -> bool:
    return bool(value & CROSS_LANGUAGE_BIT)


@dataclass(frozen=True)
class Fingerprint:
    """What is persisted per document: sorted token hashes and one flag byte per token.

    ``flags[i]`` describes ``hashes[i]``: bit 0 title, bit 1 lead/summary,
    bit 2 rest of body; bits 3-7 the number of occurrences (capped at 31).
    """

    hashes: tuple[int, ...]
    flags: bytes

    def __post_init__(self) -> None:
        if len(self.hashes) != len(self.flags):
            raise ValueError("fingerprint: hashes and flags differ in length")

    def __len__(self) -> int:
        return len(self.hashes)

    def to_bytes(self) -> bytes:
        """Compact binary form: version, count, uint64 hashes (little endian), flag bytes."""
        body = array("Q", self.hashes)
        if body.itemsize != 8:  # pragma: no cover - every supported platform has 8-byte Q
            raise RuntimeError("array('Q') is not 64-bit here")
        if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian host
            body.byteswap()
        return _HEADER.pack(_FORMAT_VERSION, len(self.hashes)) + body.tobytes() + bytes(self.flags)

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """The fingerprint :meth:`to_bytes` wrote; ValueError for anything else."""
        count = check_header(data)
        end = _HEADER.size + 9 * count
        body = array("Q")
        body.frombytes(data[_HEADER.size : _HEADER.size + 8 * count])
        if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover
            body.byteswap()
        return cls(tuple(body), bytes(data[_HEADER.size + 8 * count : end]))


def make_fingerprint(title: str, summary: str = "", body: str = "") -> Fingerprint:
    """Fingerprint of one article from its plain-text title, summary and body.

    The summary is the lead; without one, the first :data:`LEAD_TOKENS_FROM_BODY`
    body tokens are. At most :data:`MAX_BODY_TOKENS` body tokens are used.
    """
    title_tokens = content_tokens(title) + concept_tokens(title)
    lead = content_tokens(summary)
    body_tokens = content_tokens(body, MAX_BODY_TOKENS)
    lead_text, body_text = summary, body[:MAX_BODY_CHARS_FOR_CONCEPTS]
    if not lead and body_tokens:
        lead, body_tokens = body_tokens[:LEAD_TOKENS_FROM_BODY], body_tokens[LEAD_TOKENS_FROM_BODY:]
        lead_text, body_text = body_text[:LEAD_CHARS_FROM_BODY], body_text[LEAD_CHARS_FROM_BODY:]
    lead_tokens = lead + concept_tokens(lead_text)
    body_tokens = body_tokens + concept_tokens(body_text)
    # Per token: the fields it occurs in and how often in all (capped), counted in C.
    counts = Counter(title_tokens)
    counts.update(lead_tokens)
    counts.update(body_tokens)
    in_title, in_lead, in_body = set(title_tokens), set(lead_tokens), set(body_tokens)
    pairs = sorted(
        (
            token_hash(tok),
            (IN_TITLE if tok in in_title else 0)
            | (IN_LEAD if tok in in_lead else 0)
            | (IN_BODY if tok in in_body else 0)
            | (min(_COUNT_MAX, count) << _COUNT_SHIFT),
        )
        for tok, count in counts.items()
    )
    # Two tokens with one hash (practically never): keep one entry, merge the flags.
    hashes: list[int] = []
    flags = bytearray()
    for h, f in pairs:
        if hashes and hashes[-1] == h:
            flags[-1] |= f & 0x07
            continue
        hashes.append(h)
        flags.append(f)
    return Fingerprint(tuple(hashes), bytes(flags))


def raw_parts(fp: Fingerprint | bytes) -> tuple[bytes, bytes, int]:
    """(little-endian uint64 hash bytes, flag bytes, token count) of a fingerprint or its persisted bytes."""
    if isinstance(fp, Fingerprint):
        data = fp.to_bytes()
    else:
        data = bytes(fp)
    count = check_header(data)
    split = _HEADER.size + 8 * count
    return data[_HEADER.size : split], data[split:], count
