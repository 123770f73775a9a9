-- 0011: retention of identity keys (botsvc/retention.py).
-- last_seen: when a feed body carrying the item was last judged (every writer sets it);
-- feed: the feed whose body that was. feeds.window_at: when that feed's current body was
-- judged, so the keys of a feed's current items are kept however long it answers
-- 304 Not Modified. Keys not seen for longer than [retention] allows are pruned.
ALTER TABLE seen_items ADD COLUMN last_seen TEXT;
ALTER TABLE seen_items ADD COLUMN feed TEXT;
UPDATE seen_items SET last_seen = first_seen;
CREATE INDEX seen_items_last_seen ON seen_items(last_seen);
ALTER TABLE feeds ADD COLUMN window_at TEXT;
