-- 0010: limits on alerts, so one feed cannot flood channels.
-- An event can be held back from alerting: 'backfill' (an old item found on its feed's
-- first poll) or 'capped' (beyond a feed's alerts per poll). It is stored, searchable
-- and joined like any other; it is only never posted as a new alert.
ALTER TABLE events ADD COLUMN held_back TEXT;

-- A delivery row may record an event a channel was told only as part of a count
-- ("and 412 more from …"): such an event never comes back as an update line.
ALTER TABLE deliveries ADD COLUMN summarised INTEGER NOT NULL DEFAULT 0;

-- How many never-seen items a feed usually brings per poll (a running average over its
-- polls after the first), and its last surge: a poll with far more than usual.
CREATE TABLE feed_volume (
    feed TEXT PRIMARY KEY REFERENCES feeds(name) ON DELETE CASCADE,
    polls INTEGER NOT NULL DEFAULT 0,
    average REAL NOT NULL DEFAULT 0,
    surge_at TEXT,
    surge_items INTEGER,
    surge_usual REAL
);
