-- 0031: a report from a new outlet no longer counts the outlets an event already has
-- (as migrations/sqlite/0031_event_outlet_order.sql): the event's last position is read
-- from this index in one step, however many outlets it has.

CREATE INDEX event_outlets_order ON event_outlets (event_id, position);
