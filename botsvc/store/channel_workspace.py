"""One subscription per channel, whichever path made it.

``botsvc subscribe`` and ``[[subscriptions]]`` in feeds.toml may not know a channel's
Slack workspace or Discord guild, while a ``/news`` command in that channel always does.
Slack channel ids and Discord channel ids (snowflakes) are unique beyond their workspace,
so a subscription stored without a workspace can only be that channel's: chat adopts it
(fills in the workspace), and one that duplicates a subscription chat made to the same
topic is merged into the older of the two, which keeps its settings. Without that,
chat controls did not see the first, and every alert was posted twice.
"""

from __future__ import annotations

from botsvc.store.store import Store

UNIQUE_CHANNEL_IDS = ("slack", "discord")
"""Platforms whose channel ids name one channel whatever the workspace."""


def known_workspace(store: Store, platform: str, channel: str) -> str:
    """The workspace this channel's subscriptions are stored under; '' when none is known."""
    if platform not in UNIQUE_CHANNEL_IDS:
        return ""
    rows = store.query(
        "SELECT workspace FROM subscriptions WHERE platform = ? AND channel = ? AND workspace != '' "
        "ORDER BY id LIMIT 1",
        (platform, channel),
    )
    return rows[0]["workspace"] if rows else ""


_BLANK = "SELECT id, topic FROM subscriptions WHERE platform = ? AND channel = ? AND workspace = ''"


def needs_adoption(store: Store, platform: str, channel: str, workspace: str) -> bool:
    """Whether the channel has subscriptions stored without a workspace that ``workspace`` would adopt
    (a read: the caller takes the write turn only when there is something to write)."""
    return bool(workspace) and platform in UNIQUE_CHANNEL_IDS and bool(store.query(_BLANK, (platform, channel)))


def adopt_workspace(store: Store, platform: str, channel: str, workspace: str) -> int:
    """Give the channel's subscriptions stored without a workspace this one, merging duplicates.

    Returns how many were adopted or merged (0, and no write, when there are none).
    """
    if not needs_adoption(store, platform, channel, workspace):
        return 0
    with store.atomic():
        rows = store.query(_BLANK, (platform, channel))
        for row in rows:
            named = store.query(
                "SELECT id FROM subscriptions WHERE platform = ? AND workspace = ? AND channel = ? AND topic = ?",
                (platform, workspace, channel, row["topic"]),
            )
            if named:
                keep, drop = sorted((row["id"], named[0]["id"]))
                _merge(store, keep, drop)
                store.db.execute("UPDATE subscriptions SET workspace = ? WHERE id = ?", (workspace, keep))
            else:
                store.db.execute("UPDATE subscriptions SET workspace = ? WHERE id = ?", (workspace, row["id"]))
        store.db.execute(
            "UPDATE outbox SET workspace = ? WHERE platform = ? AND channel = ? AND workspace = ''",
            (workspace, platform, channel),
        )
    return len(rows)


def _merge(store: Store, keep: int, drop: int) -> None:
    """Fold subscription ``drop`` into ``keep``: what either was told or muted counts for both,
    ``drop``'s messages become ``keep``'s (nothing unsent is lost), then ``drop`` goes."""
    store.db.execute(
        "INSERT INTO deliveries (subscription_id, event_id, member_count, queued_at, summarised, alert_outbox_id) "
        "SELECT ?, event_id, member_count, queued_at, summarised, alert_outbox_id FROM deliveries "
        "WHERE subscription_id = ? "
        "ON CONFLICT (subscription_id, event_id) DO UPDATE SET "
        "member_count = CASE WHEN excluded.member_count > deliveries.member_count "
        "THEN excluded.member_count ELSE deliveries.member_count END, "
        "alert_outbox_id = coalesce(deliveries.alert_outbox_id, excluded.alert_outbox_id)",
        (keep, drop),
    )
    store.db.execute(
        "INSERT INTO event_mutes (subscription_id, event_id, reason, muted_by, muted_at) "
        "SELECT ?, event_id, reason, muted_by, muted_at FROM event_mutes WHERE subscription_id = ? "
        "ON CONFLICT DO NOTHING",
        (keep, drop),
    )
    store.db.execute("UPDATE outbox SET subscription_id = ? WHERE subscription_id = ?", (keep, drop))
    for table in ("deliveries", "event_mutes", "subscription_filters"):
        store.db.execute(f"DELETE FROM {table} WHERE subscription_id = ?", (drop,))
    store.db.execute("DELETE FROM subscriptions WHERE id = ?", (drop,))
