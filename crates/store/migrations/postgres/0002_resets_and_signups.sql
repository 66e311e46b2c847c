-- Password resets and sign-up with a one-time code: new outbox kinds, the reset links, and
-- the sign-ups waiting for their code. Mirrors migrations/sqlite/0002_resets_and_signups.sql,
-- which has to rebuild the outbox table; PostgreSQL replaces the two constraints in place.

ALTER TABLE outbox_messages
    DROP CONSTRAINT outbox_messages_kind_known,
    DROP CONSTRAINT outbox_messages_invitation_has_id,
    ADD CONSTRAINT outbox_messages_kind_known
        CHECK (kind IN ('invitation', 'sign_in', 'password_reset', 'signup_code', 'account_exists')),
    ADD CONSTRAINT outbox_messages_invitation_has_id
        CHECK (kind <> 'invitation' OR invitation_id IS NOT NULL);

-- outbox_messages.token now also holds reset tokens and sign-up codes, under the same rule:
-- set to NULL as soon as the message is sent, failed for good or cancelled.

-- A reset link: only the SHA-256 of its token, single use, short-lived.
CREATE TABLE password_resets (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    app_id     TEXT   NOT NULL REFERENCES apps (id),
    user_id    TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (app_id, user_id);

-- A sign-up waiting for its emailed code: the chosen password (hashed) and the code (hashed).
CREATE TABLE signups (
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    code_hash     TEXT    NOT NULL,
    expires_at    BIGINT  NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (app_id, email)
);
