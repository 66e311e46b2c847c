//! The audit log: one row per thing that changed, written in the transaction that changed it,
//! so the log never records what did not happen nor misses what did.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgConnection;
use usher_core::model::{AuditAction, AuditEvent};
use usher_core::store::AuditQuery;
use usher_core::{AppId, EmailAddress, InvitationId};

use super::rows::{AuditRow, bigint};
use crate::records::{actor_columns, audit_detail};
use usher_core::rules::NewAuditEvent;

/// Appends `event` to the log.
pub(super) async fn record(conn: &mut PgConnection, event: &NewAuditEvent<'_>) -> sqlx_core::Result<()> {
    let (actor_kind, actor_id) = actor_columns(&event.actor);
    query(
        "INSERT INTO audit_events \
             (app_id, actor_kind, actor_id, action, subject_email, invitation_id, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(event.app_id.as_str())
    .bind(actor_kind)
    .bind(actor_id)
    .bind(event.action.as_str())
    .bind(event.subject_email.map(EmailAddress::as_str))
    .bind(event.invitation_id.map(InvitationId::as_str))
    .bind(audit_detail(event))
    .bind(event.at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// The entries of the app's audit log that `query` asks for, newest first.
pub(super) async fn list(
    conn: &mut PgConnection,
    app_id: &AppId,
    query: &AuditQuery,
) -> sqlx_core::Result<Vec<AuditEvent>> {
    let actor = query.actor.as_ref().map(actor_columns);
    // The casts give each parameter a type where `$n IS NULL` alone would give it none.
    let rows: Vec<AuditRow> = query_as(
        "SELECT id, actor_kind, actor_id, action, subject_email, invitation_id, detail, created_at FROM audit_events \
         WHERE app_id = $1 AND id < COALESCE($2, 9223372036854775807) \
         AND ($3::text IS NULL OR action = $3::text) \
         AND ($4::text IS NULL OR (actor_kind = $4::text AND actor_id = $5::text)) \
         AND ($6::text IS NULL OR invitation_id = $6::text) ORDER BY id DESC LIMIT $7",
    )
    .bind(app_id.as_str())
    .bind(query.before)
    .bind(query.action.map(AuditAction::as_str))
    .bind(actor.map(|(kind, _)| kind))
    .bind(actor.map(|(_, id)| id))
    .bind(query.invitation_id.as_ref().map(InvitationId::as_str))
    .bind(bigint(query.limit.into())?)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|AuditRow(event)| event).collect())
}
