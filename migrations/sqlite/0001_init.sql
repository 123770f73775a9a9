-- 0001: initial schema: feeds with fetch state, events, articles, seen-item keys.
-- Timestamps are ISO 8601 strings in UTC ("2019-08-22T09:30:00+00:00").

CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_polled_at TEXT,
    last_success_at TEXT,
    last_error TEXT,
    last_error_at TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    items_seen INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    topic TEXT,
    seeded INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    first_published TEXT,
    last_published TEXT,
    member_count INTEGER NOT NULL DEFAULT 0,
    outlets TEXT NOT NULL DEFAULT '[]'  -- JSON list of outlet names, in order of first report
);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    guid TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    published TEXT,
    source TEXT NOT NULL,
    language TEXT,
    topics TEXT NOT NULL DEFAULT '[]',           -- JSON list of topic names
    matched_keywords TEXT NOT NULL DEFAULT '[]', -- JSON list
    event_id INTEGER REFERENCES events(id),
    similarity REAL,
    first_seen TEXT NOT NULL
);
CREATE INDEX articles_event_id ON articles(event_id);
CREATE INDEX articles_url ON articles(url);
CREATE INDEX articles_feed_guid ON articles(feed, guid);

-- Every item ever judged, relevant or not, under each of its identity keys
-- ("guid:<feed>\x1f<guid>", "url:<canonical url>", "title:<outlet>\x1f<normalised title>"),
-- so repeats are recognised across restarts without storing irrelevant items.
CREATE TABLE seen_items (
    key TEXT PRIMARY KEY,
    decision TEXT NOT NULL,
    article_id INTEGER REFERENCES articles(id),
    first_seen TEXT NOT NULL
) WITHOUT ROWID;
