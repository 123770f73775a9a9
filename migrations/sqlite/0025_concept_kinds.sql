-- 0025: first reports in different languages meet on what happened and where.
-- The concept lexicon (botsvc/data/concepts.toml) gains the kinds of happening between
-- the states (agreement, memorandum, memorial, port call ...), the region's places and
-- the two states' compound spellings (한일, 日韓 ...). Stored fingerprints hold the old
-- concepts, so they are cleared here and recomputed from each article's text at the next
-- start-up. Existing events keep their members: `botsvc rebuild-events` re-groups them.
UPDATE articles SET fingerprint = NULL;
