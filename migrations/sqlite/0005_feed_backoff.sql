-- 0005: per-feed backoff. After consecutive failures a feed is not polled again before
-- retry_at (exponential with jitter, capped); a success clears it.
ALTER TABLE feeds ADD COLUMN retry_at TEXT;
