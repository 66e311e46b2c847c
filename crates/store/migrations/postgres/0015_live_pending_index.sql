-- The invitation list's `status=pending` filter: the pending invitations whose expiry has not
-- been announced yet (see `announce_expired`), in list order. Expiry is computed at read time,
-- so through `invitations_list_status` the first page of pending invitations read past every
-- expired one older than it (at a million invitations, tens of thousands of rows); this index
-- leaves out the expired ones once the expiry sweep (every few seconds) has marked them.
-- The list's condition repeats this WHERE word for word: the planners use a partial index only when
-- the query implies the index's predicate.
-- `status` is a column although constant here: with as many equal terms as
-- `invitations_list_status`, SQLite (which runs without ANALYZE) takes the partial index, which
-- it estimates smaller.
CREATE INDEX invitations_list_live_pending ON invitations (app_id, status, created_at, id)
WHERE status = 'pending' AND (expired_event_at IS NULL OR expired_event_at < expires_at);
