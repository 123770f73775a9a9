"""What operators do with messages that were not delivered: list, retry, drop.

``botsvc outbox list|retry|drop`` and ``botsvc status`` read and change the outbox
through these functions. Retrying puts a failed or held message back in line (it is
sent at the next delivery, from the first part not yet sent); dropping keeps the row
for the record but never sends it.
"""

from __future__ import annotations

from datetime import datetime

from botsvc.store.store import Store, iso

UNSENT = ("pending", "held", "failed")


class OutboxError(ValueError):
    """No such message, or it cannot be retried or dropped; the message says which."""


def unsent(store: Store, statuses: tuple[str, ...] = UNSENT) -> list[dict]:
    """Messages in ``statuses``, oldest first."""
    marks = ", ".join("?" * len(statuses))
    return store.query(
        "SELECT o.id, o.subscription_id, o.platform, o.workspace, o.channel, o.status, o.attempts, o.last_error, "
        f"o.created_at, o.failed_at, o.sending_at, s.paused_reason FROM outbox o LEFT JOIN subscriptions s "
        f"ON s.id = o.subscription_id WHERE o.status IN ({marks}) ORDER BY o.id",
        statuses,
    )


def counts(store: Store) -> dict[str, int]:
    return {row["status"]: row["n"] for row in store.query("SELECT status, count(*) AS n FROM outbox GROUP BY status")}


def refused_credentials(store: Store) -> list[dict]:
    """Platforms whose credentials were refused, with the messages waiting for them."""
    return store.query(
        "SELECT p.platform, p.problem, p.since, p.last_seen, "
        "(SELECT count(*) FROM outbox o WHERE o.platform = p.platform AND o.status = 'pending') AS waiting "
        "FROM platform_problems p ORDER BY p.platform"
    )


def _message(store: Store, outbox_id: int) -> dict:
    found = store.query("SELECT id, status, subscription_id FROM outbox WHERE id = ?", (outbox_id,))
    if not found:
        raise OutboxError(f"there is no message {outbox_id} in the outbox (see `botsvc outbox list`)")
    return found[0]


def retry(store: Store, outbox_id: int, now: datetime) -> dict:
    """Put a failed or held message back in line; returns its row as it was."""
    with store.atomic():
        row = _message(store, outbox_id)
        if row["status"] not in UNSENT:
            raise OutboxError(f"message {outbox_id} is {row['status']}; only pending, held or failed ones are retried")
        store.db.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, failed_at = NULL WHERE id = ?",
            (iso(now), outbox_id),
        )
    return row


def drop(store: Store, outbox_id: int) -> dict:
    """Never send this message; the row stays, marked dropped. Returns its row as it was."""
    with store.atomic():
        row = _message(store, outbox_id)
        if row["status"] not in UNSENT:
            raise OutboxError(f"message {outbox_id} is {row['status']}; only pending, held or failed ones are dropped")
        store.db.execute("UPDATE outbox SET status = 'dropped' WHERE id = ?", (outbox_id,))
    return row
