-- Opens of an invitation's join link, told apart into people and mail scanners
-- (usher_core::rules::opens). Counts only: the invitation's status and token never change.
ALTER TABLE invitations
    ADD COLUMN last_opened_at BIGINT,
    ADD COLUMN opened_by_person_at BIGINT,
    ADD COLUMN flagged_scanner_opens INTEGER NOT NULL DEFAULT 0 CHECK (flagged_scanner_opens >= 0),
    ADD COLUMN views_without_script INTEGER NOT NULL DEFAULT 0 CHECK (views_without_script >= 0);
