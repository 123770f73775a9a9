-- 0019: search finds a Korean word however an outlet spaces it.
--
-- 수출규제 and 수출 규제 are the same word; outlets space Korean differently. The index
-- now pairs characters across the spaces between unspaced-script runs
-- (botsvc/store/searchtext.py), so the stored words of every article change: the
-- contentless index is emptied and filled again from the articles.

INSERT INTO articles_fts (articles_fts) VALUES ('delete-all');
INSERT INTO articles_fts (rowid, title, summary, body)
    SELECT id, search_text(title), search_text(summary), search_text(body) FROM articles;
