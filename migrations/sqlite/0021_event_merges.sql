-- 0021: events that hold in any arrival order.
-- A report that joins two open events of one story merges them: the younger event's
-- reports, alerts, mutes and "not relevant" reports move to the older one, and its row
-- stays with merged_into set, so its id still answers (timeline, explain) and is never
-- reused for another story.
ALTER TABLE events ADD COLUMN merged_into INTEGER;

-- Each merge: which event was absorbed into which, by which report, when.
CREATE TABLE event_merges (
    absorbed INTEGER PRIMARY KEY,
    survivor INTEGER NOT NULL,
    article_id INTEGER,
    absorbed_title TEXT NOT NULL DEFAULT '',
    merged_at TEXT NOT NULL
);
CREATE INDEX event_merges_survivor ON event_merges (survivor);

-- Near-verbatim copies of archived reports (title and lead), e.g. an old story re-dated
-- by a feed: never stored as a new report, remembered here so `explain` can say why.
CREATE TABLE republished_copies (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    guid TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    original_id INTEGER NOT NULL,
    similarity REAL NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE INDEX republished_copies_url ON republished_copies (url);
CREATE INDEX republished_copies_guid ON republished_copies (guid);
