"""What the bot learned from reports, measured on its own labelled examples: ``botsvc relevance report``.

Each example that counts (:func:`botsvc.store.examples.applied_examples`) is judged again
as a new item would be now: the topic rules, then the structure, then the learned
judgement over the *other* examples (leave-one-out: an example never vouches for itself).
Precision and recall treat "relevant" as the positive label. Per example, the report says
which judgement decided and, for the stored article, which one had decided when it was
stored (``report`` when only a person's report kept it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botsvc.config import Config
from botsvc.judge.learned import LearnedJudgement
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem
from botsvc.store import examples
from botsvc.store.events import EventBook, item_fingerprint
from botsvc.store.store import Store


@dataclass(frozen=True)
class Judged:
    article_id: int
    title: str
    label: str
    relevant: bool
    """What the judgement says now, leaving the example itself out."""
    decided_by: str
    """``rules``, ``structure``, ``learned`` (with its score) or ``none`` (nothing kept it)."""
    stored_by: str
    """The judgement recorded when the article was stored (``report``: a person's report alone)."""

    @property
    def right(self) -> bool:
        return self.relevant == (self.label == examples.RELEVANT)

    def describe(self) -> str:
        verdict = "relevant" if self.relevant else "not relevant"
        mark = "ok" if self.right else "WRONG"
        return (
            f"article {self.article_id} [{self.label}] judged {verdict} by {self.decided_by} "
            f"(stored by {self.stored_by}) {mark}: {self.title[:90]}"
        )


@dataclass(frozen=True)
class RelevanceReport:
    judged: list[Judged]

    def _count(self, relevant: bool, label: str) -> int:
        return sum(1 for j in self.judged if j.relevant == relevant and j.label == label)

    @property
    def precision(self) -> float | None:
        kept = sum(1 for j in self.judged if j.relevant)
        return self._count(True, examples.RELEVANT) / kept if kept else None

    @property
    def recall(self) -> float | None:
        wanted = sum(1 for j in self.judged if j.label == examples.RELEVANT)
        return self._count(True, examples.RELEVANT) / wanted if wanted else None

    def summary(self) -> str:
        def figure(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        relevant = sum(1 for j in self.judged if j.label == examples.RELEVANT)
        other = len(self.judged) - relevant
        return (
            f"{len(self.judged)} labelled example(s) ({relevant} relevant, {other} not relevant), "
            f"leave-one-out: precision {figure(self.precision)}, recall {figure(self.recall)}"
        )


def _item(row: dict) -> FeedItem:
    return FeedItem(
        feed=row["feed"],
        guid=row["guid"] or "",
        link=row["url"] or "",
        title=row["title"],
        summary=row["summary"] or "",
        published=None,
        source=row["source"] or "",
        body=row.get("body") or "",
    )


def _stored_by(row: dict) -> str:
    record = row.get("relevance")
    if isinstance(record, str):
        record = json.loads(record)
    return str(record.get("judgement", "rules")) if isinstance(record, dict) else "rules"


def relevance_report(store: Store, config: Config) -> RelevanceReport:
    """Judge every counted example again, leaving it out of the learned judgement."""
    applied = examples.applied_examples(store)
    relevance = Relevance(config.topics)
    book = EventBook(store, config.dedup)
    learned = LearnedJudgement(((e.article_id, e.label) for e in applied), book.assigner.index)
    judged = []
    for example in applied:
        row = store.article(example.article_id)
        if row is None:
            continue
        item = _item(row)
        matches = relevance.match(item, tuple(row["topics"] or ()) or None)
        vote = learned.vote(item_fingerprint(item), leave_out=example.article_id)
        if vote is not None and (bool(matches) != vote.relevant):
            relevant, decided = vote.relevant, f"learned (score {vote.score:.2f}, like article {vote.article_id})"
        elif matches:
            deciding = next((m for m in matches if m.judgement == "rules"), matches[0])
            relevant, decided = True, deciding.judgement
        else:
            relevant, decided = False, "none"
        judged.append(Judged(example.article_id, row["title"], example.label, relevant, decided, _stored_by(row)))
    return RelevanceReport(judged)
