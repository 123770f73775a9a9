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

from botsvc.judge.tokens import CJK_CHARS

__all__ = ["TermSet", "fold", "is_single_cjk_character", "term_key"]

_CJK = re.compile(f"[{CJK_CHARS}]")
_SEPARATORS = r"[\s\-\u2010-\u2015_/]+"
_SEP_RE = re.compile(_SEPARATORS)
_QUOTE_PAIRS = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00a0", " "))
#: A Latin term's edge must not touch a Latin letter or digit; CJK characters are fine.
_EDGE = rf"[^\W{CJK_CHARS}]"
_EDGE_CHAR = re.compile(_EDGE)
#: A letter or digit outside ASCII (in a text without Korean or Japanese: an accented Latin one).
_NON_ASCII_WORD = re.compile(r"[^\x00-\x7f\W]")
#: A run of Latin-script letters and digits (where a Latin term can begin).
_RUN = re.compile(rf"[^\W_{CJK_CHARS}]+")


def fold(text: str) -> str:
    """Text as the matcher sees it: NFKC, straight quotes, case-folded."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        # str.translate with a table walks the text in Python-level lookups (~15 µs for
        # an average item); these five replacements are C scans with the same result.
        for curly, straight in _QUOTE_PAIRS:
            text = text.replace(curly, straight)
    return text.casefold()


def term_key(text: str) -> str:
    """The folded form a term is looked up by (separators collapsed to one space)."""
    return _SEP_RE.sub(" ", fold(text)).strip()


def is_single_cjk_character(term: str) -> bool:
    """True for a term that is one Han, kana or Hangul character (too short to mean a word)."""
    key = term_key(term)
    return len(key) == 1 and bool(_CJK.match(key))


_CJK_GROUPS = 4
"""Groups of first characters the Korean and Japanese trie is split into (fastest on the bundled feeds)."""


def _class(chars: list[str]) -> str:
    """A character class of ``chars``."""
    return "[" + "".join(re.escape(char) for char in chars) + "]"


class _Trie:
    """Literal branches of a regular expression, merged on shared first characters.

    Python's regex engine tries the alternatives of a group one by one; nested on
    their characters, the patterns of hundreds of terms cost a handful of character
    tests where a text does not hold one of them.
    """

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.ends: list[str] = []

    def add(self, literal: str, end: str) -> None:
        """Add the branch ``literal`` (plain characters) followed by ``end`` (a pattern without a top-level ``|``)."""
        node = self
        for char in literal:
            node = node.children.setdefault(char, _Trie())
        node.ends.append(end)

    def pattern(self) -> str:
        """Longer branches first: every child before the pattern that ends here."""
        branches = [re.escape(char) + child.pattern() for char, child in self.children.items()]
        if self.ends:
            branches.append(self.ends[0] if len(self.ends) == 1 else "(?:" + "|".join(self.ends) + ")")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


class TermSet:
    """A set of terms, all found in one regex pass per script.

    :meth:`found` returns the terms as they were listed (not as they were written in
    the text), so callers can map each back to its rule or concept.
    """

    def __init__(self, terms: set[str] | frozenset[str]) -> None:
        self.canonical: dict[str, str] = {}
        by_start: dict[str, list[str]] = {}
        cjk: list[str] = []
        for term in sorted(terms):
            key = term_key(term)
            if not key or key in self.canonical:
                continue
            self.canonical[key] = term
            if _CJK.search(key):
                cjk.append(key)
                continue
            run = _RUN.match(key)
            if run is None:  # a Latin term must begin with a letter or digit
                continue
            by_start.setdefault(run.group(0), []).append(_SEPARATORS.join(re.escape(word) for word in key.split(" ")))
        self._by_start = by_start
        self._cjk_keys = cjk
        self._compiled = False
        cjk_keys = set(cjk)
        self._cjk_prefixes = {key: [key[:i] for i in range(1, len(key)) if key[:i] in cjk_keys] for key in cjk}
        self._sources: dict[str, str] = {}  # the patterns by kind of text: ascii, latin, mixed, cjk
        self._patterns: dict[str, re.Pattern[str]] = {}
        # A longer term hides shorter ones starting at the same place ("japanese beer" hides
        # "japanese", "japan's" hides "japan"): remember, per term, the shorter terms it
        # begins with that end at a word edge.
        keys = {k for k in self.canonical if not _CJK.search(k)}
        self._prefixes: dict[str, list[str]] = {}
        for key in keys:
            leading = (key[:i].rstrip() for i in range(1, len(key)) if _EDGE_CHAR.match(key, i) is None)
            self._prefixes[key] = sorted({lead for lead in leading if lead in keys and lead != key})
        self._keys: dict[str, str] = {}  # matched text -> term key; bounded by the term spellings seen

    def _compile(self) -> None:
        """Write the patterns on first use, one per kind of text (see :meth:`_pattern`)."""
        # Latin terms. A term begins where a run of Latin letters or digits begins: after a
        # character that is not one (the text is searched with a space in front), at a run
        # equal to the term's first word. Terms of one first run are tried longest first, so
        # "white list" beats "white"; terms of different first runs never match at the same
        # place, so they sit in a trie of their first runs, which the regex engine walks with
        # a few character tests. The pattern consumes the character before the term alone and
        # reads the term in a look-ahead, so one findall resumes just after each hit's start
        # and overlapping terms ("export controls" / "controls") are all found.
        if self._by_start:
            trie = _Trie()
            for start, alts in self._by_start.items():
                for alt in sorted(alts, key=len, reverse=True):
                    trie.add(start, alt[len(start) :])  # re.escape leaves letters and digits as they are
            latin = trie.pattern()
            self._sources["latin"] = rf"[\W_{CJK_CHARS}](?=({latin})(?!{_EDGE}))"
            # The same pattern with ASCII classes serves ASCII texts: a class of ranges is one
            # table lookup a character, the Unicode word test and the CJK ranges several.
            self._sources["ascii"] = rf"[^a-zA-Z0-9](?=({latin})(?![a-zA-Z0-9_]))"
            # In Korean or Japanese text nearly every character may precede a Latin term, and
            # the trie would be tried at each: there the pattern opens with the letters a
            # Latin term begins with (few in such text) and looks behind for the character
            # before it (same hits, a fraction of the steps).
            firsts = sorted({start[0] for start in self._by_start})
            self._sources["mixed"] = rf"{_class(firsts)}(?<=[\W_{CJK_CHARS}](?=({latin})(?!{_EDGE}))(?s:.))"
        # Korean and Japanese terms are substrings: a trie of them, longest first; the shorter
        # terms a longer one begins with come from ``_cjk_prefixes``. Their first characters
        # are hundreds of common syllables and characters, and the regex engine tries the
        # alternatives of a group one by one: at each such character of a text the trie
        # would test them all. A class test first picks the quarter of the trie that may
        # begin there. The pattern consumes the first character alone and reads the term
        # from a look-behind at it, so one findall (resuming one character on, as a search
        # per hit did) returns every term, overlapping ones included.
        if self._cjk_keys:
            firsts = sorted({key[0] for key in self._cjk_keys})
            size = -(-len(firsts) // _CJK_GROUPS)
            branches = []
            for group in (firsts[n : n + size] for n in range(0, len(firsts), size)):
                cjk_trie = _Trie()
                for key in self._cjk_keys:
                    if key[0] in group:
                        cjk_trie.add(key, "")
                branches.append(f"(?={_class(group)}){cjk_trie.pattern()}")
            self._sources["cjk"] = rf"{_class(firsts)}(?<=(?=((?:{'|'.join(branches)})))(?s:.))"
        self._compiled = True

    def _pattern(self, kind: str) -> re.Pattern[str]:
        """The pattern for ``kind`` of text, compiled the first time such a text comes: tens of
        milliseconds each, so a set only ever asked about English text pays for one."""
        pattern = self._patterns[kind] = re.compile(self._sources[kind])
        return pattern

    def found(self, folded: str) -> set[str]:
        """The listed terms occurring in ``folded`` (text already passed through :func:`fold`)."""
        canonical = self.canonical
        return {canonical[key] for key in self.found_keys(folded)}

    def found_keys(self, folded: str) -> set[str]:
        """The keys (:func:`term_key`) of the terms occurring in ``folded``: :meth:`found` without the lookup."""
        if not self._compiled:
            self._compile()
        hits: set[str] = set()
        # isascii is a flag, free; every Korean or Japanese term holds a Han, kana or
        # Hangul character, so only a text with one needs the second pass.
        cjk_text = not folded.isascii() and _CJK.search(folded) is not None
        if self._by_start:
            if folded.isascii():
                kind = "ascii"
            elif cjk_text:
                kind = "mixed"
            else:
                # Where every character outside ASCII is a dash, a symbol or a space (an English
                # text with an em dash), the ASCII classes decide as the Unicode ones do.
                kind = "latin" if _NON_ASCII_WORD.search(folded) else "ascii"
            pattern = self._patterns.get(kind) or self._pattern(kind)
            keys, prefixes = self._keys, self._prefixes
            for found in set(pattern.findall(" " + folded)):
                key = keys.get(found)
                if key is None:
                    key = keys.setdefault(found, term_key(found))
                hits.add(key)
                hits.update(prefixes[key])
        if self._cjk_keys and cjk_text:
            cjk_prefixes = self._cjk_prefixes
            for key in set((self._patterns.get("cjk") or self._pattern("cjk")).findall(folded)):
                hits.add(key)
                hits.update(cjk_prefixes[key])
        return hits
