-- 0003: delivery: who is subscribed to what, what each subscription was told, and the
-- outbox of messages written before they are sent.

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,                 -- adapter name: console, slack, slack-webhook, discord, discord-webhook
    workspace TEXT NOT NULL DEFAULT '',     -- Slack team / Discord guild id; '' when none
    channel TEXT NOT NULL,                  -- channel id (a webhook URL for the webhook adapters)
    topic TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'realtime',  -- 'realtime' | 'hourly' | 'daily HH:MM Area/City'
    origin TEXT NOT NULL DEFAULT 'cli',     -- 'config' | 'cli' | 'chat' | 'default'
    created_at TEXT NOT NULL,               -- events first seen before this are not sent
    last_digest_at TEXT,                    -- scheduled modes: when the last digest was queued
    paused_at TEXT,                         -- set when the channel is gone or the bot was removed
    paused_reason TEXT,
    UNIQUE (platform, workspace, channel, topic)
);

-- What each subscription has been told: an event is alerted once; when it has grown
-- since (more members), it may be told again only as an update line.
CREATE TABLE deliveries (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES events(id),
    member_count INTEGER NOT NULL,
    queued_at TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
) WITHOUT ROWID;

-- One row per digest for one channel. The neutral digest is kept as JSON and rendered
-- by the adapter at send time (rendering is deterministic), so a digest split into
-- several platform messages resumes at the first part not yet sent.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    subscription_id INTEGER REFERENCES subscriptions(id) ON DELETE SET NULL,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | held (channel gone; kept)
    parts_sent INTEGER NOT NULL DEFAULT 0,
    message_ids TEXT NOT NULL DEFAULT '[]',  -- JSON list, one per part sent
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_status ON outbox(status, id);
