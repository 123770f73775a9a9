-- 0024: labelled examples the relevance judgement learns from.
-- A person's report about one stored article: 'relevant' (a missed story they reported) or
-- 'not relevant' (an alert they marked). One per person, label and article in a workspace
-- or server. ``manager``: the reporter could manage the channel the report came from, so
-- the report counts on its own; otherwise it counts once two people agree on the article.
-- ``withdrawn_at``: an operator withdrew it (kept for the record, never applied).
CREATE TABLE labelled_examples (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    label TEXT NOT NULL CHECK (label IN ('relevant', 'not relevant')),
    decided_before TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    user TEXT NOT NULL,
    manager INTEGER NOT NULL DEFAULT 0,
    reported_at TEXT NOT NULL,
    withdrawn_at TEXT,
    UNIQUE (article_id, label, platform, workspace, user)
);
CREATE INDEX labelled_examples_user ON labelled_examples (platform, user, reported_at);

-- The "not relevant" reports made before: examples about their event's first article, by
-- members (whether they managed the channel was not recorded).
INSERT OR IGNORE INTO labelled_examples (article_id, label, decided_before, platform, workspace, channel, user,
                                         manager, reported_at)
SELECT (SELECT min(a.id) FROM articles a WHERE a.event_id = f.event_id), 'not relevant', 'alerted',
       f.platform, f.workspace, f.channel, f.user, 0, f.reported_at
FROM relevance_feedback f
WHERE EXISTS (SELECT 1 FROM articles a WHERE a.event_id = f.event_id);
