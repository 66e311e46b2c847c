-- Usher's initial schema for PostgreSQL: the same tables, columns and rules as
-- migrations/sqlite/0001_init.sql, so both backends behave alike.
--
-- Conventions: plural snake_case tables, ids are 24 lowercase hex characters (TEXT), every
-- timestamp is BIGINT milliseconds since the Unix epoch (UTC), booleans are BOOLEAN, and JSON
-- values are JSONB (read back as text, so the Rust side handles the same strings as on SQLite).
-- Constraints that a later migration may replace are named. Never edit this file once
-- released: add 0002_*.sql instead, with the same version and name in migrations/sqlite.

CREATE TABLE apps (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    app_url             TEXT    NOT NULL,
    invitation_ttl_secs BIGINT  NOT NULL CHECK (invitation_ttl_secs >= 0),
    invite_policy       TEXT    NOT NULL CHECK (invite_policy IN ('admins', 'members')),
    is_signup_open      BOOLEAN NOT NULL,
    sender_name         TEXT,
    sender_email        TEXT,
    cors_origins        JSONB   NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cors_origins) = 'array'),
    created_at          BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT   NOT NULL PRIMARY KEY,
    app_id     TEXT   NOT NULL REFERENCES apps (id),
    name       TEXT   NOT NULL,
    key_hash   TEXT   NOT NULL UNIQUE, -- hex SHA-256 of the key; the key itself is never stored
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    email         TEXT    NOT NULL, -- normalised (trimmed, lowercase), so plain equality is case-insensitive
    full_name     TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    is_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    is_disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT, -- argon2id PHC string; NULL until the member sets a password
    custom        JSONB   NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom) = 'object'), -- app-defined fields
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (app_id, email)
);

CREATE TABLE invitations (
    id                TEXT    NOT NULL PRIMARY KEY,
    app_id            TEXT    NOT NULL REFERENCES apps (id),
    email             TEXT    NOT NULL,
    role              TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    inviter_kind      TEXT    NOT NULL CHECK (inviter_kind IN ('api_key', 'user')),
    inviter_id        TEXT    NOT NULL,
    inviter_name      TEXT    NOT NULL,
    expires_at        BIGINT  NOT NULL,
    times_sent        INTEGER NOT NULL CHECK (times_sent >= 1),
    last_sent_at      BIGINT  NOT NULL,
    -- No foreign key: the invitation and its message reference each other, and the
    -- invitation row is written first. Both are written in one transaction.
    latest_message_id TEXT,
    accepted_at       BIGINT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);

-- At most one pending invitation per app and address (DESIGN.md, "Domain"). The store also
-- serialises invites of one address with an advisory lock; this index is the backstop.
CREATE UNIQUE INDEX invitations_one_pending_per_email
    ON invitations (app_id, email) WHERE status = 'pending';

-- Every token an invitation ever had, so a replaced link can say "replaced", not "unknown".
CREATE TABLE invitation_tokens (
    token_hash    TEXT   NOT NULL PRIMARY KEY, -- hex SHA-256 of the link secret
    invitation_id TEXT   NOT NULL REFERENCES invitations (id),
    created_at    BIGINT NOT NULL,
    replaced_at   BIGINT -- NULL while it is the invitation's current token
);

CREATE INDEX invitation_tokens_current
    ON invitation_tokens (invitation_id) WHERE replaced_at IS NULL;

CREATE TABLE outbox_messages (
    id              TEXT    NOT NULL PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    kind            TEXT    NOT NULL CONSTRAINT outbox_messages_kind_known CHECK (kind IN ('invitation', 'sign_in')),
    recipient       TEXT    NOT NULL,
    invitation_id   TEXT REFERENCES invitations (id),
    role            TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    inviter_name    TEXT    NOT NULL,
    -- The plaintext invitation token: the one place a link secret rests, so that a crash
    -- after the invite was answered loses no email. Set to NULL as soon as the message is
    -- sent, failed for good or cancelled.
    token           TEXT,
    expires_at      BIGINT,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    sent_at         BIGINT,
    created_at      BIGINT  NOT NULL,
    CONSTRAINT outbox_messages_invitation_has_id CHECK (kind = 'sign_in' OR invitation_id IS NOT NULL)
);

-- The delivery worker's claim: due queued messages and expired leases.
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
-- The resend throttle: the latest message to one address in one app.
CREATE INDEX outbox_messages_recipient ON outbox_messages (app_id, recipient, created_at);
-- Cancelling an invitation's older messages when it is re-sent.
CREATE INDEX outbox_messages_invitation ON outbox_messages (invitation_id);

CREATE TABLE audit_events (
    -- An identity is never reused, so the log's order is its id order (as AUTOINCREMENT on
    -- SQLite). Ids are taken when a row is written, not when it commits: concurrent
    -- transactions may commit out of id order.
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    actor_kind    TEXT    NOT NULL CHECK (actor_kind IN ('api_key', 'user')),
    actor_id      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    subject_email TEXT,
    invitation_id TEXT,
    created_at    BIGINT  NOT NULL
);

-- Server-wide secrets generated once and shared by every instance (e.g. the JWT key).
CREATE TABLE server_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
