//! Managing invitations: listing them with filters and a cursor, and revoking them.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgConnection;
use usher_core::model::{Actor, Invitation, InvitationStatus};
use usher_core::store::InvitationQuery;
use usher_core::{AppId, EmailAddress, InvitationId, Timestamp};

use super::audit;
use super::locks;
use super::outbox;
use super::rows::{self, INVITATION_COLUMNS, INVITATION_FROM, InvitationRow, bigint, parsed};
use crate::records::LIVE_PENDING;
use usher_core::rules::invite::{RevokePlan, revoke_if_pending};

/// The app's invitations matching `query`, oldest first.
pub(super) async fn list(
    conn: &mut PgConnection,
    app_id: &AppId,
    query: &InvitationQuery,
    now: Timestamp,
) -> sqlx_core::Result<Vec<Invitation>> {
    let (sql, params) = list_sql(app_id, query, now)?;
    let mut select = query_as::<_, InvitationRow>(&sql);
    for value in params {
        select = match value {
            Param::Int(n) => select.bind(n),
            Param::Text(s) => select.bind(s),
        };
    }
    let rows = select.fetch_all(conn).await?;
    Ok(rows.into_iter().map(|InvitationRow(invitation)| invitation).collect())
}

/// How PostgreSQL runs [`list`] for `query` (`EXPLAIN`, one line a row), with sequential scans,
/// bitmap scans and sorts discouraged: on a test's few rows it would otherwise pick them for
/// any query, and with them discouraged a plan still has them only where no index serves.
#[cfg(feature = "test-support")]
pub(super) async fn list_plan(
    conn: &mut PgConnection,
    app_id: &AppId,
    query: &InvitationQuery,
    now: Timestamp,
) -> sqlx_core::Result<Vec<String>> {
    let (sql, params) = list_sql(app_id, query, now)?;
    for setting in ["enable_seqscan", "enable_bitmapscan", "enable_sort"] {
        sqlx_core::query::query(&format!("SET LOCAL {setting} = off")).execute(&mut *conn).await?;
    }
    let explain = format!("EXPLAIN {sql}");
    let mut select = query_scalar::<_, String>(&explain);
    for value in params {
        select = match value {
            Param::Int(n) => select.bind(n),
            Param::Text(s) => select.bind(s),
        };
    }
    select.fetch_all(conn).await
}

/// The statement of [`list`] and its parameters.
fn list_sql<'a>(
    app_id: &'a AppId,
    query: &'a InvitationQuery,
    now: Timestamp,
) -> sqlx_core::Result<(String, Vec<Param<'a>>)> {
    // Only the filters in use become conditions, each with parameters of its own: PostgreSQL
    // infers a parameter's type from where it stands, and `$n IS NULL` would give it none.
    let mut params: Vec<Param<'_>> = Vec::new();
    let mut param = |value| {
        params.push(value);
        format!("${}", params.len())
    };
    let mut conditions = vec![format!("i.app_id = {}", param(Param::Text(app_id.as_str())))];
    // Expiry is computed, not stored: "pending" and "expired" split stored pending rows by time.
    match query.status {
        None => {}
        Some(InvitationStatus::Pending) => {
            conditions.push(format!("{LIVE_PENDING} AND i.expires_at > {}", param(Param::Int(now.as_millis()))));
        }
        Some(InvitationStatus::Expired) => {
            conditions.push(format!("i.status = 'pending' AND i.expires_at <= {}", param(Param::Int(now.as_millis()))));
        }
        Some(other) => conditions.push(format!("i.status = {}", param(Param::Text(other.as_str())))),
    }
    // The latest email's state as kept on the invitation (migration 0011), so that the
    // filter reads its own index in list order rather than joining every invitation's email.
    if let Some(state) = query.delivery {
        conditions.push(format!("i.delivery_state = {}", param(Param::Text(state.as_str()))));
    }
    if let Some(email) = &query.email {
        conditions.push(format!("i.email = {}", param(Param::Text(email.as_str()))));
    }
    match query.opened_by_person {
        None => {}
        Some(true) => conditions.push("i.opened_by_person_at IS NOT NULL".to_owned()),
        Some(false) => conditions.push("i.opened_by_person_at IS NULL".to_owned()),
    }
    if let Some((at, id)) = &query.after {
        let (at, id) = (param(Param::Int(at.as_millis())), param(Param::Text(id.as_str())));
        // A row comparison: PostgreSQL reads it as one range of the index from the cursor on.
        conditions.push(format!("(i.created_at, i.id) > ({at}, {id})"));
    }
    let limit = param(Param::Int(bigint(query.limit.into())?));
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE {} ORDER BY i.created_at, i.id LIMIT {limit}",
        conditions.join(" AND ")
    );
    Ok((sql, params))
}

/// A value for one of [`list`]'s numbered parameters.
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// Revokes the invitation if it is pending; returns it as it now is.
pub(super) async fn revoke(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &InvitationId,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<Option<Invitation>> {
    // The address's lock first, so a re-send or acceptance running now finishes before the
    // invitation's status is judged.
    let email: Option<String> = query_scalar("SELECT email FROM invitations WHERE id = $1 AND app_id = $2")
        .bind(id.as_str())
        .bind(app_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(email) = email else { return Ok(None) };
    locks::address(conn, app_id, &parsed("email", EmailAddress::parse(&email))?).await?;

    let Some(current) = rows::invitation_in_app(conn, app_id, id).await? else { return Ok(None) };
    let RevokePlan::Revoke { id, now, audit } = revoke_if_pending(&current, by, now) else {
        return Ok(Some(current));
    };
    query("UPDATE invitations SET status = 'revoked', updated_at = $2 WHERE id = $1 AND status = 'pending'")
        .bind(id.as_str())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    outbox::cancel_unsent(conn, id, now).await?;
    audit::record(conn, &audit).await?;
    rows::invitation_in_app(conn, app_id, id).await
}
