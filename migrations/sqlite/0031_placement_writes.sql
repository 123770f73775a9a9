-- 0031: storing a report into an event costs the same however big the event is.
--
-- A new outlet's row takes the next position after the event's last one. Counting the
-- event's rows for it cost time in proportion to the outlets the event had (thousands
-- for a story every feed carries); with this index the event's last position is read
-- in one step, however many outlets it has.
--
-- An article stored by botsvc carries its placement number in the INSERT itself (the
-- clock's number + 1, read under the write lock), so the trigger only advances the clock
-- and no longer writes the whole new row a second time to fill placed_seq. An INSERT
-- without that number (or with any other) is numbered by the trigger as before.

CREATE INDEX event_outlets_order ON event_outlets (event_id, position);

DROP TRIGGER articles_placed_insert;
CREATE TRIGGER articles_placed_insert AFTER INSERT ON articles BEGIN
    UPDATE placement_clock SET seq = seq + 1;
    UPDATE articles SET placed_seq = (SELECT seq FROM placement_clock)
    WHERE id = new.id AND new.placed_seq IS NOT (SELECT seq FROM placement_clock);
END;
