"""Words worth comparing: the tokens near-duplicate detection is computed over.

NFKC, lower case, punctuation dropped. Latin-script words lose a possessive ``'s``,
are split at hyphens, pass a generic English stopword list (:data:`STOPWORDS`;
all-caps acronyms such as ``US`` are kept) and a light suffix stemmer (:func:`stem`).
Numbers are kept when they have at least three digits (years, amounts, counts).
Runs of Chinese, Japanese or Korean characters, which have no spaces between
words, become overlapping character bigrams.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["CJK_CHARS", "STOPWORDS", "content_tokens", "stem"]

#: Generic English function words plus the most common reporting verbs.
STOPWORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at
    be became because become becomes becoming been before beforehand behind being below beside besides
    between beyond both but by can cannot could did do does doing done down during each either else
    elsewhere enough etc even ever every everyone everything everywhere except few for former formerly
    from further had has have having he hence her here hereafter hereby herein hers herself him himself
    his how however i if in indeed into is it its itself just last latter latterly least less many may
    me meanwhile might mine more moreover most mostly much must my myself namely neither never
    nevertheless next no nobody none noone nor not nothing now nowhere of off often on once one only onto
    or other others otherwise our ours ourselves out over own per perhaps please quite rather re same
    seem seemed seeming seems several she should since so some somehow someone something sometime
    sometimes somewhere still such than that the their theirs them themselves then thence there
    thereafter thereby therefore therein thereupon these they this those though through throughout thru
    thus to together too toward towards under until up upon us very via was we well were what whatever
    when whence whenever where whereafter whereas whereby wherein whereupon wherever whether which while
    whither who whoever whole whom whose why will with within without would yet you your yours yourself
    yourselves
    s t d ll m o re ve y st nd rd th mr mrs ms dr
    say says said saying told tell tells according reported reports reportedly added adding
    also new would could
    """.split()
)

#: Characters of scripts written without spaces between words, as a regex character-class
#: body: Han (Chinese characters, kanji, hanja), Japanese kana (with halfwidth katakana)
#: and Korean Hangul (whose words carry particles: 지소미아를, 지소미아가).
CJK_CHARS = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
_TOKEN_RE = re.compile(
    rf"(?P<cjk>[{CJK_CHARS}]+)"
    r"|(?P<acro>(?:[^\W\d_]\.){2,})"
    r"|(?P<num>\d+(?:[.,]\d+)*)"
    rf"|(?P<word>[^\W\d_{CJK_CHARS}]+(?:['\u2019][^\W\d_{CJK_CHARS}]+)*)"
)
_APOSTROPHES = "'\u2019"

#: A number is kept as a token when it has at least this many digits.
MIN_NUMBER_DIGITS = 3

_ISE = re.compile(r"is(e|ed|es|ing|ation|ations|er|ers)$")
_VOWELS = frozenset("aeiouy")


def _has_vowel(s: str) -> bool:
    return any(c in _VOWELS for c in s)


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light, deterministic suffix stemmer for lower-case English words.

    It conflates inflections (``ends/ended/ending -> end``, ``decides/decided ->
    decid``), ``-ation``/``-ate`` (``termination/terminate -> terminat``),
    ``-ly`` and ``-ment``, and British/American spellings (``labour/labor``,
    ``defence/defense``, ``-ise/-ize``). Short words are left alone.
    """
    w = word
    if len(w) <= 3:
        return w
    if len(w) >= 6:
        w = _ISE.sub(r"iz\1", w)
    # plurals / third person
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    # -ation(s) -> -at (termination -> terminat, like terminate -> terminat)
    if w.endswith("ation") and len(w) > 7:
        w = w[:-3]
    elif w.endswith("ment") and len(w) >= 8:
        w = w[:-4]
    elif w.endswith("ly") and len(w) >= 6:
        w = w[:-2]
    # -ed / -ing
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and _has_vowel(w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lsz" + "aeiou":
                w = w[:-1]  # stopped -> stop
            elif len(w) >= 4 and w.endswith("ll"):
                w = w[:-1]  # cancelled -> cancel
            break
    if w.endswith("ie") and len(w) >= 5:
        w = w[:-2] + "y"  # applied -> appli -> (via ies) ; tie-break for -ied
    if w.endswith("i") and len(w) >= 5:
        w = w[:-1] + "y"  # applied -> appli -> apply
    # British / American spellings
    if len(w) >= 5:
        if w.endswith("our"):
            w = w[:-3] + "or"
        elif w.endswith("ence"):
            w = w[:-4] + "ense"
        elif w.endswith("tre"):
            w = w[:-3] + "ter"
    if w.endswith("e") and len(w) >= 5:
        w = w[:-1]  # decide -> decid, like decided -> decid
    return w


def _mostly_upper(text: str) -> bool:
    # filter and map walk the text in C (a generator here cost a fifth of a fingerprint).
    letters = list(filter(str.isalpha, text))
    return bool(letters) and sum(map(str.isupper, letters)) > 0.6 * len(letters)


@lru_cache(maxsize=1 << 16)
def _word(tok: str, shouting: bool) -> str | None:
    """The token a word of a text becomes (None: a stopword or too short); ``shouting``: the
    text is mostly upper case, so its all-caps words are not taken for acronyms.

    Cached: news repeats its words, and this was most of the cost of a fingerprint's words."""
    keep_acronym = not shouting and 2 <= len(tok) <= 5 and tok.isupper()
    for apos in _APOSTROPHES:
        if apos in tok:
            head, _, tail = tok.partition(apos)
            tok = head if tail.lower() in ("s", "") else head + tail.replace(apos, "")
    low = tok.lower()
    if len(low) < 2 or (low in STOPWORDS and not keep_acronym):
        return None
    return stem(low)


def content_tokens(text: str, limit: int | None = None) -> list[str]:
    """The content-bearing tokens of ``text``, in order (duplicates kept); the first ``limit`` when given.

    >>> content_tokens("Seoul's decision to end the 2016 GSOMIA pact, U.S. officials said")
    ['seoul', 'decision', 'end', '2016', 'gsomia', 'pact', 'us', 'official']
    """
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text)
    shouting = _mostly_upper(text)
    out: list[str] = []
    append = out.append
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        tok = m.group()
        if kind == "word":
            word = _word(tok, shouting)
            if word is None:
                continue
            append(word)
        elif kind == "cjk":
            if len(tok) == 1:
                append(tok)
            else:
                for i in range(len(tok) - 1):
                    append(tok[i : i + 2])
        elif kind == "num":
            digits = tok.replace(",", "").replace(".", "")
            if len(digits) >= MIN_NUMBER_DIGITS:
                append(digits)
        else:  # dotted acronym: U.S. -> us
            append(tok.replace(".", "").lower())
        if limit is not None and len(out) >= limit:  # the rest of a long body is never read
            return out[:limit]
    return out
