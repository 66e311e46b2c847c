-- The daily allowance (issue 19) counts an app's invitation emails of the last 24 hours; this
-- index lets it count only those, newest last, instead of every message the app ever sent.
-- Only invitation emails are in it, so other mail pays nothing for it.
CREATE INDEX outbox_messages_app_invitations ON outbox_messages (app_id, created_at) WHERE kind = 'invitation';
