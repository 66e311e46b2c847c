-- Reminders before an invitation expires (issue 18, usher_core::rules::reminders): an app's
-- lead in hours (NULL: off), and a new outbox kind `reminder`, which carries the same link
-- as its invitation email, is queued when the link is issued and falls due (its
-- `next_attempt_at`, and its `created_at`) that many hours before the link expires.
ALTER TABLE apps ADD COLUMN reminder_before_expiry_hours BIGINT CHECK (reminder_before_expiry_hours > 0);
ALTER TABLE outbox_messages
    DROP CONSTRAINT outbox_messages_kind_known,
    DROP CONSTRAINT outbox_messages_invitation_has_id,
    ADD CONSTRAINT outbox_messages_kind_known
        CHECK (kind IN ('invitation', 'sign_in', 'password_reset', 'signup_code', 'account_exists', 'reminder')),
    ADD CONSTRAINT outbox_messages_invitation_has_id
        CHECK (kind NOT IN ('invitation', 'reminder') OR invitation_id IS NOT NULL);
