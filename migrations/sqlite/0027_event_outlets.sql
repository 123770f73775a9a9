-- 0027: an event's outlets in a table of their own.
--
-- They were a JSON list in events.outlets, read, decoded, extended and written back with
-- every report an event received. Now a report from an outlet the event has not had yet
-- adds one row, and a report from a known outlet adds nothing. ``position`` keeps them in
-- order of first report, as the list did.

CREATE TABLE event_outlets (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    outlet TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (event_id, outlet)
) WITHOUT ROWID;

INSERT OR IGNORE INTO event_outlets (event_id, outlet, position)
    SELECT events.id, list.value, list.key
    FROM events, json_each(events.outlets) AS list
    WHERE json_valid(events.outlets) AND json_type(events.outlets) = 'array' AND list.type = 'text';

ALTER TABLE events DROP COLUMN outlets;
