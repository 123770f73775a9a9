-- 0017: the seen keys of irrelevant items cost a fixed 20-odd bytes each, and a feed keeps
-- only the keys still in its body (botsvc/store/seenkeys.py, botsvc/store/retention.py).
-- seen_hashes: one row per key of an item judged irrelevant, under a 64-bit hash of the
-- key; last_seen in Unix seconds; sketch: for a GUID key, the word sketch of the item's
-- normalised title (to tell a reused GUID from an edited title).
-- feed_bodies: the key hashes of the body last judged for each tracked feed; a key of an
-- irrelevant item that leaves the body is forgotten when the next body is judged.
-- seen_items keeps only the keys of stored articles, as before.
CREATE TABLE seen_hashes (
    hash INTEGER PRIMARY KEY,
    last_seen INTEGER NOT NULL,
    sketch INTEGER
) WITHOUT ROWID;

CREATE TABLE feed_bodies (
    feed TEXT PRIMARY KEY,
    keys BLOB NOT NULL
);

-- Each feed's current body: the keys its last judged body touched (0011's window).
INSERT INTO feed_bodies (feed, keys)
    SELECT s.feed, body_keys(s.key) FROM seen_items s JOIN feeds f ON f.name = s.feed
    WHERE f.window_at IS NOT NULL AND s.last_seen >= f.window_at
    GROUP BY s.feed;

-- In hash order, so the table is written page after page.
INSERT OR IGNORE INTO seen_hashes (hash, last_seen, sketch)
    SELECT seen_key_hash(key),
           coalesce(CAST(strftime('%s', coalesce(last_seen, first_seen)) AS INTEGER),
                    CAST(strftime('%s', 'now') AS INTEGER)),
           CASE WHEN key LIKE 'guid:%' THEN title_sketch(title) END
    FROM seen_items WHERE article_id IS NULL
    ORDER BY 1;

DELETE FROM seen_items WHERE article_id IS NULL;
