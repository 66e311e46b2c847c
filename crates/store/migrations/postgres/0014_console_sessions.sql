-- The console's sessions of admins who signed in with a password. The cookie names a session
-- by its id (sealed); only the id's hash is kept here, so a copy of the database holds no
-- usable session. Signing out deletes the row, which ends every copy of the cookie at once;
-- so do the idle timeout (last_seen_at), the expiry, and a change of the admin: disabled,
-- removed, made a plain member, or a new password (session_epoch moved on).
-- Few rows (one per signed-in admin and browser, ended ones deleted): no index beyond the key.
CREATE TABLE console_sessions (
    id_hash       TEXT    NOT NULL PRIMARY KEY,
    app_id        TEXT    NOT NULL REFERENCES apps (id),
    user_id       TEXT    NOT NULL,
    session_epoch BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
