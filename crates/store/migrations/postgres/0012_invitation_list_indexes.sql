-- The invitation list (the console's table and GET /api/apps/{app}/invitations) at any size:
-- every filter is one index range read in list order (created_at, id), so a page costs the
-- same at a million invitations as at ten, and a rare state (`failed`) does not scan them all.
--
-- delivery_state is the state of the invitation's latest email as the list shows it, kept by
-- the triggers below from outbox_messages.status: queued and sending read `queued`, sent
-- `sent`, failed and cancelled `failed` (as crate::records::delivery_status reads it). NULL only while
-- the latest message is not written yet (inside the transaction that writes both).
ALTER TABLE invitations ADD COLUMN delivery_state TEXT CHECK (delivery_state IN ('queued', 'sent', 'failed'));

CREATE FUNCTION usher_delivery_state(message_status TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE message_status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'failed'
                               WHEN 'queued' THEN 'queued' WHEN 'sending' THEN 'queued' END
$$;

UPDATE invitations i SET delivery_state = usher_delivery_state(m.status)
FROM outbox_messages m WHERE m.id = i.latest_message_id;

-- A message written or whose status changed: its invitation, if it is the latest message.
CREATE FUNCTION usher_invitation_delivery_of_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE invitations SET delivery_state = usher_delivery_state(NEW.status)
    WHERE id = NEW.invitation_id AND latest_message_id = NEW.id
      AND delivery_state IS DISTINCT FROM usher_delivery_state(NEW.status);
    RETURN NULL;
END
$$;

CREATE TRIGGER invitations_delivery_state_on_message_insert
AFTER INSERT ON outbox_messages
FOR EACH ROW WHEN (NEW.invitation_id IS NOT NULL)
EXECUTE FUNCTION usher_invitation_delivery_of_message();

CREATE TRIGGER invitations_delivery_state_on_message_status
AFTER UPDATE OF status ON outbox_messages
FOR EACH ROW WHEN (NEW.invitation_id IS NOT NULL AND NEW.status IS DISTINCT FROM OLD.status)
EXECUTE FUNCTION usher_invitation_delivery_of_message();

-- An invitation written or pointed at another message: the state of that message.
CREATE FUNCTION usher_invitation_delivery_of_latest() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.delivery_state := (SELECT usher_delivery_state(m.status) FROM outbox_messages m WHERE m.id = NEW.latest_message_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER invitations_delivery_state_on_insert
BEFORE INSERT ON invitations
FOR EACH ROW EXECUTE FUNCTION usher_invitation_delivery_of_latest();

CREATE TRIGGER invitations_delivery_state_on_latest_message
BEFORE UPDATE OF latest_message_id ON invitations
FOR EACH ROW WHEN (NEW.latest_message_id IS DISTINCT FROM OLD.latest_message_id)
EXECUTE FUNCTION usher_invitation_delivery_of_latest();

-- One index per filter, each ending in the list's order; with no filter, the first. Status
-- and delivery state together have one of their own, so that a combination matching nothing
-- reads nothing (with either single index it would read every row of the other filter).
CREATE INDEX invitations_list ON invitations (app_id, created_at, id);
CREATE INDEX invitations_list_status ON invitations (app_id, status, created_at, id);
CREATE INDEX invitations_list_delivery ON invitations (app_id, delivery_state, created_at, id);
CREATE INDEX invitations_list_status_delivery ON invitations (app_id, status, delivery_state, created_at, id);
CREATE INDEX invitations_list_email ON invitations (app_id, email, created_at, id);
