-- Idempotency-Key: a keyed request's claim and, once it is answered, its response, per app and
-- key, kept for 24 hours (rules::idempotency). `status` and `body` are NULL while the first
-- request runs; `locked_until` then says until when it is presumed to run.
CREATE TABLE idempotency_keys (
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    status       INTEGER,
    body         TEXT,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (app_id, key)
) STRICT;
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
