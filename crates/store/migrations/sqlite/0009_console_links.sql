-- One-time console sign-in links (`usher console link`): let the operator into an app's
-- console before the app has an admin. Only the link's hash is kept; using it sets used_at,
-- so it works once, and not after expires_at.
CREATE TABLE console_links (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- The console shows the audit events of one invitation.
CREATE INDEX audit_events_invitation ON audit_events (invitation_id) WHERE invitation_id IS NOT NULL;

-- Every delivery attempt of an email, for the console's invitation page: the attempt's number
-- (the message's attempts count when it ended), when it ended, how (sent, retry, failed,
-- cancelled) and the mail server's reply for the ones that did not go out.
CREATE TABLE delivery_attempts (
    message_id    TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    app_id        TEXT    NOT NULL,
    invitation_id TEXT,
    at            INTEGER NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'cancelled')),
    reply         TEXT,
    PRIMARY KEY (message_id, attempt)
);
CREATE INDEX delivery_attempts_invitation ON delivery_attempts (invitation_id) WHERE invitation_id IS NOT NULL;
