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

A deployment extends the shipped lexicon without a release: :file:`concepts.local.toml`
beside ``feeds.toml`` (written by ``botsvc concepts add``, see
:mod:`botsvc.judge.local_concepts`) adds concepts and replaces shipped ones of the same
name. :func:`use_lexicon` makes the combined lexicon the one every judgement uses.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from botsvc.judge.terms import TermSet, fold, is_single_cjk_character, term_key

__all__ = [
    "CONCEPT_PREFIX",
    "Concept",
    "Lexicon",
    "bundled_lexicon",
    "concept_tokens",
    "default_lexicon",
    "is_cross_language",
    "use_lexicon",
]

#: Concept tokens start with this character, which no tokenised word can contain.
CONCEPT_PREFIX = "§"

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "concepts.toml"
LANGUAGES = ("en", "ko", "ja")


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
        return cls.from_tables(tomllib.loads(path.read_text(encoding="utf-8")), path)

    @classmethod
    def from_tables(cls, data: dict, path: Path | str) -> Lexicon:
        """A lexicon from parsed TOML tables (``path`` names the file in messages)."""
        concepts = []
        for name, body in data.items():
            if not isinstance(body, dict):
                raise ValueError(f"{path}: [{name}] must be a table")
            unknown = set(body) - {*LANGUAGES, "span_days"}
            if unknown:
                raise ValueError(f"{path}: [{name}] unknown key(s) {sorted(unknown)}")
            if not all(isinstance(body.get(lang, []), list) for lang in LANGUAGES):
                raise ValueError(f"{path}: [{name}] spellings must be lists of strings")
            terms = tuple(t for lang in LANGUAGES for t in body.get(lang, ()))
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
        for key in self._terms.found_keys(fold(text)):
            names.update(self._by_key.get(key, ()))
        return sorted(names)

    def terms_in(self, text: str) -> set[str]:
        """The lexicon's terms that occur in ``text`` (as the matcher finds them)."""
        return self._terms.found(fold(text)) if text else set()

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

    def signature(self) -> str:
        """A short digest of every concept and spelling: stored fingerprints made with another are stale."""
        content = sorted((c.name, sorted(term_key(t) for t in c.terms)) for c in self.concepts.values())
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def bundled_lexicon() -> Lexicon:
    """The lexicon shipped with botsvc (read once per process)."""
    return Lexicon.load()


_in_use: Lexicon | None = None


def use_lexicon(lexicon: Lexicon | None) -> None:
    """Judge with ``lexicon`` from now on (None: the shipped one); set once at start-up from the config."""
    global _in_use
    _in_use = lexicon


def default_lexicon() -> Lexicon:
    """The lexicon judgements use: the shipped one, or the deployment's once :func:`use_lexicon` set it."""
    return _in_use if _in_use is not None else bundled_lexicon()


def concept_tokens(text: str) -> list[str]:
    """Concept tokens of ``text`` with the shipped lexicon."""
    return default_lexicon().tokens(text)


def is_cross_language(token: str) -> bool:
    """Tokens that mean the same in every language: concepts and numbers (years, amounts)."""
    return token.startswith(CONCEPT_PREFIX) or token.isdigit()
