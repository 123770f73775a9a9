-- 0031: storing a report into an event costs the same however big the event is
-- (as migrations/sqlite/0031_placement_writes.sql): a new outlet's position is read from
-- this index in one step, however many outlets the event has. (The placement number is
-- already set before the row is written here: nothing else changes.)

CREATE INDEX event_outlets_order ON event_outlets (event_id, position);
