-- 0006: the normalised title an item had when its GUID was first seen, so a GUID that a
-- publisher reuses for a different story is recognised as new content, not a repeat.
ALTER TABLE seen_items ADD COLUMN title TEXT;
