-- Sessions end when a password changes, and sign-up codes say when they were replaced.

-- Counts the member's password changes and resets. An access token carries the value it was
-- issued under and stops working once the value moves on: a counter, not a time, so a token
-- issued in the same second as the change is told apart from one issued after it.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0);

-- Keyed hashes of the codes that earlier registrations of this address were sent and that
-- the latest registration voided, space-separated, newest last (a few at most), so such a code
-- is refused as replaced rather than as wrong.
ALTER TABLE signups ADD COLUMN replaced_code_hashes TEXT NOT NULL DEFAULT '';

-- Codes of sign-ups waiting at upgrade time were hashed without the server's key and can no
-- longer be checked; those sign-ups start again with a new `register`.
DELETE FROM signups;
