-- 0004: full-text search over articles (FTS5, kept in sync by triggers) and feeds added
-- from chat at run time.

CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, summary, body,
    content = 'articles', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, old.title, old.summary, old.body);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, old.title, old.summary, old.body);
    INSERT INTO articles_fts (rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
END;

-- 'config': from feeds.toml (managed by editing the file); 'chat': added with `/news feed add`.
ALTER TABLE feeds ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';
ALTER TABLE feeds ADD COLUMN added_by TEXT;
