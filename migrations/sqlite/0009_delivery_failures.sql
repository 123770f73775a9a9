-- 0009: one bad message never blocks the rest.
-- outbox.status gains 'failed' (refused for good for this message alone; last_error says
-- why, and `botsvc outbox retry` sends it again) and 'dropped' (an operator dropped it, or
-- its channel was unsubscribed; never sent).
ALTER TABLE outbox ADD COLUMN failed_at TEXT;

-- A platform that refuses the bot's credentials (Slack invalid_auth, Discord 401): reported
-- once, shown by `botsvc status`, cleared by the first send it accepts again. Its messages
-- stay pending meanwhile and no channel is paused.
CREATE TABLE platform_problems (
    platform TEXT PRIMARY KEY,
    problem TEXT NOT NULL,
    since TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
