-- 0013: a subscription's message template: which parts of an alert it shows and an
-- optional header of its own, as JSON ({"fields": [...], "header": "..."}); NULL is the
-- default digest.
ALTER TABLE subscriptions ADD COLUMN template TEXT;
