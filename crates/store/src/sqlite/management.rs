//! Managing invitations: listing them with filters and a cursor, and revoking them.

use rusqlite::{Transaction, params};
use usher_core::model::{Actor, Invitation, InvitationStatus};
use usher_core::store::InvitationQuery;
use usher_core::{AppId, InvitationId, Timestamp};

use super::audit;
use super::outbox;
use super::rows;
use crate::records::outbox_statuses;
use usher_core::rules::invite::{RevokePlan, revoke_if_pending};

/// The app's invitations matching `query`, oldest first.
pub(super) fn list(
    tx: &Transaction<'_>,
    app_id: &AppId,
    query: &InvitationQuery,
    now: Timestamp,
) -> rusqlite::Result<Vec<Invitation>> {
    // Expiry is computed, not stored: "pending" and "expired" split stored pending rows by time.
    let (status, expiry) = match query.status {
        None => (None, ""),
        Some(InvitationStatus::Pending) => (Some("pending"), " AND i.expires_at > ?3"),
        Some(InvitationStatus::Expired) => (Some("pending"), " AND i.expires_at <= ?3"),
        Some(other) => (Some(other.as_str()), ""),
    };
    let delivery =
        query.delivery.map_or(String::new(), |state| format!(" AND m.status IN ({})", outbox_statuses(state)));
    let sql = format!(
        "{} WHERE i.app_id = ?1 AND (?2 IS NULL OR i.status = ?2){expiry}{delivery} AND (?4 IS NULL OR i.email = ?4) \
         AND (?5 IS NULL OR i.created_at > ?5 OR (i.created_at = ?5 AND i.id > ?6)) \
         AND (?8 IS NULL OR (i.opened_by_person_at IS NOT NULL) = ?8) \
         ORDER BY i.created_at, i.id LIMIT ?7",
        rows::INVITATION_SELECT
    );
    let (after_at, after_id) =
        query.after.as_ref().map_or((None, None), |(at, id)| (Some(at.as_millis()), Some(id.as_str())));
    tx.prepare_cached(&sql)?
        .query_map(
            params![
                app_id.as_str(),
                status,
                now.as_millis(),
                query.email.as_ref().map(|e| e.as_str()),
                after_at,
                after_id,
                query.limit,
                query.opened_by_person,
            ],
            rows::invitation,
        )?
        .collect()
}

/// Revokes the invitation if it is pending; returns it as it now is.
pub(super) fn revoke(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &InvitationId,
    by: &Actor,
    now: Timestamp,
) -> rusqlite::Result<Option<Invitation>> {
    let Some(current) = rows::invitation_in_app(tx, app_id, id)? else { return Ok(None) };
    let RevokePlan::Revoke { id, now, audit } = revoke_if_pending(&current, by, now) else {
        return Ok(Some(current));
    };
    tx.prepare_cached(
        "UPDATE invitations SET status = 'revoked', updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
    )?
    .execute(params![id.as_str(), now.as_millis()])?;
    outbox::cancel_unsent(tx, id, now)?;
    audit::record(tx, &audit)?;
    rows::invitation_in_app(tx, app_id, id)
}
