//! Password reset links: each transaction reads the situation, lets
//! `usher_core::rules::reset` decide, and writes what the plan says.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::MailKind;
use usher_core::password::PasswordHash;
use usher_core::rules::reset::{
    PasswordReset, ResetPlan, ResetRequestPlan, ResetRequestSituation, ResetSituation, StoredResetLink,
    issue_reset_link, reset_with_link,
};
use usher_core::secret::TokenHash;
use usher_core::store::{ResetOutcome, ResetRequest};
use usher_core::{AppId, Timestamp};

use super::audit;
use super::locks;
use super::outbox;
use super::rows;
use crate::records;

/// Stores a reset link and queues its email when the rules say so; otherwise writes nothing.
pub(super) async fn request(conn: &mut PgConnection, request: &ResetRequest) -> sqlx_core::Result<()> {
    // Two requests at once must not both pass the throttle.
    locks::address(conn, &request.app_id, &request.email).await?;
    let since = request.now.minus(request.resend_interval);
    let situation = ResetRequestSituation {
        member: rows::user_by_email(conn, &request.app_id, &request.email).await?,
        last_reset_email_at: outbox::latest_to(
            conn,
            &request.app_id,
            &request.email,
            &[MailKind::PasswordReset],
            since,
        )
        .await?,
    };
    match issue_reset_link(request, &situation) {
        ResetRequestPlan::Nothing => Ok(()),
        ResetRequestPlan::IssueLink { link, mail } => {
            query(
                "INSERT INTO password_resets (token_hash, app_id, user_id, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(link.token_hash.as_str())
            .bind(link.app_id.as_str())
            .bind(link.user_id.as_str())
            .bind(link.expires_at.as_millis())
            .bind(link.now.as_millis())
            .execute(&mut *conn)
            .await?;
            outbox::enqueue(conn, &mail).await
        }
    }
}

/// A [`StoredResetLink`] as `password_resets` holds it.
struct LinkRow(StoredResetLink);

impl FromRow<'_, PgRow> for LinkRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::reset_link(row).map(Self)
    }
}

/// The reset link of `app_id` with this hash.
async fn link(conn: &mut PgConnection, app_id: &AppId, hash: &TokenHash) -> sqlx_core::Result<Option<StoredResetLink>> {
    let row: Option<LinkRow> =
        query_as("SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1 AND app_id = $2")
            .bind(hash.as_str())
            .bind(app_id.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|LinkRow(link)| link))
}

/// Uses the link of `app_id` with this hash to set a new password, when the rules say so.
pub(super) async fn reset(
    conn: &mut PgConnection,
    app_id: &AppId,
    hash: &TokenHash,
    password: &PasswordHash,
    now: Timestamp,
) -> sqlx_core::Result<ResetOutcome> {
    // Using one link uses up all of the member's links, so resets of one member take turns on
    // the member's row; the link is read (again) once it is this transaction's turn.
    if let Some(found) = link(conn, app_id, hash).await? {
        query("SELECT 1 FROM users WHERE app_id = $1 AND id = $2 FOR UPDATE")
            .bind(app_id.as_str())
            .bind(found.user_id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    let link = link(conn, app_id, hash).await?;
    let member = match &link {
        Some(link) => rows::user_by_id(conn, app_id, &link.user_id).await?,
        None => None,
    };
    let situation = ResetSituation { link, member };
    let PasswordReset { app_id, user_id, password_hash, now, audit } =
        match reset_with_link(app_id, password, now, &situation) {
            ResetPlan::Refuse(state) => return Ok(ResetOutcome::Refused(state)),
            ResetPlan::SetPassword(reset) => reset,
        };
    query(
        "UPDATE users SET password_hash = $3, session_epoch = session_epoch + 1, is_verified = TRUE, \
             updated_at = $4 WHERE app_id = $1 AND id = $2",
    )
    .bind(app_id.as_str())
    .bind(user_id.as_str())
    .bind(password_hash.as_str())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    // Every outstanding link of this member is used up, not only this one.
    query("UPDATE password_resets SET used_at = $3 WHERE app_id = $1 AND user_id = $2 AND used_at IS NULL")
        .bind(app_id.as_str())
        .bind(user_id.as_str())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    audit::record(conn, &audit).await?;
    let user = rows::user_by_id(conn, app_id, user_id).await?.ok_or(sqlx_core::Error::RowNotFound)?;
    Ok(ResetOutcome::Done(user))
}
