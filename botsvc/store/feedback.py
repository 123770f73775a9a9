"""What people said about alerts with their buttons: muted events and "not relevant" reports.

A mute (``event_mutes``) is per subscription and event: delivery skips the event for that
subscription from then on, update lines included. A "not relevant" report
(``relevance_feedback``) is per person and event in a workspace (Slack) or server
(Discord), whichever channel it came from, and is counted against the
topics and keywords that matched the event's reports, so ``botsvc status`` and
``botsvc explain`` can say which rules bring alerts nobody wanted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from botsvc.store.store import Store, iso

MUTE = "mute"
NOT_RELEVANT = "not relevant"


def mute_event(store: Store, subscription_ids: list[int], event_id: int, reason: str, by: str, now: datetime) -> int:
    """Stop telling ``event_id`` to these subscriptions; returns how many were not muted before.

    A "not relevant" mark replaces a plain mute (it says more); a mute never replaces it.
    """
    changed = 0
    with store.atomic():
        for subscription_id in subscription_ids:
            cursor = store.db.execute(
                "INSERT INTO event_mutes (subscription_id, event_id, reason, muted_by, muted_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscription_id, event_id) DO UPDATE SET "
                "reason = excluded.reason WHERE excluded.reason = ? AND event_mutes.reason != excluded.reason",
                (subscription_id, event_id, reason, by, iso(now), NOT_RELEVANT),
            )
            changed += cursor.rowcount
    return changed


def muted_for(store: Store, subscription_ids: list[int], event_id: int) -> bool:
    """Whether every one of these subscriptions has the event muted."""
    if not subscription_ids:
        return False
    marks = ", ".join("?" * len(subscription_ids))
    rows = store.query(
        f"SELECT count(*) AS n FROM event_mutes WHERE event_id = ? AND subscription_id IN ({marks})",
        (event_id, *subscription_ids),
    )
    return rows[0]["n"] == len(subscription_ids)


def report_not_relevant(
    store: Store, *, event_id: int, platform: str, workspace: str, channel: str, user: str, now: datetime
) -> bool:
    """Record one person's "not relevant" for an event; False when they had already, in any
    channel of the same workspace or server (the first report keeps its channel)."""
    with store.atomic():
        cursor = store.db.execute(
            'INSERT INTO relevance_feedback (event_id, platform, workspace, channel, "user", reported_at) '
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (event_id, platform, workspace, channel, user, iso(now)),
        )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class FeedbackSummary:
    """ "Not relevant" reports, and what matched the events they were about."""

    reports: int
    events: int
    channels: int
    keywords: list[tuple[str, int]]
    """Matched keywords of the reported events' reports, most reports first (counted once per report and event)."""
    topics: list[tuple[str, int]]

    def describe(self, top: int = 3) -> str:
        """ "3 report(s) on 2 event(s) from 2 channel(s); most from keywords GSOMIA (3), Seoul (2); topics …"."""
        text = f"{self.reports} report(s) on {self.events} event(s) from {self.channels} channel(s)"
        if self.keywords:
            text += "; most from keywords " + ", ".join(f"{k} ({n})" for k, n in self.keywords[:top])
        if self.topics:
            text += "; topics " + ", ".join(f"{t} ({n})" for t, n in self.topics[:top])
        return text

    def describe_event(self, top: int = 5) -> str:
        """For one event: "2 report(s) from 2 channel(s); it matched GSOMIA, Japan, Seoul"."""
        text = f"{self.reports} report(s) from {self.channels} channel(s)"
        if self.keywords:
            text += "; it matched " + ", ".join(k for k, _ in self.keywords[:top])
        return text


def _most_first(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))


def feedback_summary(store: Store, event_ids: list[int] | None = None) -> FeedbackSummary | None:
    """Every "not relevant" report (or those about ``event_ids``) and the rules behind them; None without any."""
    where = ""
    params: tuple[int, ...] = ()
    if event_ids is not None:
        if not event_ids:
            return None
        where, params = f"WHERE event_id IN ({', '.join('?' * len(event_ids))})", tuple(event_ids)
    reports = store.query(
        f"SELECT event_id, platform, workspace, channel FROM relevance_feedback {where}",
        params,
    )
    if not reports:
        return None
    per_event = Counter(row["event_id"] for row in reports)
    keywords: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for event_id, count in per_event.items():
        matched_keywords: set[str] = set()
        matched_topics: set[str] = set()
        for row in store.query("SELECT topics, matched_keywords FROM articles WHERE event_id = ?", (event_id,)):
            matched_keywords.update(json.loads(row["matched_keywords"] or "[]"))
            matched_topics.update(json.loads(row["topics"] or "[]"))
        for keyword in matched_keywords:
            keywords[keyword] += count
        for topic in matched_topics:
            topics[topic] += count
    return FeedbackSummary(
        reports=len(reports),
        events=len(per_event),
        channels=len({(r["platform"], r["workspace"], r["channel"]) for r in reports}),
        keywords=_most_first(keywords),
        topics=_most_first(topics),
    )
