"""Near-verbatim copies of a report: the same title and lead, whatever the date.

Feeds re-date old stories (a 2019 report re-published with a 2026 date), and such a
copy must not be alerted as a new event. Events are windowed in time, so this test is
not: it compares the text itself. A recurring template headline (another launch,
another year's white paper) keeps the headline's shape but changes the facts of its
lead (figures, names, dates), so the test wants

* character trigrams of title plus lead (any script, no tokenizer needed) overlapping
  at :data:`COPY_SIMILARITY` or more, and
* the same figures, in the same order: one changed number is a different report;
* a lead of at least :data:`MIN_LEAD` characters: a bare headline says too little to
  tell a copy from the next occurrence of the same kind of story.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COPY_SIMILARITY = 0.9
"""Trigram Jaccard of title plus lead at or above which two reports are one text."""
MIN_LEAD = 40
"""Characters of lead (after normalising) both reports need before they can be copies."""
LEAD_CHARS = 600
"""How much of the lead is compared (a summary may run on into the body)."""
CANDIDATE_SIMILARITY = 0.5
"""Archive neighbours below this index similarity are not even compared."""

_NOT_WORD = re.compile(r"[\W_]+")
_FIGURES = re.compile(r"\d+")


@dataclass(frozen=True)
class CopyText:
    """A report's title and lead, prepared for comparison."""

    text: str
    lead_chars: int
    figures: tuple[str, ...]
    grams: frozenset[str]


def _normal(text: str) -> str:
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def copy_text(title: str, lead: str) -> CopyText:
    """Title and the start of the lead, normalised (width, case, punctuation) for :func:`copy_similarity`."""
    head, body = _normal(title), _normal(lead[:LEAD_CHARS])
    text = f"{head} {body}".strip()
    grams = frozenset(text[i : i + 3] for i in range(max(1, len(text) - 2)))
    return CopyText(text, len(body), tuple(_FIGURES.findall(text)), grams)


def copy_similarity(a: CopyText, b: CopyText) -> float | None:
    """How alike two reports' texts are when one is a copy of the other; None when it is not a copy."""
    if a.lead_chars < MIN_LEAD or b.lead_chars < MIN_LEAD or a.figures != b.figures:
        return None
    if not a.grams or not b.grams:
        return None
    similarity = len(a.grams & b.grams) / len(a.grams | b.grams)
    return similarity if similarity >= COPY_SIMILARITY else None
