"""The beat's concepts in three languages: tokens that let reports in different languages meet.

:file:`botsvc/data/concepts.toml` names each concept once (``gsomia``, ``dokdo``,
``kono``, ``export-controls`` …) with its English, Korean and Japanese spellings.
:func:`concept_tokens` turns a text into the concepts it mentions, as tokens such as
``"§dokdo"``; the fingerprint stores them beside the text's own words. Because a
Korean report of a story and its English reports carry the same concept tokens while
sharing almost no words, the similarity index can compare them
(:mod:`botsvc.judge.similarity` scores these cross-language tokens separately).

Why a lexicon rather than a multilingual embedding model: it runs in microseconds on two
cores without a model download, every match can be explained by name (``botsvc
explain``), and a wrong merge is fixed by editing one line. The models that load
offline from PyPI cost 20-250 ms per sentence here and do not separate "same story"
from "same dispute" at any single threshold.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from botsvc.judge.terms import TermSet, fold, is_single_cjk_character, term_key

__all__ = ["CONCEPT_PREFIX", "Concept", "Lexicon", "concept_tokens", "default_lexicon", "is_cross_language"]

#: Concept tokens start with this character, which no tokenised word can contain.
CONCEPT_PREFIX = "§"

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "concepts.toml"
_LANGUAGES = ("en", "ko", "ja")


@dataclass(frozen=True)
class Concept:
    name: str
    terms: tuple[str, ...]
    span_days: float | None = None
    """How long one event about this concept may run (None: the ``[dedup]`` default)."""

    @property
    def token(self) -> str:
        return CONCEPT_PREFIX + self.name


class Lexicon:
    """A set of concepts and the matcher that finds them in text."""

    def __init__(self, concepts: list[Concept]) -> None:
        self.concepts = {c.name: c for c in concepts}
        self._by_key: dict[str, list[str]] = {}
        for concept in concepts:
            for term in concept.terms:
                names = self._by_key.setdefault(term_key(term), [])
                if concept.name not in names:
                    names.append(concept.name)
        self._terms = TermSet({t for c in concepts for t in c.terms})

    @classmethod
    def load(cls, path: Path = LEXICON_PATH) -> Lexicon:
        """Read a lexicon file; ValueError naming the concept for anything malformed."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        concepts = []
        for name, body in data.items():
            if not isinstance(body, dict):
                raise ValueError(f"{path}: [{name}] must be a table")
            unknown = set(body) - {*_LANGUAGES, "span_days"}
            if unknown:
                raise ValueError(f"{path}: [{name}] unknown key(s) {sorted(unknown)}")
            terms = tuple(t for lang in _LANGUAGES for t in body.get(lang, ()))
            if not terms or not all(isinstance(t, str) and t.strip() for t in terms):
                raise ValueError(f"{path}: [{name}] needs non-empty terms")
            single = [t for t in terms if is_single_cjk_character(t)]
            if single:
                raise ValueError(f"{path}: [{name}] single characters are not words: {single}")
            span = body.get("span_days")
            if span is not None and (not isinstance(span, (int, float)) or span <= 0):
                raise ValueError(f"{path}: [{name}] span_days must be a positive number")
            concepts.append(Concept(name, terms, float(span) if span is not None else None))
        return cls(concepts)

    def find(self, text: str) -> list[str]:
        """Names of the concepts ``text`` mentions, sorted."""
        if not text:
            return []
        names: set[str] = set()
        for term in self._terms.found(fold(text)):
            names.update(self._by_key.get(term_key(term), ()))
        return sorted(names)

    def tokens(self, text: str) -> list[str]:
        """The concept tokens of ``text`` (``§name``), sorted."""
        return [CONCEPT_PREFIX + name for name in self.find(text)]

    def name_of_token(self, token: str) -> str | None:
        if token.startswith(CONCEPT_PREFIX) and token[1:] in self.concepts:
            return token[1:]
        return None

    def long_spans(self) -> dict[str, float]:
        """Concept token -> span in days, for the concepts that name a long-running story."""
        return {c.token: c.span_days for c in self.concepts.values() if c.span_days is not None}


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The lexicon shipped with botsvc (read once per process)."""
    return Lexicon.load()


def concept_tokens(text: str) -> list[str]:
    """Concept tokens of ``text`` with the shipped lexicon."""
    return default_lexicon().tokens(text)


def is_cross_language(token: str) -> bool:
    """Tokens that mean the same in every language: concepts and numbers (years, amounts)."""
    return token.startswith(CONCEPT_PREFIX) or token.isdigit()
