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
