-- The invitation list (the console's table and GET /api/apps/{app}/invitations) at any size:
-- every filter is one index range read in list order (created_at, id), so a page costs the
-- same at a million invitations as at ten, and a rare state (`failed`) does not scan them all.
--
-- delivery_state is the state of the invitation's latest email as the list shows it, kept by
-- the triggers below from outbox_messages.status: queued and sending read `queued`, sent
-- `sent`, failed and cancelled `failed` (as crate::records::delivery_status reads it). NULL only while
-- the latest message is not written yet (inside the transaction that writes both).
ALTER TABLE invitations ADD COLUMN delivery_state TEXT CHECK (delivery_state IN ('queued', 'sent', 'failed'));

UPDATE invitations SET delivery_state = (
    SELECT CASE m.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                         ELSE 'queued' END
    FROM outbox_messages m WHERE m.id = invitations.latest_message_id);

CREATE TRIGGER invitations_delivery_state_on_message_insert
AFTER INSERT ON outbox_messages
WHEN NEW.invitation_id IS NOT NULL
BEGIN
    UPDATE invitations SET delivery_state =
        CASE NEW.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                        ELSE 'queued' END
    WHERE id = NEW.invitation_id AND latest_message_id = NEW.id;
END;

CREATE TRIGGER invitations_delivery_state_on_message_status
AFTER UPDATE OF status ON outbox_messages
WHEN NEW.invitation_id IS NOT NULL AND NEW.status IS NOT OLD.status
BEGIN
    UPDATE invitations SET delivery_state =
        CASE NEW.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                        ELSE 'queued' END
    WHERE id = NEW.invitation_id AND latest_message_id = NEW.id;
END;

CREATE TRIGGER invitations_delivery_state_on_insert
AFTER INSERT ON invitations
BEGIN
    UPDATE invitations SET delivery_state = (
        SELECT CASE m.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                             ELSE 'queued' END
        FROM outbox_messages m WHERE m.id = NEW.latest_message_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER invitations_delivery_state_on_latest_message
AFTER UPDATE OF latest_message_id ON invitations
WHEN NEW.latest_message_id IS NOT OLD.latest_message_id
BEGIN
    UPDATE invitations SET delivery_state = (
        SELECT CASE m.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                             ELSE 'queued' END
        FROM outbox_messages m WHERE m.id = NEW.latest_message_id)
    WHERE id = NEW.id;
END;

-- One index per filter, each ending in the list's order; with no filter, the first. Status
-- and delivery state together have one of their own, so that a combination matching nothing
-- reads nothing (with either single index it would read every row of the other filter).
CREATE INDEX invitations_list ON invitations (app_id, created_at, id);
CREATE INDEX invitations_list_status ON invitations (app_id, status, created_at, id);
CREATE INDEX invitations_list_delivery ON invitations (app_id, delivery_state, created_at, id);
CREATE INDEX invitations_list_status_delivery ON invitations (app_id, status, delivery_state, created_at, id);
CREATE INDEX invitations_list_email ON invitations (app_id, email, created_at, id);
