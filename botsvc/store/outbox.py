"""Outbox rows: every message written down before it is sent, and what became of it.

:mod:`botsvc.deliver.outbox` sends them and decides what a failure means; these are the
reads and writes it (and ``botsvc outbox``, ``botsvc status``, ``/metrics``) makes.
Each write is one statement; the caller holds the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from botsvc.store.returning import returned_id
from botsvc.store.store import Store, iso

UNSENT = ("pending", "held", "failed")
"""Statuses of a message not sent (yet): it can be retried or dropped."""


def insert_message(
    store: Store,
    *,
    subscription_id: int | None,
    platform: str,
    workspace: str,
    channel: str,
    digest: str,
    now: datetime,
) -> int:
    """Write a message (a digest as JSON) due at once; returns its id."""
    cursor = store.db.execute(
        "INSERT INTO outbox (subscription_id, platform, workspace, channel, digest, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (subscription_id, platform, workspace, channel, digest, iso(now), iso(now)),
    )
    return returned_id(cursor)


def pending_messages(store: Store) -> list[dict]:
    """Every pending message's row, in the order they were written."""
    return store.query("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")


def mark_sending(store: Store, outbox_id: int, key: str, now: datetime) -> None:
    """Record the part in flight (its key) and since when, before its request."""
    store.db.execute("UPDATE outbox SET sending_key = ?, sending_at = ? WHERE id = ?", (key, iso(now), outbox_id))


def record_part_sent(
    store: Store, outbox_id: int, parts_sent: int, message_ids: list[str], *, done: bool, now: datetime
) -> None:
    """A part was accepted: its message id kept, nothing in flight; ``done`` marks the message delivered."""
    store.db.execute(
        "UPDATE outbox SET parts_sent = ?, message_ids = ?, last_error = NULL, "
        "sending_key = NULL, sending_at = NULL, "
        "status = CASE WHEN ? THEN 'delivered' ELSE status END, "
        "delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END WHERE id = ?",
        (parts_sent, json.dumps(message_ids), done, done, iso(now), outbox_id),
    )


def defer_message(
    store: Store, outbox_id: int, error: str, next_attempt: datetime, tries: int, *, in_flight: bool
) -> None:
    """Try again at ``next_attempt``; ``in_flight``: the part in flight stays marked (it may be posted)."""
    cleared = "" if in_flight else ", sending_key = NULL, sending_at = NULL"
    store.db.execute(
        f"UPDATE outbox SET attempts = attempts + ?, last_error = ?, next_attempt_at = ?{cleared} WHERE id = ?",
        (tries, error, iso(next_attempt), outbox_id),
    )


def fail_message(store: Store, outbox_id: int, error: str, now: datetime, *, in_flight: bool) -> None:
    """Mark a message failed for good with why; ``in_flight`` as for :func:`defer_message`."""
    cleared = "" if in_flight else ", sending_key = NULL, sending_at = NULL"
    store.db.execute(
        f"UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, failed_at = ?{cleared} "
        "WHERE id = ?",
        (error, iso(now), outbox_id),
    )


def note_refused_send(store: Store, outbox_id: int, error: str) -> None:
    """Count a send the platform refused for the bot's credentials; the message stays pending."""
    store.db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, sending_key = NULL, sending_at = NULL WHERE id = ?",
        (error, outbox_id),
    )


def hold_channel_messages(store: Store, platform: str, workspace: str, channel: str, error: str) -> None:
    """Hold every pending message of a channel that is gone (they wait for it to be subscribed again)."""
    store.db.execute(
        "UPDATE outbox SET status = 'held', attempts = attempts + 1, last_error = ?, "
        "sending_key = NULL, sending_at = NULL "
        "WHERE status = 'pending' AND platform = ? AND workspace = ? AND channel = ?",
        (error, platform, workspace, channel),
    )


# -- platforms whose credentials are refused ------------------------------------------
def troubled_platforms(store: Store) -> set[str]:
    """Platforms whose credentials were last refused."""
    return {row["platform"] for row in store.query("SELECT platform FROM platform_problems")}


def record_platform_problem(store: Store, platform: str, problem: str, now: datetime) -> bool:
    """Record that ``platform`` refuses the bot's credentials; returns whether it was already known."""
    known = store.query("SELECT problem FROM platform_problems WHERE platform = ?", (platform,))
    store.db.execute(
        "INSERT INTO platform_problems (platform, problem, since, last_seen) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (platform) DO UPDATE SET problem = excluded.problem, last_seen = excluded.last_seen",
        (platform, problem, iso(now), iso(now)),
    )
    return bool(known)


def clear_platform_problem(store: Store, platform: str) -> None:
    store.db.execute("DELETE FROM platform_problems WHERE platform = ?", (platform,))


def refused_credentials(store: Store) -> list[dict]:
    """Platforms whose credentials were refused, with the messages waiting for them."""
    return store.query(
        "SELECT p.platform, p.problem, p.since, p.last_seen, "
        "(SELECT count(*) FROM outbox o WHERE o.platform = p.platform AND o.status = 'pending') AS waiting "
        "FROM platform_problems p ORDER BY p.platform"
    )


# -- what operators see and do ---------------------------------------------------------
def unsent_messages(store: Store, statuses: Sequence[str] = UNSENT) -> list[dict]:
    """Messages in ``statuses``, oldest first, with their subscription's pause reason."""
    marks = ", ".join("?" * len(statuses))
    return store.query(
        "SELECT o.id, o.subscription_id, o.platform, o.workspace, o.channel, o.status, o.attempts, o.last_error, "
        f"o.created_at, o.failed_at, o.sending_at, s.paused_reason FROM outbox o LEFT JOIN subscriptions s "
        f"ON s.id = o.subscription_id WHERE o.status IN ({marks}) ORDER BY o.id",
        tuple(statuses),
    )


def status_counts(store: Store) -> dict[str, int]:
    """How many messages are in each status."""
    return {row["status"]: row["n"] for row in store.query("SELECT status, count(*) AS n FROM outbox GROUP BY status")}


def unsent_counts(store: Store) -> dict[str, int]:
    """How many messages are pending, held and failed (each status there is)."""
    return {
        row["status"]: row["n"]
        for row in store.query(
            "SELECT status, count(*) AS n FROM outbox WHERE status IN ('pending', 'held', 'failed') GROUP BY status"
        )
    }


def message_state(store: Store, outbox_id: int) -> dict | None:
    """``id, status, subscription_id`` of one message; None when there is none."""
    found = store.query("SELECT id, status, subscription_id FROM outbox WHERE id = ?", (outbox_id,))
    return found[0] if found else None


def requeue_message(store: Store, outbox_id: int, now: datetime) -> None:
    """Put a message back in line, due at ``now``."""
    store.db.execute(
        "UPDATE outbox SET status = 'pending', next_attempt_at = ?, failed_at = NULL WHERE id = ?",
        (iso(now), outbox_id),
    )


def drop_message(store: Store, outbox_id: int) -> None:
    """Never send this message; the row stays, marked dropped."""
    store.db.execute("UPDATE outbox SET status = 'dropped' WHERE id = ?", (outbox_id,))
