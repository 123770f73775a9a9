"""Keyword rules per topic: which topics an item belongs to, and which words said so.

Latin-script terms match on word boundaries, case-insensitively, with spaces and
hyphens interchangeable ("intelligence-sharing" matches "intelligence sharing").
Korean and Japanese terms match as substrings, because those scripts do not put
spaces between a word and its particles.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from botsvc.config import Rule, Topic
from botsvc.models import FeedItem
from botsvc.tokens import CJK_CHARS

_CJK = re.compile(f"[{CJK_CHARS}]")
_SEPARATORS = r"[\s\-\u2010-\u2015_/]+"
_SEP_RE = re.compile(_SEPARATORS)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def fold(text: str) -> str:
    """Text as the matcher sees it: NFKC, straight quotes, case-folded."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()


def _term_key(text: str) -> str:
    return _SEP_RE.sub(" ", fold(text)).strip()


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    keywords: tuple[str, ...]


class _TermSet:
    """All terms of one topic, found in a text in one regex pass plus substring checks."""

    def __init__(self, terms: set[str]) -> None:
        self.canonical: dict[str, str] = {}
        latin: list[str] = []
        self.cjk: list[tuple[str, str]] = []
        for term in sorted(terms):
            key = _term_key(term)
            if not key:
                continue
            self.canonical.setdefault(key, term)
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
        self.pattern = re.compile(r"(?<!\w)(?:" + "|".join(latin) + r")(?!\w)") if latin else None

    def found(self, folded: str) -> set[str]:
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
                    key = self._keys.setdefault(found, _term_key(found))
                hits.add(self.canonical[key])
                hits.update(self.prefixes[key])
                pos = match.start() + 1
        for key, term in self.cjk:
            if key in folded:
                hits.add(term)
        return hits


def _rule_terms(rule: Rule) -> set[str]:
    terms = set(rule.any) | set(rule.none)
    for group in rule.all:
        terms |= set(group)
    return terms


class TopicMatcher:
    """Compiled rules of one topic. A topic matches when any of its rules matches."""

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        terms: set[str] = set()
        for rule in topic.rules:
            terms |= _rule_terms(rule)
        self._terms = _TermSet(terms)

    @staticmethod
    def _rule_hits(rule: Rule, hits: set[str]) -> set[str] | None:
        if any(term in hits for term in rule.none):
            return None
        matched: set[str] = set()
        if rule.any:
            any_hits = {t for t in rule.any if t in hits}
            if not any_hits:
                return None
            matched |= any_hits
        for group in rule.all:
            group_hits = {t for t in group if t in hits}
            if not group_hits:
                return None
            matched |= group_hits
        return matched

    def match(self, text: str) -> TopicMatch | None:
        hits = self._terms.found(fold(text))
        if not hits:
            return None
        keywords: set[str] = set()
        for rule in self.topic.rules:
            rule_hits = self._rule_hits(rule, hits)
            if rule_hits is not None:
                keywords |= rule_hits
        if not keywords:
            return None
        return TopicMatch(self.topic.name, tuple(sorted(keywords, key=str.casefold)))


class Relevance:
    """Matches items against a set of topics."""

    def __init__(self, topics: tuple[Topic, ...] | list[Topic]) -> None:
        self.matchers = {topic.name: TopicMatcher(topic) for topic in topics}

    def match(self, item: FeedItem, topics: tuple[str, ...] | None = None) -> list[TopicMatch]:
        """Topic matches for ``item``, limited to ``topics`` when given (a feed's topic list)."""
        text = f"{item.title}\n{item.summary}\n{item.body}"
        names = topics or tuple(self.matchers)
        return [m for name in names if name in self.matchers and (m := self.matchers[name].match(text))]
