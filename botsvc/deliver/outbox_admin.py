"""What operators do with messages that were not delivered: list, retry, drop.

``botsvc outbox list|retry|drop`` and ``botsvc status`` read and change the outbox
through these functions. Retrying puts a failed or held message back in line (it is
sent at the next delivery, from the first part not yet sent); dropping keeps the row
for the record but never sends it.
"""

from __future__ import annotations

from datetime import datetime

from botsvc.store import outbox as outbox_rows
from botsvc.store.outbox import UNSENT
from botsvc.store.store import Store


class OutboxError(ValueError):
    """No such message, or it cannot be retried or dropped; the message says which."""


def unsent(store: Store, statuses: tuple[str, ...] = UNSENT) -> list[dict]:
    """Messages in ``statuses``, oldest first."""
    return outbox_rows.unsent_messages(store, statuses)


def counts(store: Store) -> dict[str, int]:
    return outbox_rows.status_counts(store)


def refused_credentials(store: Store) -> list[dict]:
    """Platforms whose credentials were refused, with the messages waiting for them."""
    return outbox_rows.refused_credentials(store)


def _message(store: Store, outbox_id: int) -> dict:
    found = outbox_rows.message_state(store, outbox_id)
    if found is None:
        raise OutboxError(f"there is no message {outbox_id} in the outbox (see `botsvc outbox list`)")
    return found


def retry(store: Store, outbox_id: int, now: datetime) -> dict:
    """Put a failed or held message back in line; returns its row as it was."""
    with store.atomic():
        row = _message(store, outbox_id)
        if row["status"] not in UNSENT:
            raise OutboxError(f"message {outbox_id} is {row['status']}; only pending, held or failed ones are retried")
        outbox_rows.requeue_message(store, outbox_id, now)
    return row


def drop(store: Store, outbox_id: int) -> dict:
    """Never send this message; the row stays, marked dropped. Returns its row as it was."""
    with store.atomic():
        row = _message(store, outbox_id)
        if row["status"] not in UNSENT:
            raise OutboxError(f"message {outbox_id} is {row['status']}; only pending, held or failed ones are dropped")
        outbox_rows.drop_message(store, outbox_id)
    return row
