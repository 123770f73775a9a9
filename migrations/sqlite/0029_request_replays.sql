-- 0029: signed chat requests already admitted, shared by every web process on one database.
--
-- A correctly signed Slack request stays valid for five minutes, so a captured one could
-- be sent again. Each admitted request's signature is kept until then: a process behind
-- a load balancer refuses a request that another process (or itself) already admitted.
-- Expired rows are deleted as new ones come in.

CREATE TABLE request_replays (
    signature TEXT PRIMARY KEY,
    expires INTEGER NOT NULL  -- Unix seconds
) WITHOUT ROWID;
CREATE INDEX request_replays_expires ON request_replays (expires);
