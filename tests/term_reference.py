"""The former term matcher, kept as the reference the one-pass :class:`botsvc.judge.terms.TermSet` must agree with.

It tries, at every run of Latin letters or digits, the terms that begin with that run,
and checks every Korean or Japanese term as a substring. Slow (a Python step per run
and per CJK term) but plainly right; tests/test_term_matcher.py compares the two (and the two
folds).
"""

from __future__ import annotations

import re
import unicodedata

from botsvc.judge.terms import term_key
from botsvc.judge.tokens import CJK_CHARS

_CJK = re.compile(f"[{CJK_CHARS}]")
_SEPARATORS = r"[\s\-\u2010-\u2015_/]+"
_EDGE = rf"[^\W{CJK_CHARS}]"
_EDGE_CHAR = re.compile(_EDGE)
_RUN = re.compile(rf"[^\W_{CJK_CHARS}]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def reference_fold(text: str) -> str:
    """The former :func:`botsvc.judge.terms.fold` (NFKC, straight quotes by table, case-folded)."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()


class ReferenceTermSet:
    """The per-term matcher botsvc used before the one-pass TermSet, kept to check it against.

    :meth:`found` returns the terms as they were listed (not as they were written in
    the text), so callers can map each back to its rule or concept.
    """

    def __init__(self, terms: set[str] | frozenset[str]) -> None:
        self.canonical: dict[str, str] = {}
        by_start: dict[str, list[str]] = {}
        self.cjk: list[tuple[str, str]] = []
        for term in sorted(terms):
            key = term_key(term)
            if not key or key in self.canonical:
                continue
            self.canonical[key] = term
            if _CJK.search(key):
                self.cjk.append((key, term))
                continue
            run = _RUN.match(key)
            if run is None:  # a Latin term must begin with a letter or digit
                continue
            by_start.setdefault(run.group(0), []).append(_SEPARATORS.join(re.escape(word) for word in key.split(" ")))
        # A Latin term begins where a run of Latin letters or digits begins, so each run
        # is tried only against the terms that begin with it (one alternation of every
        # term tried at every character costs several times more). Longest first, so
        # "white list" beats "white". Each run's pattern is compiled the first time the
        # run occurs: compiling the edge test's CJK character class costs milliseconds a
        # pattern, and most terms' first words are rare.
        self._alternations = {
            start: "(?:" + "|".join(sorted(alts, key=len, reverse=True)) + rf")(?!{_EDGE})"
            for start, alts in by_start.items()
        }
        self._at_run: dict[str, re.Pattern[str]] = {}
        # A longer term hides shorter ones starting at the same place ("japanese beer" hides
        # "japanese", "japan's" hides "japan"): remember, per term, the shorter terms it
        # begins with that end at a word edge.
        keys = {k for k in self.canonical if not _CJK.search(k)}
        self.prefixes: dict[str, list[str]] = {}
        for key in keys:
            leading = (key[:i].rstrip() for i in range(1, len(key)) if _EDGE_CHAR.match(key, i) is None)
            self.prefixes[key] = sorted({self.canonical[lead] for lead in leading if lead in keys and lead != key})
        self._keys: dict[str, str] = {}  # matched text -> term key; bounded by the term spellings seen

    def found(self, folded: str) -> set[str]:
        """The listed terms occurring in ``folded`` (text already passed through :func:`fold`)."""
        hits: set[str] = set()
        at_run = self._at_run
        alternations = self._alternations
        # Overlapping terms ("export controls" / "controls") are all wanted: every run is
        # tried, and shorter terms hidden by a longer one at the same place come from
        # ``prefixes``. A run is never preceded by a Latin letter or digit, by construction.
        for run in _RUN.finditer(folded):
            start = run.group(0)
            pattern = at_run.get(start)
            if pattern is None:
                if start not in alternations:
                    continue
                pattern = at_run[start] = re.compile(alternations[start])
            match = pattern.match(folded, run.start())
            if match is None:
                continue
            found = match.group(0)
            key = self._keys.get(found)
            if key is None:
                key = self._keys.setdefault(found, term_key(found))
            hits.add(self.canonical[key])
            hits.update(self.prefixes[key])
        for key, term in self.cjk:
            if key in folded:
                hits.add(term)
        return hits


def reference_pattern(key: str) -> re.Pattern[str]:
    """The structure's former pattern for where term ``key`` occurs (edge test in front)."""
    if _CJK.search(key):
        return re.compile(re.escape(key))
    words = _SEPARATORS.join(re.escape(w) for w in key.split(" "))
    return re.compile(rf"(?<!{_EDGE}){words}(?!{_EDGE})")
