-- 0022: a send is done once, even across a kill.
-- Before each request to a chat platform the outbox row records which part is in flight
-- (its key, the one the platform sees: Slack message metadata, Discord nonce) and when the
-- attempt began, in a transaction of its own; the record of the accepted part clears it.
-- A row found with a key in flight (after a kill, a timeout or an unreadable answer) is
-- reconciled with the platform before that part is sent again.
ALTER TABLE outbox ADD COLUMN sending_key TEXT;
ALTER TABLE outbox ADD COLUMN sending_at TEXT;

-- The keys are `bs-<this database's token>-<outbox id>-<part>` (at most 25 characters, as a
-- Discord nonce allows): another database posting to the same channel (a second install,
-- a fresh start) never has a key of this one's.
INSERT OR IGNORE INTO bot_state (key, value) VALUES ('outbox_key_token', lower(hex(randomblob(3))));
