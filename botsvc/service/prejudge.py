"""The topic rules applied where a feed is parsed: in the poll cycle's worker processes.

A cold cycle's main process used to judge every item's relevance after the last feed was
in, with the other core idle by then. Relevance is a pure function of an item and the
rules, so the parse workers apply it beside the parse, while other feeds are still on the
network; the main process gets, per item, the topic matches (and keeps the text of only
the items that still need it, see :class:`~botsvc.service.spill.TextSpill`). Placing an
item in an event stays in the main process: it depends on every item judged before it.

The workers get the rules when they start (:func:`install`, the pool's initializer): the
compiled rules themselves, or what builds them, so a cycle in which no feed changed never
compiles them. That is handed over by ``fork`` (nothing pickled); under another start
method the workers only parse and the main process judges, as before.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from botsvc.ingest.normalise import identity_keys
from botsvc.ingest.parse import ParsedFeed
from botsvc.judge.relevance import Relevance, TopicMatch

__all__ = ["NO_MATCH", "Matches", "Prejudged", "install", "match_items", "prejudged", "rules_for_workers"]

log = logging.getLogger(__name__)

Matches = Sequence[TopicMatch] | None
"""An item's topic matches (empty: no topic matched), or None: not judged here."""

NO_MATCH: tuple[TopicMatch, ...] = ()
"""The matches of an item no topic matched: one shared empty tuple, not an empty list per item."""

RulesSource = Relevance | Callable[[], Relevance]

_rules: RulesSource | None = None
_every_text = True


@dataclass
class Prejudged:
    """A parsed feed with its items' topic matches, one per item, in item order."""

    parsed: ParsedFeed
    matches: list[Matches]
    keys: list[list[str]] | None = None
    """Each item's identity keys, found here too: the main process keeps them with the item
    (:class:`~botsvc.service.spill.ItemSpill`) for the judging and the feed's seen window."""


def rules_for_workers(relevance: Relevance | None, make: Callable[[], Relevance] | None) -> RulesSource | None:
    """What :func:`install` gets in each worker: the rules if built, else what builds them.

    None (the workers only parse) unless the workers are forked: the rules hold compiled
    patterns and the builder is a closure, neither worth pickling for every worker.
    """
    if multiprocessing.get_start_method() != "fork":
        return None
    return relevance if relevance is not None else make


def install(rules: RulesSource | None, every_text: bool = True) -> None:
    """Pool initializer: the rules this worker applies to the feeds it parses.

    Unless ``every_text`` (the learned judgement reads every item's text), the worker
    drops the text of the items no topic matched before it hands them over: the main
    process then never holds it, not even for a moment.
    """
    global _rules, _every_text
    _rules, _every_text = rules, every_text


def keeps_every_text() -> bool:
    """Whether this worker keeps the text of the items no topic matched (see :func:`install`)."""
    return _every_text


def _relevance() -> Relevance | None:
    global _rules
    if _rules is None or isinstance(_rules, Relevance):
        return _rules
    try:
        _rules = _rules()
    except Exception:  # the main process builds them too, and reports what is wrong
        log.debug("the topic rules could not be built in a parse worker", exc_info=True)
        _rules = None
    return _rules


def prejudged(parsed: ParsedFeed, topics: tuple[str, ...] | None) -> Prejudged | ParsedFeed:
    """``parsed`` with its items' topic matches (as it is without rules), the unmatched items' text
    dropped unless this worker keeps every text."""
    matches = match_items(parsed, topics)
    if matches is None:
        return parsed
    if not _every_text:
        items = [
            replace(item, summary="", body="") if found == NO_MATCH and (item.summary or item.body) else item
            for item, found in zip(parsed.items, matches, strict=True)
        ]
        parsed = replace(parsed, items=items)
    return Prejudged(parsed, matches, [identity_keys(item) for item in parsed.items])


def match_items(parsed: ParsedFeed, topics: tuple[str, ...] | None) -> list[Matches] | None:
    """Each item's topic matches under ``topics`` (a feed's topic list), or None without rules.

    An item the rules cannot take gets None: the main process judges it, and its failure
    is handled there like any other.
    """
    relevance = _relevance()
    if relevance is None:
        return None
    found: list[Matches] = []
    for item in parsed.items:
        try:
            found.append(relevance.match(item, topics) or NO_MATCH)
        except Exception:
            found.append(None)
    return found
