-- 0029: signed chat requests already admitted, shared by every web process on one database
-- (as migrations/sqlite/0029_request_replays.sql).

CREATE TABLE request_replays (
    signature TEXT PRIMARY KEY,
    expires BIGINT NOT NULL  -- Unix seconds
);
CREATE INDEX request_replays_expires ON request_replays (expires);
