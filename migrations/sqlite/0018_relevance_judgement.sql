-- 0018: which relevance judgement kept an article, for `explain` and `poll --json`.
-- JSON: {"judgement": "rules", "keywords": [...]} or {"judgement": "structure",
-- "actors": {state: [terms]}, "relations": [...]}. NULL for articles stored before.
ALTER TABLE articles ADD COLUMN relevance TEXT;
