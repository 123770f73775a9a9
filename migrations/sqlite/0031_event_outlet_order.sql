-- 0031: a report from a new outlet no longer counts the outlets an event already has.
--
-- A new outlet's row takes the next position after the event's last one. Counting the
-- event's rows for it cost time in proportion to the outlets the event had (thousands
-- for a story every feed carries); with this index the event's last position is read
-- in one step, however many outlets it has.

CREATE INDEX event_outlets_order ON event_outlets (event_id, position);
