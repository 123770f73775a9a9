-- 0027: an event's outlets in a table of their own (as migrations/sqlite/0027_event_outlets.sql).
--
-- They were a JSON list in events.outlets, rewritten with every report an event received.
-- Now a report from an outlet the event has not had yet adds one row. ``position`` keeps
-- them in order of first report, as the list did.

CREATE TABLE event_outlets (
    event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    outlet TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (event_id, outlet)
);

INSERT INTO event_outlets (event_id, outlet, position)
    SELECT events.id, list.value #>> '{}', list.ordinality - 1
    FROM events,
        jsonb_array_elements(CASE WHEN jsonb_typeof(events.outlets::jsonb) = 'array'
                                  THEN events.outlets::jsonb ELSE '[]'::jsonb END)
            WITH ORDINALITY AS list(value, ordinality)
    WHERE jsonb_typeof(list.value) = 'string'
    ON CONFLICT DO NOTHING;

ALTER TABLE events DROP COLUMN outlets;
