"""The former relevance judgement, kept as the reference :class:`botsvc.judge.relevance.Relevance` must agree with.

It folds every text it reads on its own and reads the headline once per test: the
topic's terms over the whole text, the topic's terms again over the headline for the
off-subject veto, the structure's vocabulary over the headline for the third-party
test and over headline + lead for the actors and relation; every rule is tried.
Slower, plainly right; tests/test_relevance_reference.py compares the two.
"""

from __future__ import annotations

from botsvc.judge.relevance import Relevance, TopicMatch, TopicMatcher
from botsvc.judge.structure import LEAD_CHARS, Structure, StructureMatch, _pattern, _position
from botsvc.judge.terms import fold
from botsvc.models import FeedItem


def reference_third_party(structure: Structure, headline: str) -> bool:
    folded = fold(headline)
    keys = structure._all.found_keys(folded)
    if not keys:
        return False
    both = all(keys & state_keys for state_keys in structure._actor_keys.values())
    if not both and keys & structure._elsewhere:
        return True
    actor_keys = structure._any_actor
    named = [k for k in keys if k in actor_keys or k in structure._third or k in structure._partners]
    if not named:
        return False
    first = min(named, key=lambda k: (_position(folded, k), -len(k)))
    return first in structure._third and first not in actor_keys


def reference_judge(structure: Structure, headline: str, lead: str) -> StructureMatch | None:
    if reference_third_party(structure, headline):
        return None
    text = fold(f"{headline}\n{lead[:LEAD_CHARS]}")
    canonical = structure._all.canonical
    found = {key: canonical[key] for key in structure._all.found_keys(text)}
    for key in [k for k in found if k in structure._shadowed]:
        inside = sum(len(_pattern(third).findall(text)) for third in structure._shadowed[key])
        if len(_pattern(key).findall(text)) <= inside:
            del found[key]
    actors = []
    for state in structure.states:
        state_keys = structure._actor_keys[state]
        named = sorted((term for key, term in found.items() if key in state_keys), key=str.casefold)
        if not named:
            return None
        actors.append((state, tuple(named)))
    relations = sorted((term for key, term in found.items() if key in structure._relations), key=str.casefold)
    if not relations:
        return None
    return StructureMatch(tuple(actors), tuple(relations))


def _off_subject(matcher: TopicMatcher, headline: str) -> bool:
    found = matcher._terms.found_keys(fold(headline))
    return bool(found & matcher._off_subject) and not (found & matcher._subject_terms)


def reference_topic_match(matcher: TopicMatcher, text: str, headline: str, lead: str) -> TopicMatch | None:
    found = matcher._terms.found_keys(fold(text))
    if not found:
        return None
    keywords: set[str] = set()
    for rule in matcher._rules:
        rule_hits = rule.hits(found)
        if rule_hits is not None:
            keywords |= rule_hits
    if keywords:
        if headline and matcher._off_subject and _off_subject(matcher, headline):
            return None
        return TopicMatch(matcher.topic.name, tuple(sorted(keywords, key=str.casefold)))
    if matcher.structure is None or not headline or not matcher.structure.states_named(found):
        return None
    if matcher._off_subject and _off_subject(matcher, headline):
        return None
    judged = reference_judge(matcher.structure, headline, lead)
    if judged is None:
        return None
    return TopicMatch(matcher.topic.name, judged.keywords(), judgement="structure", structure=judged)


def reference_match(relevance: Relevance, item: FeedItem) -> list[TopicMatch]:
    """What ``relevance.match(item)`` decided before each text was folded and read once."""
    text = f"{item.title}\n{item.summary}\n{item.body}"
    lead = (item.summary or item.body)[:LEAD_CHARS]
    return [
        m for matcher in relevance.matchers.values() if (m := reference_topic_match(matcher, text, item.title, lead))
    ]
