-- 0015: event threads. Later reports of an event go under the message that first told it.
-- deliveries.alert_outbox_id: the outbox row whose message first told the event to the
-- subscription; its recorded message ids name the thread's parent, across restarts.
ALTER TABLE deliveries ADD COLUMN alert_outbox_id INTEGER;

-- What a channel does with later reports of an event it was told: 'thread' (a reply under
-- the alert, which is edited to show the running count of sources), 'channel' (an update
-- line in the channel) or 'none' (nothing). Digest modes always fold updates into the digest.
ALTER TABLE subscriptions ADD COLUMN updates TEXT NOT NULL DEFAULT 'thread'
    CHECK (updates IN ('thread', 'channel', 'none'));
