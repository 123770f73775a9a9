-- 0026: search with since:/until: starts where the dates are in the index.
--
-- Search walks matching reports newest first (by article id). With until: far back, it
-- would first pass every newer match. Each event now keeps the lowest and highest id
-- of the reports ever filed under it, and two indexes give, for any date, the highest
-- report id of the events begun by then and the lowest of the events still reported
-- since; search starts and stops its walk there. The bounds only ever widen (a report
-- moved or deleted leaves them as they were), so they never exclude a report.

ALTER TABLE events ADD COLUMN low_article_id INTEGER;
ALTER TABLE events ADD COLUMN high_article_id INTEGER;

UPDATE events SET
    low_article_id = (SELECT min(id) FROM articles WHERE event_id = events.id),
    high_article_id = (SELECT max(id) FROM articles WHERE event_id = events.id);

CREATE TRIGGER events_article_bounds_insert AFTER INSERT ON articles WHEN new.event_id IS NOT NULL BEGIN
    UPDATE events SET low_article_id = min(coalesce(low_article_id, new.id), new.id),
        high_article_id = max(coalesce(high_article_id, new.id), new.id)
    WHERE id = new.event_id;
END;
CREATE TRIGGER events_article_bounds_update AFTER UPDATE OF event_id ON articles WHEN new.event_id IS NOT NULL BEGIN
    UPDATE events SET low_article_id = min(coalesce(low_article_id, new.id), new.id),
        high_article_id = max(coalesce(high_article_id, new.id), new.id)
    WHERE id = new.event_id;
END;

CREATE INDEX events_began ON events (coalesce(first_published, first_seen), high_article_id);
CREATE INDEX events_ended ON events (coalesce(last_published, last_seen), low_article_id);
