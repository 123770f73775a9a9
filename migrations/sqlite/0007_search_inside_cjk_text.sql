-- 0007: search finds words inside Korean and Japanese text.
--
-- unicode61 alone makes a whole unspaced run one token, so 지소미아 was not found in
-- 지소미아를 and 輸出規制 not in 韓国への輸出規制強化. The index now stores each text
-- through search_text() (botsvc/searchtext.py: such runs as overlapping character
-- pairs), a function every botsvc connection registers. It is contentless: search
-- needs only rowids and ranks, and removing a row passes the same words again.
-- Writing articles from a connection without search_text() (the sqlite3 shell) fails
-- with "no such function: search_text" rather than leaving the index stale.

DROP TRIGGER articles_fts_insert;
DROP TRIGGER articles_fts_delete;
DROP TRIGGER articles_fts_update;
DROP TABLE articles_fts;

CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, summary, body,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO articles_fts (rowid, title, summary, body)
    SELECT id, search_text(title), search_text(summary), search_text(body) FROM articles;

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, summary, body)
    VALUES (new.id, search_text(new.title), search_text(new.summary), search_text(new.body));
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, search_text(old.title), search_text(old.summary), search_text(old.body));
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, search_text(old.title), search_text(old.summary), search_text(old.body));
    INSERT INTO articles_fts (rowid, title, summary, body)
    VALUES (new.id, search_text(new.title), search_text(new.summary), search_text(new.body));
END;
