-- 0028: several processes place reports into events on one database
-- (as migrations/sqlite/0028_placement_clock.sql, which says how the clock is read).
--
-- Every article stored, or moved to another event, takes the next number of
-- placement_clock.seq into placed_seq. The UPDATE of the clock's one row locks it until
-- the writing transaction ends, so numbers are handed out in the order writes commit,
-- as SQLite's single writer does: a reader never skips a lower number committed later.

CREATE TABLE placement_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    regrouped BIGINT NOT NULL
);
INSERT INTO placement_clock (id, seq, regrouped) VALUES (1, 0, 0);

ALTER TABLE articles ADD COLUMN placed_seq BIGINT;
CREATE INDEX articles_placed_seq ON articles (placed_seq) WHERE placed_seq IS NOT NULL;

CREATE FUNCTION articles_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE placement_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO NEW.placed_seq;
    RETURN NEW;
END
$$;

CREATE FUNCTION articles_refingerprinted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE placement_clock SET regrouped = regrouped + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER articles_placed_insert BEFORE INSERT ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_placed();
CREATE TRIGGER articles_placed_move BEFORE UPDATE OF event_id ON articles
    FOR EACH ROW WHEN (NEW.event_id IS DISTINCT FROM OLD.event_id) EXECUTE FUNCTION articles_placed();
CREATE TRIGGER articles_placed_refingerprint AFTER UPDATE OF fingerprint ON articles
    FOR EACH ROW WHEN (OLD.fingerprint IS NOT NULL AND NEW.fingerprint IS DISTINCT FROM OLD.fingerprint)
    EXECUTE FUNCTION articles_refingerprinted();
