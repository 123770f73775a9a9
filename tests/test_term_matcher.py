"""The one-pass term matcher finds exactly what the former per-term matcher found.

Both run over every labelled and snapshot text bundled with the project and over
generated text built from the terms themselves, cut up and glued with the characters
that decide a match: separators, apostrophes, underscores, digits, Latin letters
touching a term, Han, kana and Hangul. The term sets are the ones botsvc judges with
(the default topic with the structure's states, the concept lexicon, the structure's
vocabulary) and a small set of overlapping spellings.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from term_reference import ReferenceTermSet, reference_fold, reference_pattern

from botsvc.config import load_config
from botsvc.ingest.parse import parse_feed
from botsvc.judge.concepts import bundled_lexicon
from botsvc.judge.relevance import Relevance
from botsvc.judge.structure import _pattern, default_structure
from botsvc.judge.terms import TermSet, fold

ROOT = Path(__file__).resolve().parents[1]
FEED_DIRS = [
    ROOT / "examples" / "feeds",
    ROOT / "tests" / "fixtures" / "dev-real" / "feeds",
    ROOT / "tests" / "fixtures" / "dev-future" / "feeds",
    ROOT / "tests" / "fixtures" / "feed-snapshots",
]
OVERLAPPING = frozenset(
    {
        "Japan",
        "Japan's",
        "japanese",
        "Japanese beer",
        "South Korea",
        "South Korea-Japan",
        "Korea",
        "U.S.",
        "export controls",
        "controls",
        "white list",
        "white",
        "a_b",
        "3.11",
        "GSOMIA",
        "GSOMIA破棄",
        "no 재팬",
        "日韓",
        "日韓関係",
        "韓国",
        "한일",
        "한일 관계",
        "수출규제",
    }
)


@cache
def term_sets() -> dict[str, frozenset[str]]:
    config = load_config(ROOT / "feeds.toml")
    topic = replace(config.topic(config.default_topic), structure=True)
    matcher = Relevance([topic]).matchers[topic.name]
    return {
        "topic": frozenset(matcher._terms.canonical.values()),
        "lexicon": frozenset(t for c in bundled_lexicon().concepts.values() for t in c.terms),
        "structure": frozenset(default_structure()._all.canonical.values()),
        "overlapping": OVERLAPPING,
    }


@cache
def matchers(name: str) -> tuple[TermSet, ReferenceTermSet]:
    terms = term_sets()[name]
    return TermSet(terms), ReferenceTermSet(terms)


@cache
def texts() -> tuple[str, ...]:
    found = []
    for directory in FEED_DIRS:
        for path in sorted(directory.rglob("*")):
            if path.suffix in {".xml", ".rss"}:
                for item in parse_feed(path.read_bytes(), feed=path.name).items:
                    found.append(f"{item.title}\n{item.summary}\n{item.body}")
    return tuple(found)


def test_the_bundled_texts_are_there():
    assert len(texts()) > 300


@pytest.mark.parametrize("name", ["topic", "lexicon", "structure", "overlapping"])
def test_same_hits_on_every_bundled_text(name):
    fast, reference = matchers(name)
    differing = []
    for text in texts():
        folded = fold(text)
        assert folded == reference_fold(text)
        if fast.found(folded) != reference.found(folded):
            differing.append(text[:80])
    assert not differing


def test_texts_find_terms_of_every_kind():
    """The comparison above means something: Latin, Korean and Japanese terms all occur."""
    fast, _ = matchers("topic")
    hits = set().union(*(fast.found(fold(text)) for text in texts()))
    assert any(term.isascii() for term in hits)
    assert any("\uac00" <= ch <= "\ud7af" for term in hits for ch in term)
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for term in hits for ch in term)


def test_the_structure_counts_and_places_terms_as_before():
    """Its per-term pattern (counting a state's name inside another's, finding the headline's subject)."""
    structure = default_structure()
    shadowing = {k for keys in structure._shadowed.values() for k in keys} | set(structure._shadowed)
    found: set[str] = set()
    differing = []

    def compare(key: str, folded: str) -> None:
        fast, reference = _pattern(key).finditer(folded), reference_pattern(key).finditer(folded)
        if [m.span() for m in fast] != [m.span() for m in reference]:
            differing.append((key, folded[:60]))

    for text in texts():
        folded = fold(text[:1200])
        keys = structure._all.found_keys(folded) | shadowing
        found |= keys
        for key in keys:
            compare(key, folded)
    for key in found:  # each with every deciding character on both sides of two occurrences
        for glue in GLUE:
            compare(key, fold(f"{glue}{key}{glue}{key}."))
    assert len(found) > 50 and not differing


# Characters that decide whether a term matches where it stands.
GLUE = " \t\n-\u2010\u2014_/'\u2019.,:;!?()\"\u00a0\u201cx9\u00e9\u0131\u212a\uff21日韓国の에가한"


def test_same_hits_for_every_term_between_every_glue_character():
    """Each overlapping spelling, alone and in pairs, with each deciding character on either side."""
    fast, reference = matchers("overlapping")
    differing = []
    for term in sorted(OVERLAPPING):
        for left in GLUE:
            for right in GLUE:
                folded = fold(f"{left}{term}{right}")
                if fast.found(folded) != reference.found(folded):
                    differing.append(folded)
        for glue in GLUE:  # between the words of a term, too
            folded = fold(term.replace(" ", glue))
            if fast.found(folded) != reference.found(folded):
                differing.append(folded)
        for other in sorted(OVERLAPPING):
            for glue in GLUE:
                folded = fold(f"{term}{glue}{other}")
                if fast.found(folded) != reference.found(folded):
                    differing.append(folded)
    assert not differing


def pieces(terms: frozenset[str]) -> st.SearchStrategy[str]:
    listed = sorted(terms)
    whole = st.sampled_from(listed)
    variant = whole.map(str.upper) | whole.map(str.title) | whole.map(lambda t: t.replace(" ", "-"))
    cut = st.tuples(whole, st.integers(0, 12), st.integers(0, 12)).map(lambda t: t[0][t[1] : len(t[0]) - t[2]])
    glue = st.text(alphabet=GLUE, min_size=0, max_size=3)
    return whole | variant | cut | glue | st.text(max_size=4)


@pytest.mark.parametrize("name", ["topic", "lexicon", "structure", "overlapping"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_same_hits_on_generated_text(name, data):
    fast, reference = matchers(name)
    text = "".join(data.draw(st.lists(pieces(term_sets()[name]), max_size=12)))
    shape = data.draw(st.sampled_from(["as drawn", "ascii", "symbols"]))
    if shape == "ascii":  # ASCII texts take a path of their own
        text = text.encode("ascii", "ignore").decode()
    elif shape == "symbols":  # and so do texts whose only non-ASCII characters are dashes or symbols
        text = "".join(char for char in text if char.isascii() or not char.isalnum())
    folded = fold(text)
    assert folded == reference_fold(text)
    assert fast.found(folded) == reference.found(folded)
