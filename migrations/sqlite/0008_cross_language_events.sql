-- 0008: events that hold across languages and do not creep.
-- Fingerprints gain concept tokens (botsvc/data/concepts.toml) and mark cross-language
-- tokens; the stored ones are of the old format, so they are cleared here and
-- recomputed from each article's text at the next start-up. Existing events keep
-- their members: `botsvc rebuild-events` re-groups them with the new rules.
UPDATE articles SET fingerprint = NULL;

-- Small settings the bot keeps about itself, e.g. which [dedup] settings the stored
-- events were grouped with (so `rebuild-events` knows whether anything changed).
CREATE TABLE IF NOT EXISTS bot_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Who the entry itself names as its origin (RSS <source>, or its author): in an
-- aggregator feed, two reports are by the same newsroom only when these agree.
ALTER TABLE articles ADD COLUMN byline TEXT NOT NULL DEFAULT '';

-- An existing archive was grouped by the rules before this migration.
INSERT INTO bot_state (key, value)
SELECT 'events_grouped_with', 'before 0008' WHERE EXISTS (SELECT 1 FROM articles);
