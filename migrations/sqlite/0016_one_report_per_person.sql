-- 0016: a "not relevant" report counts once per person and event in a Slack workspace or
-- Discord server, whichever channels (or direct messages) the button was pressed in.
-- Earlier databases kept one per person, channel and event: the first of each person's
-- reports about an event is kept (with its channel), the repeats are dropped.
CREATE TABLE relevance_feedback_once (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    user TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    UNIQUE (event_id, platform, workspace, user)
);
INSERT INTO relevance_feedback_once (id, event_id, platform, workspace, channel, user, reported_at)
SELECT id, event_id, platform, workspace, channel, user, reported_at FROM relevance_feedback
WHERE id IN (SELECT min(id) FROM relevance_feedback GROUP BY event_id, platform, workspace, user);
DROP TABLE relevance_feedback;
ALTER TABLE relevance_feedback_once RENAME TO relevance_feedback;
CREATE INDEX relevance_feedback_event ON relevance_feedback (event_id);
