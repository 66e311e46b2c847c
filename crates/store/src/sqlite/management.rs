//! Managing invitations: listing them with filters and a cursor, and revoking them.

use rusqlite::types::Value;
use rusqlite::{Transaction, params, params_from_iter};
use usher_core::model::{Actor, Invitation, InvitationStatus};
use usher_core::store::InvitationQuery;
use usher_core::{AppId, InvitationId, Timestamp};

use super::audit;
use super::outbox;
use super::rows;
use crate::records::LIVE_PENDING;
use usher_core::rules::invite::{RevokePlan, revoke_if_pending};

/// The app's invitations matching `query`, oldest first.
///
/// Only the filters in use become conditions: SQLite plans a statement once, and a condition
/// such as `(?2 IS NULL OR i.status = ?2)` can use no index, so every filtered page would read
/// the app's invitations in order until it found enough. Each filter (and status with delivery
/// state) has an index ending in the list's order (migration 0011), read from the cursor on.
pub(super) fn list(
    tx: &Transaction<'_>,
    app_id: &AppId,
    query: &InvitationQuery,
    now: Timestamp,
) -> rusqlite::Result<Vec<Invitation>> {
    let (sql, params) = list_sql(app_id, query, now);
    tx.prepare_cached(&sql)?.query_map(params_from_iter(params), rows::invitation)?.collect()
}

/// How SQLite runs [`list`] for `query`: the `detail` of each step of `EXPLAIN QUERY PLAN`.
#[cfg(feature = "test-support")]
pub(super) fn list_plan(
    tx: &Transaction<'_>,
    app_id: &AppId,
    query: &InvitationQuery,
    now: Timestamp,
) -> rusqlite::Result<Vec<String>> {
    let (sql, params) = list_sql(app_id, query, now);
    tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?.query_map(params_from_iter(params), |row| row.get(3))?.collect()
}

/// The statement of [`list`] and its parameters.
fn list_sql(app_id: &AppId, query: &InvitationQuery, now: Timestamp) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = Vec::new();
    let mut param = |value: Value| {
        params.push(value);
        format!("?{}", params.len())
    };
    let mut conditions = vec![format!("i.app_id = {}", param(Value::Text(app_id.as_str().to_owned())))];
    // Expiry is computed, not stored: "pending" and "expired" split stored pending rows by time.
    match query.status {
        None => {}
        Some(InvitationStatus::Pending) => {
            conditions.push(format!("{LIVE_PENDING} AND i.expires_at > {}", param(Value::Integer(now.as_millis()))));
        }
        Some(InvitationStatus::Expired) => {
            conditions
                .push(format!("i.status = 'pending' AND i.expires_at <= {}", param(Value::Integer(now.as_millis()))));
        }
        Some(other) => conditions.push(format!("i.status = {}", param(Value::Text(other.as_str().to_owned())))),
    }
    // The latest email's state as kept on the invitation, rather than its email's row.
    if let Some(state) = query.delivery {
        conditions.push(format!("i.delivery_state = {}", param(Value::Text(state.as_str().to_owned()))));
    }
    if let Some(email) = &query.email {
        conditions.push(format!("i.email = {}", param(Value::Text(email.as_str().to_owned()))));
    }
    match query.opened_by_person {
        None => {}
        Some(true) => conditions.push("i.opened_by_person_at IS NOT NULL".to_owned()),
        Some(false) => conditions.push("i.opened_by_person_at IS NULL".to_owned()),
    }
    if let Some((at, id)) = &query.after {
        let at = param(Value::Integer(at.as_millis()));
        let id = param(Value::Text(id.as_str().to_owned()));
        // A row value: SQLite reads it as one range of the index from the cursor on.
        conditions.push(format!("(i.created_at, i.id) > ({at}, {id})"));
    }
    let limit = param(Value::Integer(query.limit.into()));
    let sql = format!(
        "{} WHERE {} ORDER BY i.created_at, i.id LIMIT {limit}",
        rows::INVITATION_SELECT,
        conditions.join(" AND ")
    );
    (sql, params)
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
