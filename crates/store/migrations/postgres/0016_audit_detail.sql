-- What an audit entry says changed, as JSON text, for actions that say more than their subject
-- (issue 19/20): the setting names and new values of `app.settings_changed`, the kind and
-- locale of `template.saved` and `template.removed`. NULL for every other action.
ALTER TABLE audit_events ADD COLUMN detail TEXT;
