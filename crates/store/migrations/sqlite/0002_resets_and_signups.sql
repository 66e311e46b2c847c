-- Password resets and sign-up with a one-time code: new outbox kinds, the reset links, and
-- the sign-ups waiting for their code.

-- SQLite cannot alter a CHECK constraint, so the outbox table is rebuilt with the new kinds.
CREATE TABLE outbox_messages_new (
    id              TEXT    NOT NULL PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('invitation', 'sign_in', 'password_reset', 'signup_code', 'account_exists')),
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
    CHECK (kind <> 'invitation' OR invitation_id IS NOT NULL)
) STRICT;
INSERT INTO outbox_messages_new SELECT * FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_recipient ON outbox_messages (app_id, recipient, created_at);
CREATE INDEX outbox_messages_invitation ON outbox_messages (invitation_id);

-- A reset link: only the SHA-256 of its token, single use, short-lived.
CREATE TABLE password_resets (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    user_id    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX password_resets_user ON password_resets (app_id, user_id);

-- A sign-up waiting for its emailed code: the chosen password (hashed) and the code (hashed).
CREATE TABLE signups (
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    code_hash     TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (app_id, email)
) STRICT;
