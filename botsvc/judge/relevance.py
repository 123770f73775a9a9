"""Keyword rules per topic: which topics an item belongs to, and which words said so.

Terms are found by :class:`botsvc.judge.terms.TermSet` (Latin-script terms as whole words,
Korean and Japanese terms as substrings). A rule matches when one of its ``any`` terms
and one term of each ``all`` group occur and no ``none`` term does; a topic's
``off_subject`` headline terms veto a story whose headline is about something else.

A topic with ``structure = true`` also keeps what its rules do not match when the
structural judgement (:mod:`botsvc.judge.structure`) finds both states, a relation
between them and no third party; the rules decide first, and the topic's off-subject
veto holds for both. Each match says which judgement decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botsvc.config import Rule, Topic
from botsvc.judge.learned import Vote
from botsvc.judge.structure import LEAD_CHARS, Structure, StructureMatch, default_structure
from botsvc.judge.terms import TermSet, fold, term_key
from botsvc.models import FeedItem


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    keywords: tuple[str, ...]
    judgement: str = "rules"
    """Which judgement decided: ``rules`` (the topic's terms), ``structure`` or ``learned``."""
    structure: StructureMatch | None = None
    """The actors and relation found, when the structure decided."""
    learned: Vote | None = None
    """The reported example that kept the item, when the learned judgement decided."""

    def describe(self) -> str:
        """One line for ``explain`` and ``poll --json``: which judgement, and on what."""
        if self.learned is not None:
            return self.learned.describe()
        if self.structure is not None:
            return f"structure: {self.structure.describe()}"
        return f"rules: matched {', '.join(self.keywords)}"

    def record(self) -> dict:
        """What is stored with the article and printed by ``poll --json``."""
        if self.learned is not None:
            return self.learned.record()
        if self.structure is not None:
            return {
                "judgement": "structure",
                "actors": {state: list(terms) for state, terms in self.structure.actors},
                "relations": list(self.structure.relations),
            }
        return {"judgement": "rules", "keywords": list(self.keywords)}


def _rule_terms(rule: Rule) -> set[str]:
    terms = set(rule.any) | set(rule.none)
    for group in rule.all:
        terms |= set(group)
    return terms


class _CompiledRule:
    """One rule with its terms as lookup keys, so every spelling of a term counts."""

    def __init__(self, rule: Rule) -> None:
        self.any = {term_key(t): t for t in rule.any}
        self.all = [{term_key(t): t for t in group} for group in rule.all]
        self.none = {term_key(t) for t in rule.none}

    def hits(self, found: set[str]) -> set[str] | None:
        """The terms that made this rule match, or None when it does not."""
        if self.none & found:
            return None
        # ``found`` holds a handful of terms, a rule up to hundreds: walk the handful.
        matched: set[str] = set()
        if self.any:
            any_hits = {self.any[key] for key in found if key in self.any}
            if not any_hits:
                return None
            matched |= any_hits
        for group in self.all:
            group_hits = {group[key] for key in found if key in group}
            if not group_hits:
                return None
            matched |= group_hits
        return matched


class TopicMatcher:
    """Compiled rules of one topic. A topic matches when any of its rules matches.

    A topic may also list off-subject headline terms (``off_subject``): when the
    headline carries one of them and none of the rules' ``any`` terms, the story is
    about that other subject (say, a North Korean launch whose lead mentions GSOMIA
    in passing) and the topic does not match.
    """

    def __init__(self, topic: Topic, structure: Structure | None = None) -> None:
        self.topic = topic
        self.structure = structure if topic.structure else None
        terms: set[str] = set(topic.off_subject)
        for rule in topic.rules:
            terms |= _rule_terms(rule)
        if self.structure is not None:
            # The states' names ride along in the rules' one pass over the text, so an item
            # naming neither state costs what the rules alone cost.
            terms |= self.structure.actor_terms
        self._terms = TermSet(terms)
        self._rules = [_CompiledRule(rule) for rule in topic.rules]
        # A rule matches only with one of its ``any`` terms (when it has some): the found
        # terms pick the few rules worth testing.
        self._rules_by_term: dict[str, list[_CompiledRule]] = {}
        for compiled in self._rules:
            for key in compiled.any:
                self._rules_by_term.setdefault(key, []).append(compiled)
        self._rules_always = [rule for rule in self._rules if not rule.any]
        self._off_subject = {term_key(t) for t in topic.off_subject}
        self._subject_terms = {key for rule in self._rules for key in rule.any}

    def _found(self, text: str) -> set[str]:
        return self._terms.found_keys(fold(text))

    def match(self, text: str, headline: str | None = None, lead: str | None = None) -> TopicMatch | None:
        """The match for ``text`` (headline, lead and body); ``headline`` enables the off-subject test.

        ``lead`` (the summary, or the start of the body) is what the structural
        judgement reads beside the headline; without a headline it does not run.
        """
        if not headline:
            return self.match_folded(fold(text), None, lambda: "")
        folded_headline = fold(headline)
        judged = f"{headline}\n{(lead if lead is not None else text)[:LEAD_CHARS]}"
        return self.match_folded(fold(text), folded_headline, lambda: fold(judged))

    def match_folded(self, text: str, headline: str | None, headline_and_lead: Callable[[], str]) -> TopicMatch | None:
        """:meth:`match` on folded text: ``text`` whole, ``headline`` (None: no headline tests) and,
        asked only when the structure reads it, ``fold(headline + "\n" + lead)``."""
        found = self._terms.found_keys(text)
        if not found:
            return None
        keywords: set[str] = set()
        rules = {id(rule): rule for key in found for rule in self._rules_by_term.get(key, ())}
        for rule in (*rules.values(), *self._rules_always):
            rule_hits = rule.hits(found)
            if rule_hits is not None:
                keywords |= rule_hits
        if keywords:
            # The headline is the text's start: an off-subject term in it is one of the text's
            # terms, so a text without one needs no second look at its headline (here and below).
            if headline is not None and self._off_subject & found and self._off(self._terms.found_keys(headline)):
                return None
            return TopicMatch(self.topic.name, tuple(sorted(keywords, key=str.casefold)))
        if self.structure is None or headline is None or not self.structure.states_named(found):
            return None
        if self._off_subject & found and self._off(self._terms.found_keys(headline)):
            return None
        judged = self.structure.judge_folded(headline, headline_and_lead)
        if judged is None:
            return None
        return TopicMatch(self.topic.name, judged.keywords(), judgement="structure", structure=judged)

    def off_subject(self, headline: str) -> bool:
        """True when ``headline`` is about an off-subject and names none of the beat's own terms."""
        return self._off(self._found(headline))

    def _off(self, found: set[str]) -> bool:
        """:meth:`off_subject` on the headline's terms."""
        return bool(found & self._off_subject) and not (found & self._subject_terms)


class Relevance:
    """Matches items against a set of topics."""

    def __init__(self, topics: tuple[Topic, ...] | list[Topic], structure: Structure | None = None) -> None:
        if structure is None and any(topic.structure for topic in topics):
            structure = default_structure()
        self.matchers = {topic.name: TopicMatcher(topic, structure) for topic in topics}
        self.structural = any(m.structure is not None for m in self.matchers.values())
        """True when some topic also judges by structure."""

    def match(self, item: FeedItem, topics: tuple[str, ...] | None = None) -> list[TopicMatch]:
        """Topic matches for ``item``, limited to ``topics`` when given (a feed's topic list)."""
        # The text is folded once for every topic and test, the headline apart from the rest:
        # folding works character by character and a newline joins nothing, so the folded
        # parts joined by a newline are the folded whole.
        headline = fold(item.title)
        text = headline + "\n" + fold(f"{item.summary}\n{item.body}")

        def headline_and_lead() -> str:
            if not item.body and len(item.summary) <= LEAD_CHARS:
                return text[:-1]  # the lead is the whole summary: the text without the empty body
            return f"{headline}\n{fold((item.summary or item.body)[:LEAD_CHARS])}"

        names = topics or tuple(self.matchers)
        return [
            m
            for name in names
            if name in self.matchers
            and (m := self.matchers[name].match_folded(text, headline if item.title else None, headline_and_lead))
        ]
