"""What the job queue needs from the store: claims on feed polls, channels with mail to send.

The queue's own uniqueness (a "queueing lock") cannot be combined with retries, so a
feed's poll being waiting or running is recorded here, in ``feeds.poll_queued_at``:
:func:`claim_poll` sets it only where it is empty (or older than ``abandoned_before``),
so two enqueuers racing for one feed get one claim between them; the poll clears it with
:func:`release_poll` once its results are stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from botsvc.store.store import Store, iso


def add_missing_feeds(store: Store, feeds: Iterable[tuple[str, str]]) -> None:
    """Rows for ``(name, url)`` feeds never polled yet, so they can be claimed (existing rows untouched)."""
    for name, url in feeds:
        store.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", (name, url))


def claim_poll(store: Store, name: str, now: datetime, *, abandoned_before: datetime) -> bool:
    """Claim feed ``name``'s next poll for the queue; False if a poll is already waiting or running.

    A claim older than ``abandoned_before`` belongs to a job that was lost (deleted from the
    queue by hand) and is taken over.
    """
    cursor = store.db.execute(
        "UPDATE feeds SET poll_queued_at = ? WHERE name = ? AND (poll_queued_at IS NULL OR poll_queued_at < ?)",
        (iso(now), name, iso(abandoned_before)),
    )
    return cursor.rowcount == 1


def release_poll(store: Store, name: str) -> None:
    """The poll of ``name`` is over (stored, failed or skipped): the feed may be claimed again."""
    store.db.execute("UPDATE feeds SET poll_queued_at = NULL WHERE name = ?", (name,))


def claimed_polls(store: Store) -> list[str]:
    """Feeds whose poll is waiting in the queue or running, by name."""
    return [row["name"] for row in store.query("SELECT name FROM feeds WHERE poll_queued_at IS NOT NULL ORDER BY name")]


def claims_older_than(store: Store, when: datetime) -> list[str]:
    """Feeds whose poll was claimed before ``when`` (their job may be gone), by name."""
    rows = store.query("SELECT name FROM feeds WHERE poll_queued_at < ? ORDER BY name", (iso(when),))
    return [row["name"] for row in rows]


def channels_to_send(store: Store, now: datetime) -> list[tuple[str, str, str]]:
    """``(platform, workspace, channel)`` of every channel with a pending message due by ``now``.

    Messages of a paused subscription wait for ``/news resume`` and do not count.
    """
    rows = store.query(
        "SELECT o.platform, o.workspace, o.channel FROM outbox o "
        "LEFT JOIN subscriptions s ON s.id = o.subscription_id "
        "WHERE o.status = 'pending' AND s.muted_at IS NULL "
        "GROUP BY o.platform, o.workspace, o.channel HAVING min(o.next_attempt_at) <= ? "
        "ORDER BY o.platform, o.workspace, o.channel",
        (iso(now),),
    )
    return [(row["platform"], row["workspace"], row["channel"]) for row in rows]
