-- Email in several languages (issue 19): an app's default locale; the locale an invitation
-- was asked in (NULL: the app's default when sent), which its re-sends keep; the locale of
-- one queued email (NULL: its invitation's, else the app's); and an app's own templates per
-- kind of email and locale, checked before they are stored.
ALTER TABLE apps ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE invitations ADD COLUMN locale TEXT;
ALTER TABLE outbox_messages ADD COLUMN locale TEXT;
CREATE TABLE mail_templates (
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    kind       TEXT    NOT NULL,
    locale     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    html       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (app_id, kind, locale)
);
