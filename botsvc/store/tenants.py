"""Tenants in the database: whose feeds are whose, and which workspace a platform adopted.

A tenant is one Slack workspace or one Discord server, written ``<platform>:<id>``
(:func:`tenant_key`). A feed added from chat belongs to the tenant that added it
(``feed_tenants``, kept after the feed is removed so its stored stories stay that
tenant's); every other feed is shared. Delivery hides from a subscription the reports of
feeds that belong to another tenant (:data:`HIDDEN_FEEDS`).
"""

from __future__ import annotations

from datetime import datetime

from botsvc.store.store import Store, iso

HIDDEN_FEEDS = "SELECT feed FROM feed_tenants WHERE tenant != :tenant"
"""Names of the feeds whose reports the tenant ``:tenant`` never sees (a named SQL parameter)."""


def tenant_key(platform: str, workspace: str) -> str:
    """``slack:T0123`` / ``discord:4242``; an unknown workspace is ``slack:`` (owns nothing)."""
    return f"{platform}:{workspace}"


def hidden_feeds(store: Store, tenant: str) -> frozenset[str]:
    """The feeds another tenant added from chat: their reports are not shown to ``tenant``."""
    return frozenset(row["feed"] for row in store.query(HIDDEN_FEEDS, {"tenant": tenant}))


def feed_owner(store: Store, feed: str) -> str | None:
    """The tenant that added ``feed`` from chat; None for a shared feed."""
    rows = store.query("SELECT tenant FROM feed_tenants WHERE feed = ?", (feed,))
    return rows[0]["tenant"] if rows else None


def feed_owners(store: Store) -> dict[str, str]:
    """Each chat-added feed's tenant, by feed name (shared feeds are not in it)."""
    return {row["feed"]: row["tenant"] for row in store.query("SELECT feed, tenant FROM feed_tenants")}


def url_owner(store: Store, url: str) -> str | None:
    """The tenant whose chat-added feed polls ``url``; None when shared or not polled."""
    rows = store.query(
        "SELECT t.tenant FROM feeds f JOIN feed_tenants t ON t.feed = f.name WHERE f.url = ? LIMIT 1", (url,)
    )
    return rows[0]["tenant"] if rows else None


def own_feed(store: Store, feed: str, tenant: str, now: datetime) -> None:
    """Record that ``tenant`` added ``feed``; call inside the transaction that stores the feed."""
    store.db.execute(
        "INSERT INTO feed_tenants (feed, tenant, added_at) VALUES (?, ?, ?) "
        "ON CONFLICT (feed) DO UPDATE SET tenant = excluded.tenant, added_at = excluded.added_at",
        (feed, tenant, iso(now)),
    )


def owned_feed_count(store: Store, tenant: str) -> int:
    """How many feeds ``tenant`` added from chat are polled now."""
    rows = store.query(
        "SELECT count(*) AS n FROM feed_tenants t JOIN feeds f ON f.name = t.feed WHERE t.tenant = ?", (tenant,)
    )
    return int(rows[0]["n"])


def owned_names(store: Store) -> set[str]:
    """Every name a tenant's feed has had, removed ones included (never given to another feed)."""
    return {row["feed"] for row in store.query("SELECT feed FROM feed_tenants")}


def adopted_workspace(store: Store, platform: str) -> str | None:
    """The workspace (server) ``platform`` adopted when none is configured; None before the first."""
    rows = store.query("SELECT workspace FROM chat_tenants WHERE platform = ?", (platform,))
    return rows[0]["workspace"] if rows else None


def adopt(store: Store, platform: str, workspace: str, now: datetime) -> str:
    """Adopt ``workspace`` for ``platform`` unless one was adopted first; returns the adopted one."""
    with store.atomic():
        store.db.execute(
            "INSERT INTO chat_tenants (platform, workspace, adopted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (platform, workspace, iso(now)),
        )
        return str(store.query("SELECT workspace FROM chat_tenants WHERE platform = ?", (platform,))[0]["workspace"])


def reports_since(store: Store, platform: str, workspace: str, since: datetime) -> int:
    """How many "not relevant" reports the tenant made since ``since``."""
    rows = store.query(
        "SELECT count(*) AS n FROM relevance_feedback WHERE platform = ? AND workspace = ? AND reported_at >= ?",
        (platform, workspace, iso(since)),
    )
    return int(rows[0]["n"])


def visible_events(store: Store, tenant: str, event_ids: list[int]) -> dict[int, str | None]:
    """Those of ``event_ids`` with a report ``tenant`` may see (not only another tenant's feeds'),
    each with the title of its first such report when another tenant's feed also reported it
    (None when every report is one ``tenant`` may see: the event's own title is right)."""
    # Named marks, not json_each: a table-valued function declares a table when first used on a
    # connection, which the store refuses outside the write turn (chat reads run without it).
    params: dict[str, object] = {f"e{n}": event_id for n, event_id in enumerate(event_ids)}
    params["tenant"] = tenant
    marks = ", ".join(f":e{n}" for n in range(len(event_ids)))
    mixed = {
        row["event_id"]
        for row in store.query(
            f"SELECT DISTINCT event_id FROM articles WHERE event_id IN ({marks}) AND feed IN ({HIDDEN_FEEDS})",
            params,
        )
    }
    shown: dict[int, str | None] = {}
    for row in store.query(
        f"SELECT event_id, title FROM articles WHERE event_id IN ({marks}) "
        f"AND feed NOT IN ({HIDDEN_FEEDS}) ORDER BY coalesce(published, first_seen), id",
        params,
    ):
        shown.setdefault(row["event_id"], row["title"] if row["event_id"] in mixed else None)
    return shown


def grown_for(store: Store, subscription_id: int, tenant: str, event_ids: list[int]) -> set[int]:
    """Those of ``event_ids``, told to the subscription before, with a report ``tenant`` may see
    stored since (growth from another tenant's feeds alone is no news to it)."""
    grew = (
        "SELECT d.event_id FROM deliveries d WHERE d.subscription_id = :sub AND d.event_id = :event "
        "AND EXISTS (SELECT 1 FROM articles a WHERE a.event_id = d.event_id AND a.first_seen > d.queued_at "
        f"AND a.feed NOT IN ({HIDDEN_FEEDS}))"
    )
    return {
        event_id
        for event_id in event_ids
        if store.query(grew, {"sub": subscription_id, "event": event_id, "tenant": tenant})
    }
