-- Signed webhooks (Standard Webhooks). An app's endpoints, and one delivery row per event and
-- endpoint, written in the transaction of the change the event announces and posted by the
-- webhook worker of any instance. The secret is kept in clear: signing needs it.
CREATE TABLE webhooks (
    id         TEXT NOT NULL PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    url        TEXT NOT NULL,
    -- The subscribed event types as ',a,b,' (a subscriber of one type is found by substring).
    events     TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_app ON webhooks (app_id);

CREATE TABLE webhook_deliveries (
    -- The webhook-id header: the same on every attempt, so receivers can drop duplicates.
    id               TEXT    NOT NULL PRIMARY KEY,
    webhook_id       TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    -- The body, {type, timestamp, data}: never a token, password, code or key.
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  BIGINT,
    -- A claim ends when the attempt is recorded or, if its instance died, at this time (well
    -- past the 10 s attempt timeout).
    lease_until      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (webhook_id, created_at);

-- When invitation.expired was written for the invitation's current expiry: a re-send moves
-- expires_at past it, so the new link can expire (and be announced) again; the conditional
-- update that sets it makes the announcement once, however many instances sweep.
ALTER TABLE invitations ADD COLUMN expired_event_at BIGINT;
CREATE INDEX invitations_pending_expiry ON invitations (expires_at) WHERE status = 'pending';
