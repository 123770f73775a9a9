-- 0023: tenants. Each Slack workspace and each Discord server is a tenant.
--
-- Which tenant added a feed from chat: its items are alerted only in that tenant's
-- channels, and only that tenant's managers can remove it. The row outlives the feed's
-- removal, so the stories the feed stored never become everybody's. A feed without a row
-- is shared: those of feeds.toml, OPML imports, and the feeds added from chat before
-- this migration (their adder's workspace was never recorded, so they stay shared).
CREATE TABLE feed_tenants (
    feed TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,      -- '<platform>:<workspace or server id>', e.g. 'slack:T0123ABCD'
    added_at TEXT NOT NULL
);
CREATE INDEX feed_tenants_tenant ON feed_tenants (tenant);

-- With no [chat] slack_workspaces / discord_servers listed, the bot serves the first
-- workspace (server) it is used from on each platform, remembered here across restarts.
-- A database that already has subscriptions made in a workspace adopts the earliest one's.
CREATE TABLE chat_tenants (
    platform TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    adopted_at TEXT NOT NULL
);
INSERT INTO chat_tenants (platform, workspace, adopted_at)
SELECT platform, workspace, created_at FROM subscriptions
WHERE id IN (
    SELECT min(id) FROM subscriptions
    WHERE workspace != '' AND platform IN ('slack', 'discord') GROUP BY platform
);
