"""Text as the search index stores it, and user words as the index is queried.

SQLite's ``unicode61`` tokenizer splits on spaces and punctuation, which suits English
but not Korean (particles are attached: 지소미아를) or Japanese (no spaces at all): a
whole run would be one token, and a search for 지소미아 or 輸出規制 would find nothing.
So runs of those scripts are indexed as overlapping character pairs, plus their last
character, and a query word in those scripts becomes the phrase of its pairs: it
matches wherever the word occurs inside a run, and nowhere else. Korean spacing varies
between outlets (수출규제 and 수출 규제 are the same word), so runs separated only by
spaces are paired as one run with the spaces removed: 수출규제 is found in 수출 규제를.

:func:`search_text` runs inside SQLite (a function the store registers, called by the
index triggers), so its output for a given text must never change without a
migration that rebuilds ``articles_fts``; removing an article from the index passes
the same words again.

On PostgreSQL the same output is split and folded here as ``unicode61`` does (words,
lower case, Latin diacritics removed) into a ``tsvector`` (:func:`tsvector`) that the
store writes with the article, and queries become ``tsquery`` text (:func:`pg_tsquery`)
from the same terms as :func:`fts_query`, so both databases find the same reports.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from functools import lru_cache
from operator import add

from botsvc.judge.tokens import CJK_CHARS

_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_CJK_SPACED_RUN = re.compile(f"[{CJK_CHARS}]+(?:\\s+[{CJK_CHARS}]+)*")
"""Unspaced-script runs together with the spaces between them (indexed as one run)."""
_WORD = re.compile(r"[^\W_]+")  # as unicode61 splits: underscores separate words
MAX_TERMS = 12
"""Query words beyond this many are ignored (a pasted paragraph is not a query)."""


def _pairs(run: str) -> list[str]:
    """Overlapping pairs of ``run`` and its last character: 輸出規制 → 輸出 出規 規制 制."""
    return [*map(add, run, run[1:]), run[-1]]


def _spaced_pairs(match: re.Match[str]) -> str:
    return " " + " ".join(_pairs("".join(match.group().split()))) + " "


def search_text(text: str | None) -> str:
    """``text`` as the index stores it: NFKC, and unspaced-script runs (spaces between them
    removed) as character pairs."""
    if not text:
        return ""
    if text.isascii():  # NFKC leaves ASCII as it is, and it has no unspaced-script run: the same words
        return " ".join(text.split())
    text = unicodedata.normalize("NFKC", text)
    return " ".join(_CJK_SPACED_RUN.sub(_spaced_pairs, text).split())


@lru_cache(maxsize=65536)
def _fold(token: str) -> str:
    """A word as ``unicode61 remove_diacritics 2`` indexes it: lower case, no Latin diacritics.

    Cached: an archive's words repeat, and copying one to PostgreSQL folds every word of it."""
    token = token.lower()
    if not token.isascii() and all(ord(c) < 0x2000 for c in token):
        token = unicodedata.normalize(
            "NFC", "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        )
    return token


POSITION_LIMIT = 16383
"""The highest word position a PostgreSQL tsvector keeps (later words share it)."""
LEXEME_BYTES = 2046
"""PostgreSQL's longest word: longer ones are cut to it, in the index and in queries alike."""
VECTOR_BYTES = 900_000
"""Words past this much of a tsvector (PostgreSQL's limit is 1 MB) are left out of it."""


def _lexeme(word: str) -> str:
    """A folded word as PostgreSQL tsvector/tsquery text: cut to :data:`LEXEME_BYTES`, quoted."""
    folded = _fold(word).encode()[:LEXEME_BYTES].decode("utf-8", "ignore")
    return "'" + folded.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(title: str | None, summary: str | None, body: str | None) -> str:
    """The PostgreSQL ``tsvector`` text of an article: its :func:`search_text` words, folded,
    with positions (title weighted A, summary B, body C; a gap between fields so a phrase
    never spans two, as in FTS5)."""
    positions: dict[str, list[str]] = {}
    at = size = 0
    for weight, text in (("A", title), ("B", summary), ("C", body)):
        for word in _WORD.findall(search_text(text)):
            at = min(at + 1, POSITION_LIMIT)
            lexeme = _lexeme(word)
            marks = positions.get(lexeme)
            if marks is None:
                size += len(lexeme.encode()) + 8
                if size > VECTOR_BYTES:
                    continue
                marks = positions[lexeme] = []
            if len(marks) < 255:
                marks.append(f"{at}{weight}")
        at = min(at + 1, POSITION_LIMIT)
    return " ".join(lexeme + ":" + ",".join(marks) for lexeme, marks in positions.items())


def _pg_term(segment: str, weight: str) -> str:
    """One ``tsquery`` term for one script run of a query word (as :func:`_term` for FTS5)."""

    def lexeme(word: str, suffix: str = "") -> str:
        return _lexeme(word) + (f":{suffix}" if suffix else "")

    if not _CJK_RUN.fullmatch(segment):
        return lexeme(segment, weight)
    if len(segment) == 1:
        return lexeme(segment, "*" + weight)
    return "(" + " <-> ".join(lexeme(pair, weight) for pair in _pairs(segment)[:-1]) + ")"


def pg_tsquery(text: str, *, title_only: bool = False) -> str | None:
    """:func:`fts_query` as PostgreSQL ``tsquery`` text (cast with ``::tsquery``, never parsed
    as a search language): every term required; ``title_only`` matches in titles only."""
    terms = [_pg_term(segment, "A" if title_only else "") for segment in _segments(text)]
    return " & ".join(terms) if terms else None


def _segments(text: str) -> list[str]:
    """The query words of ``text``, split where the script changes (GSOMIA를 → GSOMIA, 를)."""
    segments: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text))[:MAX_TERMS]:
        at = 0
        for run in _CJK_RUN.finditer(word):
            if run.start() > at:
                segments.append(word[at : run.start()])
            segments.append(run.group())
            at = run.end()
        if at < len(word):
            segments.append(word[at:])
    return segments


def _term(segment: str) -> str:
    """One FTS5 term for one script run of a query word, quoted so it is never syntax."""
    if not _CJK_RUN.fullmatch(segment):
        return f'"{segment}"'
    if len(segment) == 1:
        return f'"{segment}"*'  # the first character of a pair, or a run's last character
    return '"' + " ".join(run for run in _pairs(segment)[:-1]) + '"'


def fts_query(text: str) -> str | None:
    """The words of ``text`` as FTS5 terms, all required; None when there are none.

    Every word is quoted, so quotes, ``*``, ``NEAR``, ``OR`` or parentheses in user text
    are plain words. A word mixing scripts (GSOMIA를) is one term per script run.
    """
    terms = [_term(segment) for segment in _segments(text)]
    return " ".join(terms) if terms else None


def register(conn: sqlite3.Connection) -> None:
    """Make :func:`search_text` callable from SQL on ``conn`` (migrations and triggers use it)."""
    conn.create_function("search_text", 1, search_text, deterministic=True)
