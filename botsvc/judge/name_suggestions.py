"""Names the lexicon does not know yet, and their spellings in the other languages.

A new minister or a new dispute shows up as a capitalised name that recurs in English
reports ("Han Do-yoon") while Korean and Japanese reports of the same stories write it
their own way (한도윤, ハン・ドユン). Events that already hold reports in several
languages (folded on the concepts they share) link the spellings: a Korean word that
turns up in the Korean reports of the very events whose English reports name
"Han Do-yoon", and rarely elsewhere, is its Korean spelling.

Strength of a link is the Ochiai coefficient over events,
``joint / sqrt(events naming the English name * events holding the other spelling)``:
a common word (장관, "minister") appears in many other events and scores low; a name
written the same way in every report scores near 1. Nothing here reads the database:
:func:`suggest` takes the reports and the lexicon and returns ranked suggestions.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from botsvc.judge.concepts import Lexicon
from botsvc.judge.terms import fold, term_key
from botsvc.judge.tokens import STOPWORDS

__all__ = ["Link", "Report", "Suggestion", "concept_name", "suggest"]

#: Words that introduce or qualify a name rather than belong to it ("Foreign Minister Han").
_TITLE_WORDS = frozenset(
    """
    president prime minister foreign defense defence trade finance economy industry unification
    interior justice vice deputy chief cabinet secretary general gen lt col adm admiral ambassador
    envoy special adviser advisor national security director chairman chairwoman chair governor
    mayor lawmaker lawmakers rep sen senator judge court supreme former new acting leader party
    spokesperson spokesman spokeswoman commissioner mr ms mrs dr sir lady king queen emperor
    prince princess minister's president's first lady opposition ruling democratic liberal people
    power office ministry agency council committee assembly parliament diet government
    monday tuesday wednesday thursday friday saturday sunday january february march april may june
    plaintiff plaintiffs victim victims survivor survivors professor analyst reporter
    july august september october november december
    """.split()
)
_WORD = r"(?:[A-Z][a-z]+(?:[-'][A-Za-z]+)*|[A-Z]{2,6}s?)"
_RUN = re.compile(rf"{_WORD}(?:[ \u00a0]+{_WORD})*")
_SENTENCE_ENDS = frozenset(".!?:;\"“”‘’'()[]|—–-")
_HANGUL = re.compile(r"[\uac00-\ud7a3]{2,}")
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc\u30fb\uff66-\uff9f]{2,}")
_KANJI = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]{2,}")
_KANA = re.compile(r"[\u3040-\u30ff]")
#: Endings of Korean verbs and quotations ("…"이라며, 밝혔다): never part of a name.
_KOREAN_ENDINGS = (
    "라며", "라고", "라는", "했다", "한다", "된다", "있다", "없다", "이다", "였다", "했고", "하며", "하고",
    "하는", "에서", "으로", "에게", "까지", "부터", "다고", "면서", "지만", "겠다", "는데",
)  # fmt: skip
#: Korean function words that recur beside any story ("this", "last", "about", "through").
_KOREAN_FUNCTION_WORDS = frozenset(
    "이라 이며 이고 이번 지난 이날 오는 또한 그러나 하지만 이후 당시 관련 대해 위해 통해 따라 대한 위한 "
    "한편 최근".split()
)
#: One-syllable Korean particles a name is often written with (서지환은, 서지환의).
_PARTICLES = frozenset("은는이가을를의에도와과")
_MAX_WORDS = 4
_MAX_CJK = 6


@dataclass(frozen=True)
class Report:
    event_id: int
    language: str
    """"en", "ko" or "ja" (see :func:`script_language`)."""
    text: str


@dataclass(frozen=True)
class Link:
    spelling: str
    language: str
    joint: int
    """Cross-language events naming both."""
    strength: float


@dataclass
class Suggestion:
    name: str
    events: int
    """Events in the window whose English reports use the name."""
    links: list[Link] = field(default_factory=list)
    """The best spelling per other language, strongest first."""

    @property
    def strength(self) -> float:
        return max((link.strength * link.joint for link in self.links), default=0.0)


def script_language(text: str, declared: str | None) -> str:
    """The language a report is written in, from its script first (feeds mislabel), else as declared."""
    if _HANGUL.search(text):
        return "ko"
    if _KANA.search(text):
        return "ja"
    if declared and declared.lower()[:2] in ("ko", "ja") and _KANJI.search(text):
        return declared.lower()[:2]
    return "en"


def concept_name(name: str) -> str:
    """A lexicon name for an English name: "Han Do-yoon" -> "han-do-yoon"."""
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-") or "concept"


class _Known:
    """What the lexicon already covers: a candidate naming or inside a known term is not new."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        terms = [t for c in lexicon.concepts.values() for t in c.terms]
        self._latin = [f" {term_key(t)} " for t in terms]
        self._cjk = [t for t in terms if not t.isascii()]

        self._seen: dict[tuple[bool, str], bool] = {}  # the same words recur in every report

    def latin(self, name: str) -> bool:
        known = self._seen.get((True, name))
        if known is None:
            key = f" {term_key(name)} "
            known = self._seen[(True, name)] = bool(self.lexicon.find(name)) or any(key in t for t in self._latin)
        return known

    def cjk(self, word: str) -> bool:
        known = self._seen.get((False, word))
        if known is None:
            known = self._seen[(False, word)] = bool(self.lexicon.find(word)) or any(word in t for t in self._cjk)
        return known

    def concept_word(self, word: str) -> bool:
        known = self._seen.get((True, "\x00" + word))
        if known is None:
            known = self._seen[(True, "\x00" + word)] = bool(self.lexicon.find(word))
        return known


def _english_names(text: str, known: _Known) -> set[str]:
    """Capitalised names in ``text``, cut at titles, function words and known concepts.

    "South Korea's Foreign Minister Seo Ji-hwan" gives "Seo Ji-hwan" ("South Korea" is a
    concept, "Foreign Minister" a title); a single capitalised word opening a sentence is
    not taken as a name.
    """
    names: set[str] = set()
    for match in _RUN.finditer(text):
        before = text[: match.start()].rstrip()
        at_start = not before or before[-1] in _SENTENCE_ENDS
        segments: list[tuple[list[str], bool]] = []
        current: list[str] = []
        first = True
        for word in match.group().split():
            possessive = word.endswith(("'s", "\u2019s"))
            base = word[:-2] if possessive else word
            if _is_filler(base, known):
                if current:
                    segments.append((current, first))
                current, first = [], False
                continue
            current.append(base)
            if possessive:
                segments.append((current, first))
                current, first = [], False
        if current:
            segments.append((current, first))
        for words, opens in segments:
            if len(words) > _MAX_WORDS or (len(words) == 1 and opens and at_start):
                continue
            name = " ".join(words)
            if len(name) >= 3 and not known.latin(name):
                names.add(name)
    return names


def _is_filler(word: str, known: _Known) -> bool:
    low = word.casefold()
    return low in _TITLE_WORDS or low in STOPWORDS or known.concept_word(word)


def _other_spellings(text: str, language: str, known: _Known) -> set[str]:
    found: set[str] = set()
    if language == "ko":
        for word in _HANGUL.findall(text):
            for end in range(2, min(len(word), _MAX_CJK) + 1):
                if known.cjk(word[:end]):
                    break  # a known word with its particle (정부가) is that known word
                if not word[:end].endswith(_KOREAN_ENDINGS) and word[:end] not in _KOREAN_FUNCTION_WORDS:
                    found.add(word[:end])  # a name followed by its particle: 한도윤은 -> 한도윤
    # Japanese writes a name against its title (徐志煥外相): cut runs at the known terms first.
    known_here = sorted((t for t in known.lexicon.terms_in(text) if not t.isascii()), key=len, reverse=True)
    for run in _KATAKANA.findall(text):
        found.update(part.strip("・") for part in _cut(run, known_here))
    for run in _KANJI.findall(text):
        for part in _cut(run, known_here):
            if len(part) <= _MAX_CJK:
                found.add(part)
            for size in range(2, min(len(part), 4) + 1):
                found.update(part[i : i + size] for i in range(len(part) - size + 1))
    return {word for word in found if len(word) >= 2 and not known.cjk(word)}


def _cut(run: str, known_terms: list[str]) -> list[str]:
    for term in known_terms:
        run = run.replace(term, "\x00")
    return [part for part in run.split("\x00") if len(part) >= 2]


def suggest(
    reports: Iterable[Report], lexicon: Lexicon, *, min_events: int = 2, min_strength: float = 0.3
) -> list[Suggestion]:
    """English names used in at least ``min_events`` events and known to no concept, strongest first.

    Each carries the Korean and Japanese spellings that co-occur with it in at least
    ``min_events`` cross-language events with a strength of at least ``min_strength``.
    """
    known = _Known(lexicon)
    english: dict[int, set[str]] = defaultdict(set)
    other: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for report in reports:
        if report.language == "en":
            english[report.event_id] |= _english_names(report.text, known)
        else:
            other[report.event_id][report.language] |= _other_spellings(report.text, report.language, known)

    events_of_name: dict[str, int] = defaultdict(int)
    for names in english.values():
        for name in names:
            events_of_name[name] += 1
    events_of_spelling: dict[tuple[str, str], int] = defaultdict(int)
    for by_language in other.values():
        for language, words in by_language.items():
            for word in words:
                events_of_spelling[(language, word)] += 1
    recurring = {name for name, count in events_of_name.items() if count >= min_events}
    joint: dict[tuple[str, str, str], int] = defaultdict(int)
    for event_id, by_language in other.items():
        names = english.get(event_id, set()) & recurring
        for name in names:
            for language, words in by_language.items():
                for word in words:
                    if events_of_spelling[(language, word)] >= min_events:
                        joint[(name, language, word)] += 1

    best: dict[tuple[str, str], Link] = {}
    for (name, language, word), count in joint.items():
        if count < min_events:
            continue
        strength = count / math.sqrt(events_of_name[name] * events_of_spelling[(language, word)])
        link = Link(word, language, count, round(strength, 3))
        current = best.get((name, language))
        if strength >= min_strength and (current is None or _better(link, current, name)):
            best[(name, language)] = link

    suggestions = [
        Suggestion(
            name,
            events_of_name[name],
            sorted(
                (link for (n, _), link in best.items() if n == name), key=lambda x: (-x.strength * x.joint, x.language)
            ),
        )
        for name in recurring
    ]
    suggestions.sort(key=lambda s: (-s.strength, -s.events, -len(s.name), s.name))
    return _without_overlaps(suggestions)


def _better(link: Link, other: Link, name: str) -> bool:
    """Stronger; or as strong and, in Korean, three syllables for a romanised Korean name
    (Seo Ji-hwan: 서지환), else not ending in a particle (서지환은); else longer (서지환 over 서지)."""
    return _rank(link, name) > _rank(other, name)


def _rank(link: Link, name: str) -> tuple:
    korean = link.language == "ko"
    # A Korean name romanised: family name and a two-syllable given name (Seo Ji-hwan, Lee Jae Myung).
    korean_name = len(re.split(r"[\s\-]+", name)) == 3
    return (
        link.strength * link.joint,
        korean and korean_name and len(link.spelling) == 3,
        not (korean and link.spelling[-1] in _PARTICLES),
        len(link.spelling),
    )


def _without_overlaps(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Keep the first of names that are one another's parts or that share their best spelling."""
    kept: list[Suggestion] = []
    for suggestion in suggestions:
        words = f" {suggestion.name} "
        spellings = {(link.language, link.spelling) for link in suggestion.links}
        clash = any(
            words in f" {k.name} "
            or f" {k.name} " in words
            or spellings & {(link.language, link.spelling) for link in k.links}
            for k in kept
        )
        if not clash:
            kept.append(suggestion)
    return kept
