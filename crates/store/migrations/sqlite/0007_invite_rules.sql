-- Per-app invite rules (issue 19): the email domains an app lets in or keeps out (JSON arrays
-- of `example.com` / `*.example.com` patterns), and a daily allowance of invitation emails
-- (NULL: none).
ALTER TABLE apps ADD COLUMN allowed_email_domains TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN blocked_email_domains TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN max_invites_per_day INTEGER CHECK (max_invites_per_day > 0);
