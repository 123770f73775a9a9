"""Include and exclude words a channel sets on top of its topic.

An event passes a subscription's filters when at least one include word (if there are
any) and no exclude word occurs in its title or its reports' headlines and summaries.
Words match as topic terms do (:mod:`botsvc.judge.terms`): Latin words whole, Korean and
Japanese ones as substrings; a single Han, kana or Hangul character is refused. Write a
phrase with hyphens (``export-controls``): spaces and hyphens match alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botsvc.judge.terms import TermSet, fold, is_single_cjk_character, term_key
from botsvc.store.store import Store
from botsvc.store.subscription_filters import (
    add_filter_words,
    delete_filter_word,
    event_filter_text,
    filter_words,
    has_filter_word,
)

MAX_WORD = 60
MAX_WORDS = 50
"""Per subscription: a filter is a handful of words, not a second topic definition."""


class FilterError(ValueError):
    """A word that cannot be a filter; the message says why."""


@dataclass(frozen=True)
class FilterWord:
    word: str
    kind: str
    """'include' or 'exclude'."""

    def __str__(self) -> str:
        return f"-{self.word}" if self.kind == "exclude" else self.word


def parse_words(args: list[str]) -> list[FilterWord]:
    """``gsomia -boycott 지소미아`` → include gsomia, exclude boycott, include 지소미아."""
    if not args:
        raise FilterError("give at least one word (prefix a word with - to exclude it)")
    words: list[FilterWord] = []
    for arg in args:
        kind = "exclude" if arg.startswith("-") else "include"
        word = term_key(arg[1:] if kind == "exclude" else arg)
        if not re.search(r"\w", word):
            raise FilterError(f"{arg[:40]!r} has no letters or digits")
        if len(word) > MAX_WORD:
            raise FilterError(f"{arg[:40]!r}… is longer than {MAX_WORD} characters")
        if is_single_cjk_character(word):
            raise FilterError(f"{arg!r} is a single character, which would match inside unrelated words; use a word")
        if FilterWord(word, kind) not in words:
            words.append(FilterWord(word, kind))
    return words


def filters_of(store: Store, subscription_id: int) -> list[FilterWord]:
    return [FilterWord(word, kind) for word, kind in filter_words(store, subscription_id)]


def add_filters(store: Store, subscription_ids: list[int], words: list[FilterWord]) -> None:
    """Add ``words`` to each subscription (call inside the caller's transaction); raise
    FilterError, changing nothing, when one would pass :data:`MAX_WORDS`."""
    for subscription_id in subscription_ids:
        known = set(filters_of(store, subscription_id))
        if len(known | set(words)) > MAX_WORDS:
            raise FilterError(f"at most {MAX_WORDS} filter words per channel")
    add_filter_words(store, [(sid, w.word, w.kind) for sid in subscription_ids for w in words])


def remove_filters(store: Store, subscription_ids: list[int], words: list[FilterWord]) -> None:
    """Remove ``words`` (a bare word removes it as include and as exclude); raise FilterError,
    changing nothing, for a word none of the subscriptions has."""
    for w in words:
        if not has_filter_word(store, subscription_ids, w.word, _kinds(w)):
            raise FilterError(f"this channel has no filter {str(w)!r}")
    for w in words:
        delete_filter_word(store, subscription_ids, w.word, _kinds(w))


def _kinds(word: FilterWord) -> tuple[str, ...]:
    """The kinds a word given to remove names: a bare word is both, a ``-word`` only the exclude."""
    return ("include", "exclude") if word.kind == "include" else ("exclude",)


class EventFilter:
    """One subscription's filters, ready to test events against."""

    def __init__(self, words: list[FilterWord]) -> None:
        self.include = TermSet({w.word for w in words if w.kind == "include"})
        self.exclude = TermSet({w.word for w in words if w.kind == "exclude"})
        self.empty = not words

    def passes(self, text: str) -> bool:
        folded = fold(text)
        if self.include.canonical and not self.include.found(folded):
            return False
        return not self.exclude.found(folded)


def event_text(store: Store, event_id: int) -> str:
    """What a filter reads of an event: its title and its reports' headlines and summaries."""
    return "\n".join(f"{title}\n{summary}" for title, summary in event_filter_text(store, event_id))


def split_by_filters(store: Store, subscription_id: int, event_ids: list[int]) -> tuple[list[int], list[int]]:
    """(events that pass ``subscription_id``'s filters, events filtered out)."""
    event_filter = EventFilter(filters_of(store, subscription_id))
    if event_filter.empty:
        return event_ids, []
    kept: list[int] = []
    dropped: list[int] = []
    for event_id in event_ids:
        (kept if event_filter.passes(event_text(store, event_id)) else dropped).append(event_id)
    return kept, dropped
