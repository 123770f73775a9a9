-- 0012: what a channel controls from chat: pausing (muted_at, kept apart from paused_at,
-- which means the channel is gone), quiet hours ('22:00-07:00 Asia/Seoul', whose zone is
-- also the zone the channel's messages show times in) and include/exclude words.
ALTER TABLE subscriptions ADD COLUMN muted_at TEXT;
ALTER TABLE subscriptions ADD COLUMN quiet_hours TEXT;

-- A word a subscription's events must mention ('include': at least one of them) or must
-- not mention ('exclude': none of them), matched like topic terms.
CREATE TABLE subscription_filters (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    word TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('include', 'exclude')),
    PRIMARY KEY (subscription_id, word, kind)
) WITHOUT ROWID;
