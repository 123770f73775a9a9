"""Labelled examples: what people reported as a missed story or as not relevant.

Each row is one person's report about one stored article (``labelled_examples``). A report
counts (is applied by the learned judgement, :mod:`botsvc.judge.learned`) when a channel
manager made it, or when two people agree on the same article and label; otherwise it is
recorded and shown, not applied, so one member cannot steer the bot alone. Every change
bumps a version counter in ``bot_state``, so a running poller reloads the examples at its
next cycle, cheaply, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botsvc.store.portable import joined
from botsvc.store.store import Store, iso

RELEVANT = "relevant"
NOT_RELEVANT = "not relevant"
VERSION_KEY = "labelled_examples_version"
AGREEING_MEMBERS = 2
"""Members who must report the same article and label before their reports count (a manager alone suffices)."""


@dataclass(frozen=True)
class Example:
    """One article with a label that counts, and who vouched for it."""

    article_id: int
    label: str
    reporters: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """One person's report, as ``/news reports`` and ``botsvc reports list`` show it."""

    id: int
    article_id: int
    event_id: int | None
    title: str
    label: str
    user: str
    manager: bool
    reported_at: str
    applied: bool
    withdrawn: bool

    def describe(self) -> str:
        state = "withdrawn" if self.withdrawn else "applied" if self.applied else "recorded, not applied yet"
        who = f"{self.user}{' (manager)' if self.manager else ''}"
        event = f"event #{self.event_id}" if self.event_id is not None else f"article {self.article_id}"
        return f"#{self.id} {self.label}: {self.title[:100]} ({event}) · by {who} {self.reported_at[:16]} · {state}"


def version(store: Store) -> str:
    """The examples' version: changes whenever a report is added or withdrawn."""
    return store.get_state(VERSION_KEY) or "0"


def _bump(store: Store) -> None:
    store.set_state(VERSION_KEY, str(int(version(store)) + 1))


def add_report(
    store: Store,
    *,
    article_id: int,
    label: str,
    platform: str,
    workspace: str,
    channel: str,
    user: str,
    manager: bool,
    decided_before: str,
    now: datetime,
) -> bool:
    """Record one person's report; False when they had already reported this article with this label.

    A repeated report by a manager upgrades the earlier one (it now counts on its own).
    """
    with store.atomic():
        cursor = store.db.execute(
            'INSERT INTO labelled_examples (article_id, label, decided_before, platform, workspace, channel, "user", '
            "manager, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            'ON CONFLICT (article_id, label, platform, workspace, "user") '
            "DO UPDATE SET manager = 1, withdrawn_at = NULL WHERE excluded.manager = 1 "
            "AND (labelled_examples.manager = 0 OR labelled_examples.withdrawn_at IS NOT NULL)",
            (article_id, label, decided_before, platform, workspace, channel, user, int(manager), iso(now)),
        )
        changed = cursor.rowcount == 1
        if changed:
            _bump(store)
    return changed


def first_article(store: Store, event_id: int) -> int | None:
    """The article a report about an event stands for: its first report."""
    rows = store.query("SELECT min(id) AS id FROM articles WHERE event_id = ?", (event_id,))
    return rows[0]["id"] if rows and rows[0]["id"] is not None else None


def _applied(dialect: str) -> str:
    who = joined(dialect, "platform || ':' || \"user\"", "' '")
    return (
        f"SELECT article_id, label, {who} AS who FROM labelled_examples "
        "WHERE withdrawn_at IS NULL GROUP BY article_id, label "
        """HAVING max(manager) = 1 OR count(DISTINCT platform || ':' || workspace || ':' || "user") >= ?"""
    )


def applied_examples(store: Store) -> list[Example]:
    """The examples that count: a manager's report, or two people's agreeing reports.

    An article reported both ways by people whose reports count keeps only the later label.
    """
    rows = store.query(_applied(store.dialect) + " ORDER BY max(reported_at), min(id)", (AGREEING_MEMBERS,))
    latest: dict[int, Example] = {}
    for row in rows:
        latest[row["article_id"]] = Example(row["article_id"], row["label"], tuple(row["who"].split()))
    return list(latest.values())


def reported_articles(store: Store) -> list[int]:
    """Every article someone reported, applied or not (each is stored, so the archive index must know it)."""
    return [row["article_id"] for row in store.query("SELECT DISTINCT article_id FROM labelled_examples")]


def reports(store: Store, limit: int = 50) -> list[Report]:
    """The latest reports, newest first, each saying whether it is applied."""
    applied = {(e.article_id, e.label) for e in applied_examples(store)}
    rows = store.query(
        "SELECT x.*, a.title, a.event_id FROM labelled_examples x JOIN articles a ON a.id = x.article_id "
        "ORDER BY x.id DESC LIMIT ?",
        (limit,),
    )
    return [
        Report(
            id=row["id"],
            article_id=row["article_id"],
            event_id=row["event_id"],
            title=row["title"],
            label=row["label"],
            user=f"{row['platform']}:{row['user']}",
            manager=bool(row["manager"]),
            reported_at=row["reported_at"],
            applied=row["withdrawn_at"] is None and (row["article_id"], row["label"]) in applied,
            withdrawn=row["withdrawn_at"] is not None,
        )
        for row in rows
    ]


def withdraw(store: Store, report_id: int, now: datetime) -> bool:
    """Withdraw one report (it stays listed, never applied); False when there is no such report in force."""
    with store.atomic():
        cursor = store.db.execute(
            "UPDATE labelled_examples SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL",
            (iso(now), report_id),
        )
        if cursor.rowcount:
            _bump(store)
    return bool(cursor.rowcount)


def told_without_growth(store: Store, event_id: int) -> None:
    """A reported article joined an alerted event: channels told of it get no update line for it
    (a report never makes the bot speak in a channel)."""
    store.db.execute("UPDATE deliveries SET member_count = member_count + 1 WHERE event_id = ?", (event_id,))
