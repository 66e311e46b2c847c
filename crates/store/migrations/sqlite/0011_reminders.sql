-- Reminders before an invitation expires (issue 18, usher_core::rules::reminders): an app's
-- lead in hours (NULL: off), and a new outbox kind `reminder`, which carries the same link
-- as its invitation email, is queued when the link is issued and falls due (its
-- `next_attempt_at`, and its `created_at`) that many hours before the link expires.
ALTER TABLE apps ADD COLUMN reminder_before_expiry_hours INTEGER CHECK (reminder_before_expiry_hours > 0);

-- SQLite cannot alter a CHECK constraint, so the outbox table is rebuilt with the new kind
-- (the columns in their current order, then every index again).
CREATE TABLE outbox_messages_new (
    id              TEXT    NOT NULL PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('invitation', 'sign_in', 'password_reset', 'signup_code', 'account_exists', 'reminder')),
    recipient       TEXT    NOT NULL,
    invitation_id   TEXT REFERENCES invitations (id),
    role            TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    inviter_name    TEXT    NOT NULL,
    -- The plaintext secret (invitation or reset token, sign-up code): the one place it rests, so that
    -- a crash after the request was answered loses no email. Set to NULL as soon as the
    -- message is sent, failed for good or cancelled.
    token           TEXT,
    expires_at      INTEGER,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    claimed_by      TEXT,
    CHECK (kind NOT IN ('invitation', 'reminder') OR invitation_id IS NOT NULL)
) STRICT;
INSERT INTO outbox_messages_new SELECT * FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_recipient ON outbox_messages (app_id, recipient, created_at);
CREATE INDEX outbox_messages_invitation ON outbox_messages (invitation_id);
CREATE INDEX outbox_messages_claimed_by ON outbox_messages (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX outbox_messages_app_invitations ON outbox_messages (app_id, created_at) WHERE kind = 'invitation';
