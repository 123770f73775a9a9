-- 0030: feed polls handed to a job queue (botsvc worker on PostgreSQL).
--
-- The queue's own uniqueness ("queueing lock") cannot be combined with retries, so
-- whether a feed already has a poll waiting or running is kept here: the periodic
-- enqueuer claims a due feed by setting poll_queued_at (only where it is empty or
-- abandoned), the poll clears it when done. One claim, one job.

ALTER TABLE feeds ADD COLUMN poll_queued_at TEXT;
