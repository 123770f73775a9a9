-- 0028: several processes place reports into events on one database.
--
-- Each process keeps an in-memory index of the stored reports. Before it places a
-- report it reads what other processes stored or moved since its last look: every
-- article stored, or moved to another event (a merge, a rebuild), takes the next number
-- of placement_clock.seq and carries it in placed_seq, so a process that has seen
-- number N reads the rows above N (one indexed query; none when seq is still N).
-- Numbers are taken under the database's write lock, so they are handed out in the
-- order the writes commit: a reader never skips a lower number committed later.
-- A stored fingerprint made again (new concepts) bumps placement_clock.regrouped:
-- the index of every process is then read again in full.
-- Articles stored before this migration keep NULL: every process reads them at start-up.

CREATE TABLE placement_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    regrouped INTEGER NOT NULL
);
INSERT INTO placement_clock (id, seq, regrouped) VALUES (1, 0, 0);

ALTER TABLE articles ADD COLUMN placed_seq INTEGER;
CREATE INDEX articles_placed_seq ON articles (placed_seq) WHERE placed_seq IS NOT NULL;

CREATE TRIGGER articles_placed_insert AFTER INSERT ON articles BEGIN
    UPDATE placement_clock SET seq = seq + 1;
    UPDATE articles SET placed_seq = (SELECT seq FROM placement_clock) WHERE id = new.id;
END;
CREATE TRIGGER articles_placed_move AFTER UPDATE OF event_id ON articles
WHEN new.event_id IS NOT old.event_id BEGIN
    UPDATE placement_clock SET seq = seq + 1;
    UPDATE articles SET placed_seq = (SELECT seq FROM placement_clock) WHERE id = new.id;
END;
CREATE TRIGGER articles_placed_refingerprint AFTER UPDATE OF fingerprint ON articles
WHEN old.fingerprint IS NOT NULL AND new.fingerprint IS NOT old.fingerprint BEGIN
    UPDATE placement_clock SET regrouped = regrouped + 1;
END;
