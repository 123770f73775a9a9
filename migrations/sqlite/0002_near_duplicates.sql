-- 0002: what near-duplicate detection needs per article, so the similarity index can be
-- rebuilt at start-up without re-tokenising, and every decision can be explained later.

-- botsvc.similarity.Fingerprint.to_bytes(): hashed tokens with where they occur.
ALTER TABLE articles ADD COLUMN fingerprint BLOB;
-- The time used for event windows: the publication date, else the date inferred from the
-- item's dated neighbours in its feed, else when it was first seen.
ALTER TABLE articles ADD COLUMN event_time TEXT;
-- The most similar member of the event it joined (NULL when it opened its event).
ALTER TABLE articles ADD COLUMN duplicate_of INTEGER REFERENCES articles(id);
-- Why it joined or opened its event, in words.
ALTER TABLE articles ADD COLUMN placement TEXT NOT NULL DEFAULT '';
-- JSON [[article_id, similarity], ...]: the nearest archive items when it was judged.
ALTER TABLE articles ADD COLUMN neighbours TEXT NOT NULL DEFAULT '[]';

UPDATE articles SET event_time = COALESCE(published, first_seen);
CREATE INDEX articles_guid ON articles(guid);
