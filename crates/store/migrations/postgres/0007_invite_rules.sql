-- Per-app invite rules (issue 19): the email domains an app lets in or keeps out (JSON arrays
-- of `example.com` / `*.example.com` patterns), and a daily allowance of invitation emails
-- (NULL: none).
ALTER TABLE apps
    ADD COLUMN allowed_email_domains JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(allowed_email_domains) = 'array'),
    ADD COLUMN blocked_email_domains JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(blocked_email_domains) = 'array'),
    ADD COLUMN max_invites_per_day   BIGINT CHECK (max_invites_per_day > 0);
