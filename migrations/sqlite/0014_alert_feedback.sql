-- 0014: what people said with an alert's buttons.
-- An event a channel no longer wants to hear about ('mute' or 'not relevant'): delivery
-- never tells it again to that subscription, not even as an update line. Event ids are
-- not foreign keys, so rebuild-events may renumber events without failing on them.
CREATE TABLE event_mutes (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('mute', 'not relevant')),
    muted_by TEXT NOT NULL,
    muted_at TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
) WITHOUT ROWID;

-- "Not relevant" reports: who, in which channel, about which event, when. One per person,
-- channel and event, so pressing the button twice counts once.
CREATE TABLE relevance_feedback (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    user TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    UNIQUE (event_id, platform, workspace, channel, user)
);
CREATE INDEX relevance_feedback_event ON relevance_feedback (event_id);
