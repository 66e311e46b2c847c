//! The audit log: one row per thing that changed, written in the transaction that changed it,
//! so the log never records what did not happen nor misses what did.

use rusqlite::{Transaction, params};
use usher_core::model::{AuditAction, AuditEvent};
use usher_core::store::AuditQuery;
use usher_core::{AppId, EmailAddress, InvitationId};

use crate::records::{self, actor_columns};
use usher_core::rules::NewAuditEvent;

/// Appends `event` to the log.
pub(super) fn record(tx: &Transaction<'_>, event: &NewAuditEvent<'_>) -> rusqlite::Result<()> {
    let (actor_kind, actor_id) = actor_columns(&event.actor);
    tx.prepare_cached(
        "INSERT INTO audit_events \
             (app_id, actor_kind, actor_id, action, subject_email, invitation_id, detail, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        event.app_id.as_str(),
        actor_kind,
        actor_id,
        event.action.as_str(),
        event.subject_email.map(EmailAddress::as_str),
        event.invitation_id.map(InvitationId::as_str),
        records::audit_detail(event),
        event.at.as_millis(),
    ])?;
    Ok(())
}

/// The app's audit log, newest first.
pub(super) fn list(tx: &Transaction<'_>, app_id: &AppId, query: &AuditQuery) -> rusqlite::Result<Vec<AuditEvent>> {
    let actor = query.actor.as_ref().map(actor_columns);
    tx.prepare_cached(
        "SELECT id, actor_kind, actor_id, action, subject_email, invitation_id, detail, created_at FROM audit_events \
         WHERE app_id = ?1 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR action = ?3) \
         AND (?4 IS NULL OR (actor_kind = ?4 AND actor_id = ?5)) AND (?6 IS NULL OR invitation_id = ?6) \
         ORDER BY id DESC LIMIT ?7",
    )?
    .query_map(
        params![
            app_id.as_str(),
            query.before,
            query.action.map(AuditAction::as_str),
            actor.map(|(kind, _)| kind),
            actor.map(|(_, id)| id),
            query.invitation_id.as_ref().map(InvitationId::as_str),
            query.limit
        ],
        |row| records::audit_event(row),
    )?
    .collect()
}
