"""Subscription rows: who gets which topic, and each channel's switches.

:mod:`botsvc.deliver.subscriptions` says what a subscription means (modes, addresses,
templates); these read and write its rows. Times are ISO strings as stored (see
:func:`botsvc.store.store.iso`); callers decode rows.
"""

from __future__ import annotations

from datetime import datetime

from botsvc.store.returning import returned_id
from botsvc.store.store import Store, iso

_CHANNEL = "platform = ? AND workspace = ? AND channel = ?"


def subscription_row(store: Store, subscription_id: int) -> dict:
    """The stored row of one subscription (IndexError when there is none)."""
    return store.query("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,))[0]


def subscription_rows(store: Store) -> list[dict]:
    """Every subscription's row, oldest first."""
    return store.query("SELECT * FROM subscriptions ORDER BY id")


def subscription_id_for(store: Store, platform: str, workspace: str, channel: str, topic: str) -> int | None:
    """The id of the channel's subscription to ``topic``, if it has one."""
    rows = store.query(
        f"SELECT id FROM subscriptions WHERE {_CHANNEL} AND topic = ?", (platform, workspace, channel, topic)
    )
    return rows[0]["id"] if rows else None


def channel_subscription_ids(store: Store, platform: str, workspace: str, channel: str) -> list[int]:
    """The ids of every subscription of one channel."""
    return [
        row["id"]
        for row in store.query(f"SELECT id FROM subscriptions WHERE {_CHANNEL}", (platform, workspace, channel))
    ]


def muted_subscription_ids(store: Store) -> set[int]:
    """Subscriptions paused from chat (``/news pause``)."""
    return {row["id"] for row in store.query("SELECT id FROM subscriptions WHERE muted_at IS NOT NULL")}


def insert_subscription(
    store: Store, *, platform: str, workspace: str, channel: str, topic: str, mode: str, origin: str, now: datetime
) -> int:
    """Store a new subscription; returns its id."""
    cursor = store.db.execute(
        "INSERT INTO subscriptions (platform, workspace, channel, topic, mode, origin, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (platform, workspace, channel, topic, mode, origin, iso(now)),
    )
    return returned_id(cursor)


def renew_subscription(store: Store, subscription_id: int, mode: str) -> None:
    """Subscribing again: the new mode, a pause for a gone channel lifted, its held messages back in line."""
    store.db.execute(
        "UPDATE subscriptions SET mode = ?, paused_at = NULL, paused_reason = NULL WHERE id = ?",
        (mode, subscription_id),
    )
    store.db.execute(
        "UPDATE outbox SET status = 'pending' WHERE subscription_id = ? AND status = 'held'",
        (subscription_id,),
    )


def copy_channel_controls(store: Store, new_id: int, platform: str, workspace: str, channel: str) -> None:
    """Give subscription ``new_id`` the pause, quiet hours, template, updates setting and filters of
    the channel's oldest other subscription (none: nothing to copy)."""
    sibling = store.query(
        "SELECT id, muted_at, quiet_hours, template, updates FROM subscriptions "
        f"WHERE {_CHANNEL} AND id != ? ORDER BY id LIMIT 1",
        (platform, workspace, channel, new_id),
    )
    if not sibling:
        return
    store.db.execute(
        "UPDATE subscriptions SET muted_at = ?, quiet_hours = ?, template = ?, updates = ? WHERE id = ?",
        (sibling[0]["muted_at"], sibling[0]["quiet_hours"], sibling[0]["template"], sibling[0]["updates"], new_id),
    )
    store.db.execute(
        "INSERT INTO subscription_filters (subscription_id, word, kind) "
        "SELECT ?, word, kind FROM subscription_filters WHERE subscription_id = ?",
        (new_id, sibling[0]["id"]),
    )


def delete_subscriptions(store: Store, platform: str, workspace: str, channel: str, topic: str | None) -> int:
    """Delete the channel's subscriptions (to ``topic``, or all) and drop their unsent messages;
    returns how many were deleted. Call inside a transaction.

    The channel's messages queued without a subscription are dropped too once it has none left.
    """
    where = _CHANNEL
    params: tuple = (platform, workspace, channel)
    if topic is not None:
        where += " AND topic = ?"
        params += (topic,)
    ids = [row["id"] for row in store.query(f"SELECT id FROM subscriptions WHERE {where}", params)]
    if not ids:
        return 0
    marks = ", ".join("?" * len(ids))
    others = store.query(
        f"SELECT 1 FROM subscriptions WHERE {_CHANNEL} AND id NOT IN ({marks})",
        (platform, workspace, channel, *ids),
    )
    orphans = "" if others else f" OR (subscription_id IS NULL AND {_CHANNEL})"
    store.db.execute(  # before the delete, which sets outbox.subscription_id to NULL
        f"UPDATE outbox SET status = 'dropped', last_error = 'unsubscribed' WHERE status IN "
        f"('pending', 'held', 'failed') AND (subscription_id IN ({marks}){orphans})",
        (*ids, *(() if others else (platform, workspace, channel))),
    )
    store.db.execute(f"DELETE FROM subscriptions WHERE id IN ({marks})", tuple(ids))
    return len(ids)


def pause_subscription(store: Store, subscription_id: int, reason: str, now: datetime) -> None:
    """Stop delivering to a subscription whose channel is gone (``reason`` says why)."""
    store.db.execute(
        "UPDATE subscriptions SET paused_at = ?, paused_reason = ? WHERE id = ?", (iso(now), reason, subscription_id)
    )


def set_subscription_mode(store: Store, subscription_id: int, mode: str) -> None:
    store.db.execute("UPDATE subscriptions SET mode = ? WHERE id = ?", (mode, subscription_id))


def set_subscription_template(store: Store, subscription_id: int, template: str | None) -> None:
    """Store a template as JSON; None is the default."""
    store.db.execute("UPDATE subscriptions SET template = ? WHERE id = ?", (template, subscription_id))


def set_subscription_times(
    store: Store, subscription_id: int, created: datetime | None, last_digest: datetime | None
) -> None:
    """Rewrite a subscription's creation and last-digest moments."""
    store.db.execute(
        "UPDATE subscriptions SET created_at = ?, last_digest_at = ? WHERE id = ?",
        (iso(created), iso(last_digest), subscription_id),
    )


def set_last_digest(store: Store, subscription_id: int, now: datetime) -> None:
    store.db.execute("UPDATE subscriptions SET last_digest_at = ? WHERE id = ?", (iso(now), subscription_id))


def mute_subscription(store: Store, subscription_id: int, now: datetime) -> None:
    """Pause a subscription from chat (``/news pause``) as of ``now``."""
    store.db.execute("UPDATE subscriptions SET muted_at = ? WHERE id = ?", (iso(now), subscription_id))


def unmute_subscription(store: Store, subscription_id: int) -> None:
    store.db.execute("UPDATE subscriptions SET muted_at = NULL WHERE id = ?", (subscription_id,))


def set_quiet_hours(store: Store, subscription_id: int, quiet: str | None) -> None:
    """Store quiet hours as their text (None: none)."""
    store.db.execute("UPDATE subscriptions SET quiet_hours = ? WHERE id = ?", (quiet, subscription_id))


def set_updates(store: Store, subscription_id: int, updates: str) -> None:
    """Store where later reports of an event told before go ('thread', 'channel' or 'none')."""
    store.db.execute("UPDATE subscriptions SET updates = ? WHERE id = ?", (updates, subscription_id))
