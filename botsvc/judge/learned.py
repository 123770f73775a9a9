"""The learned judgement: a nearest-example vote over the deployment's labelled examples.

People teach the bot with reports (:mod:`botsvc.store.examples`): a missed story is a
"relevant" example, an alert marked not relevant a "not relevant" one. Every example is a
stored article, so it is already in the archive's similarity index
(:class:`~botsvc.judge.similarity.SimilarityIndex`, with archive-wide word weights). An
item is compared with the examples only; the most similar one at or above
:data:`LEARNED_THRESHOLD` decides. Applied after the rules and the structure: a
"relevant" example keeps an item they dropped, a "not relevant" one drops an item they
kept. Below the threshold nothing changes, so an item unlike every example is judged as
it was before anyone reported anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from botsvc.judge.fingerprint import Fingerprint
from botsvc.judge.similarity import SimilarityIndex

LEARNED_THRESHOLD = 0.4
"""Least similarity to an example for it to decide (weighted containment, 0..1). On dev-future,
with the structure off so that there is something to learn, 5 reports raise recall at
precision 1.0 for any threshold from 0.35 to 0.45 (an unrelated Fukushima story scored 0.34
against a reported one, a report of the same event 0.55); 0.4 is the middle."""


@dataclass(frozen=True)
class Vote:
    """The example that decided, and how similar the item is to it."""

    label: str
    article_id: int
    score: float

    @property
    def relevant(self) -> bool:
        return self.label == "relevant"

    def describe(self) -> str:
        return f"learned: like reported example article {self.article_id} ({self.label}), score {self.score:.2f}"

    def record(self) -> dict:
        return {"judgement": "learned", "label": self.label, "example": self.article_id, "score": self.score}


class LearnedJudgement:
    """Examples (article id -> label) voting through an index that holds their fingerprints."""

    def __init__(
        self, examples: Iterable[tuple[int, str]], index: SimilarityIndex, threshold: float | None = None
    ) -> None:
        self.labels = dict(examples)
        self.index = index
        self.threshold = LEARNED_THRESHOLD if threshold is None else threshold

    def __bool__(self) -> bool:
        return bool(self.labels)

    def vote(self, fp: Fingerprint, *, leave_out: int | None = None) -> Vote | None:
        """The nearest example at or above the threshold, or None; ``leave_out``: an example not to ask."""
        ids = [a for a in self.labels if a != leave_out]
        if not ids:
            return None
        found = self.index.query_within(fp, ids, k=1, min_similarity=self.threshold)
        if not found:
            return None
        best = found[0]
        return Vote(self.labels[best.doc_id], best.doc_id, round(float(best.similarity), 3))
