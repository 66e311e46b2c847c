-- Claims that end with their owner: every running server instance is registered here and
-- renews its heartbeat every few seconds; an outbox message being sent names the instance that
-- claimed it. When an instance is gone (its heartbeat stopped, or on SQLite its file lock was
-- released), its claims are released and the messages sent by another instance.
CREATE TABLE instances (
    id           TEXT    NOT NULL PRIMARY KEY,
    -- Start of the instance's current run of heartbeats without a gap: only an instance that
    -- has reached the database for a whole window may judge another one's silence.
    alive_since  BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- The instance sending a `sending` message. NULL on messages claimed by a build from before
-- this migration, which still end when their `lease_until` runs out.
ALTER TABLE outbox_messages ADD COLUMN claimed_by TEXT;
CREATE INDEX outbox_messages_claimed_by ON outbox_messages (claimed_by) WHERE claimed_by IS NOT NULL;
