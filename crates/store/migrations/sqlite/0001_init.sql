-- Usher's initial schema for SQLite.
--
-- Conventions: plural snake_case tables, ids are 24 lowercase hex characters (TEXT), every
-- timestamp is INTEGER milliseconds since the Unix epoch (UTC), booleans are INTEGER 0/1,
-- and JSON values are TEXT. STRICT tables make SQLite refuse values of the wrong type.
-- Never edit this file once released: add 0002_*.sql instead.

CREATE TABLE apps (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    app_url             TEXT    NOT NULL,
    invitation_ttl_secs INTEGER NOT NULL CHECK (invitation_ttl_secs >= 0),
    invite_policy       TEXT    NOT NULL CHECK (invite_policy IN ('admins', 'members')),
    is_signup_open      INTEGER NOT NULL CHECK (is_signup_open IN (0, 1)),
    sender_name         TEXT,
    sender_email        TEXT,
    cors_origins        TEXT    NOT NULL DEFAULT '[]', -- JSON array of origins
    created_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    name       TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the key; the key itself is never stored
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    email         TEXT    NOT NULL, -- normalised (trimmed, lowercase), so plain equality is case-insensitive
    full_name     TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    is_verified   INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    is_disabled   INTEGER NOT NULL DEFAULT 0 CHECK (is_disabled IN (0, 1)),
    password_hash TEXT, -- argon2id PHC string; NULL until the member sets a password
    custom        TEXT    NOT NULL DEFAULT '{}', -- JSON object of app-defined fields
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, email)
) STRICT;

CREATE TABLE invitations (
    id                TEXT    NOT NULL PRIMARY KEY,
    app_id            TEXT    NOT NULL REFERENCES apps (id),
    email             TEXT    NOT NULL,
    role              TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    inviter_kind      TEXT    NOT NULL CHECK (inviter_kind IN ('api_key', 'user')),
    inviter_id        TEXT    NOT NULL,
    inviter_name      TEXT    NOT NULL,
    expires_at        INTEGER NOT NULL,
    times_sent        INTEGER NOT NULL CHECK (times_sent >= 1),
    last_sent_at      INTEGER NOT NULL,
    -- No foreign key: the invitation and its message reference each other, and the
    -- invitation row is written first. Both are written in one transaction.
    latest_message_id TEXT,
    accepted_at       INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- At most one pending invitation per app and address (DESIGN.md, "Domain").
CREATE UNIQUE INDEX invitations_one_pending_per_email
    ON invitations (app_id, email) WHERE status = 'pending';

-- Every token an invitation ever had, so a replaced link can say "replaced", not "unknown".
CREATE TABLE invitation_tokens (
    token_hash    TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256 of the link secret
    invitation_id TEXT    NOT NULL REFERENCES invitations (id),
    created_at    INTEGER NOT NULL,
    replaced_at   INTEGER -- NULL while it is the invitation's current token
) STRICT;

CREATE INDEX invitation_tokens_current
    ON invitation_tokens (invitation_id) WHERE replaced_at IS NULL;

CREATE TABLE outbox_messages (
    id              TEXT    NOT NULL PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('invitation', 'sign_in')),
    recipient       TEXT    NOT NULL,
    invitation_id   TEXT REFERENCES invitations (id),
    role            TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    inviter_name    TEXT    NOT NULL,
    -- The plaintext invitation token: the one place a link secret rests, so that a crash
    -- after the invite was answered loses no email. Set to NULL as soon as the message is
    -- sent, failed for good or cancelled.
    token           TEXT,
    expires_at      INTEGER,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    CHECK (kind = 'sign_in' OR invitation_id IS NOT NULL)
) STRICT;

-- The delivery worker's claim: due queued messages and expired leases.
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
-- The resend throttle: the latest message to one address in one app.
CREATE INDEX outbox_messages_recipient ON outbox_messages (app_id, recipient, created_at);
-- Cancelling an invitation's older messages when it is re-sent.
CREATE INDEX outbox_messages_invitation ON outbox_messages (invitation_id);

CREATE TABLE audit_events (
    -- AUTOINCREMENT: ids are never reused, so the log's order is its id order.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    actor_kind    TEXT    NOT NULL CHECK (actor_kind IN ('api_key', 'user')),
    actor_id      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    subject_email TEXT,
    invitation_id TEXT,
    created_at    INTEGER NOT NULL
) STRICT;

-- Server-wide secrets generated once and shared by every instance (e.g. the JWT key).
CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
