"""Finding listed terms in text: the matcher behind topic rules and the concept lexicon.

Latin-script terms match as whole words, case-insensitively, with spaces and hyphens
interchangeable ("intelligence-sharing" matches "intelligence sharing"). A Latin term
may touch Korean or Japanese characters ("GSOMIAの破棄", "WTO에"), because those
scripts attach particles without a space. Korean and Japanese terms match as
substrings, for the same reason; a single Han, kana or Hangul character is not a term
(日 or 韓 alone would match inside unrelated words).
"""

from __future__ import annotations

import re
import unicodedata

from botsvc.tokens import CJK_CHARS

__all__ = ["TermSet", "fold", "is_single_cjk_character", "term_key"]

_CJK = re.compile(f"[{CJK_CHARS}]")
_SEPARATORS = r"[\s\-\u2010-\u2015_/]+"
_SEP_RE = re.compile(_SEPARATORS)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
#: A Latin term's edge must not touch a Latin letter or digit; CJK characters are fine.
_EDGE = rf"[^\W{CJK_CHARS}]"


def fold(text: str) -> str:
    """Text as the matcher sees it: NFKC, straight quotes, case-folded."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()


def term_key(text: str) -> str:
    """The folded form a term is looked up by (separators collapsed to one space)."""
    return _SEP_RE.sub(" ", fold(text)).strip()


def is_single_cjk_character(term: str) -> bool:
    """True for a term that is one Han, kana or Hangul character (too short to mean a word)."""
    key = term_key(term)
    return len(key) == 1 and bool(_CJK.match(key))


class TermSet:
    """A set of terms, found in a text in one regex pass plus substring checks.

    :meth:`found` returns the terms as they were listed (not as they were written in
    the text), so callers can map each back to its rule or concept.
    """

    def __init__(self, terms: set[str] | frozenset[str]) -> None:
        self.canonical: dict[str, str] = {}
        latin: list[str] = []
        self.cjk: list[tuple[str, str]] = []
        for term in sorted(terms):
            key = term_key(term)
            if not key:
                continue
            if key in self.canonical:
                continue
            self.canonical[key] = term
            if _CJK.search(key):
                self.cjk.append((key, term))
            else:
                latin.append(_SEPARATORS.join(re.escape(word) for word in key.split(" ")))
        latin.sort(key=len, reverse=True)  # longest first, so "white list" beats "white"
        # A longer term hides shorter ones starting at the same place ("japanese beer" hides
        # "japanese"): remember, per term, the shorter terms that are its leading words.
        keys = [k for k in self.canonical if not _CJK.search(k)]
        self.prefixes: dict[str, list[str]] = {
            key: [self.canonical[other] for other in keys if key.startswith(other + " ")] for key in keys
        }
        self._keys: dict[str, str] = {}  # matched text -> term key; bounded by the term spellings seen
        self.pattern = (
            re.compile(rf"(?<!{_EDGE})(?:" + "|".join(latin) + rf")(?!{_EDGE})") if latin else None
        )

    def found(self, folded: str) -> set[str]:
        """The listed terms occurring in ``folded`` (text already passed through :func:`fold`)."""
        hits: set[str] = set()
        if self.pattern is not None:
            pos = 0
            # overlapping terms ("export controls" / "controls") are all wanted: rescan from
            # each match start + 1 instead of after the match.
            while True:
                match = self.pattern.search(folded, pos)
                if match is None:
                    break
                found = match.group(0)
                key = self._keys.get(found)
                if key is None:
                    key = self._keys.setdefault(found, term_key(found))
                hits.add(self.canonical[key])
                hits.update(self.prefixes[key])
                pos = match.start() + 1
        for key, term in self.cjk:
            if key in folded:
                hits.add(term)
        return hits
