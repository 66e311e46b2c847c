-- pgbench's side of bench/postgres.sh: the two rows an invite must write (the invitation and
-- its queued email) in one transaction, into Usher's own tables. -D app=APP_ID names the app.
\set n random(1, 9000000000000000000)
BEGIN;
INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name,
                         expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at)
VALUES ('pgb:n', ':app', 'pgb:n@example.com', 'user', 'pending', 'api_key', 'pgbench', 'pgbench',
        0, 1, 0, 'pgb:n', 0, 0);
INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, token,
                             expires_at, status, next_attempt_at, created_at)
VALUES ('pgb:n', ':app', 'invitation', 'pgb:n@example.com', 'pgb:n', 'user', 'pgbench', 'token',
        0, 'cancelled', 0, 0);
COMMIT;
