//! Password reset links: requested by address (members only, silently), used once.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{Actor, AuditAction, LinkState, MailKind};
use usher_core::password::PasswordHash;
use usher_core::secret::TokenHash;
use usher_core::store::{ResetRecord, ResetRequest};
use usher_core::{AppId, Timestamp, UserId};

use super::audit;
use super::locks;
use super::outbox;
use super::rows::{self, decode, timestamp};
use crate::records::Event;
use crate::records::NewMessage;

/// Stores a reset link and queues its email when the address is an enabled member that got no
/// reset email within the resend interval; otherwise writes nothing.
pub(super) async fn request(conn: &mut PgConnection, request: &ResetRequest) -> sqlx_core::Result<()> {
    // Two requests at once must not both pass the throttle.
    locks::address(conn, &request.app_id, &request.email).await?;
    let Some(user) = rows::user_by_email(conn, &request.app_id, &request.email).await? else { return Ok(()) };
    if user.is_disabled {
        return Ok(());
    }
    let since = request.now.minus(request.resend_interval);
    if outbox::latest_to(conn, &request.app_id, &request.email, &[MailKind::PasswordReset], since).await?.is_some() {
        return Ok(());
    }
    query(
        "INSERT INTO password_resets (token_hash, app_id, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request.token.hash().as_str())
    .bind(request.app_id.as_str())
    .bind(user.id.as_str())
    .bind(request.expires_at.as_millis())
    .bind(request.now.as_millis())
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(
        conn,
        &NewMessage {
            id: &request.message_id,
            app_id: &request.app_id,
            kind: MailKind::PasswordReset,
            recipient: &user.email,
            invitation_id: None,
            role: user.role,
            inviter_name: "",
            link: Some((request.token.expose(), request.expires_at)),
            now: request.now,
        },
    )
    .await
}

/// A stored reset link.
struct LinkRow {
    user_id: UserId,
    expires_at: Timestamp,
    is_used: bool,
}

impl FromRow<'_, PgRow> for LinkRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self {
            user_id: decode(row, "user_id", |s: String| UserId::parse(&s))?,
            expires_at: timestamp(row, "expires_at")?,
            is_used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
        })
    }
}

/// The reset link of `app_id` with this hash.
async fn link(conn: &mut PgConnection, app_id: &AppId, hash: &TokenHash) -> sqlx_core::Result<Option<LinkRow>> {
    query_as("SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1 AND app_id = $2")
        .bind(hash.as_str())
        .bind(app_id.as_str())
        .fetch_optional(conn)
        .await
}

/// Uses the link of `app_id` with this hash to set a new password, if it is unused and
/// unexpired.
pub(super) async fn reset(
    conn: &mut PgConnection,
    app_id: &AppId,
    hash: &TokenHash,
    password: &PasswordHash,
    now: Timestamp,
) -> sqlx_core::Result<ResetRecord> {
    let Some(found) = link(conn, app_id, hash).await? else { return Ok(ResetRecord::Refused(LinkState::Unknown)) };
    // Using one link uses up all of the member's links, so resets of one member take turns on
    // the member's row; the link is read again once it is this transaction's turn.
    query("SELECT 1 FROM users WHERE app_id = $1 AND id = $2 FOR UPDATE")
        .bind(app_id.as_str())
        .bind(found.user_id.as_str())
        .execute(&mut *conn)
        .await?;
    let user_id = match link(conn, app_id, hash).await? {
        None => return Ok(ResetRecord::Refused(LinkState::Unknown)),
        Some(LinkRow { is_used: true, .. }) => return Ok(ResetRecord::Refused(LinkState::Used)),
        Some(LinkRow { expires_at, .. }) if expires_at <= now => return Ok(ResetRecord::Refused(LinkState::Expired)),
        Some(LinkRow { user_id, .. }) => user_id,
    };
    let changed = query(
        "UPDATE users SET password_hash = $3, session_epoch = session_epoch + 1, is_verified = TRUE, \
             updated_at = $4 WHERE app_id = $1 AND id = $2",
    )
    .bind(app_id.as_str())
    .bind(user_id.as_str())
    .bind(password.as_str())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let user = if changed > 0 { rows::user_by_id(conn, app_id, &user_id).await? } else { None };
    let Some(user) = user else { return Ok(ResetRecord::Refused(LinkState::Unknown)) };
    // Every outstanding link of this member is used up, not only this one.
    query("UPDATE password_resets SET used_at = $3 WHERE app_id = $1 AND user_id = $2 AND used_at IS NULL")
        .bind(app_id.as_str())
        .bind(user_id.as_str())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        &Event {
            app_id,
            actor: &Actor::User(user_id.clone()),
            action: AuditAction::PasswordReset,
            subject_email: Some(&user.email),
            invitation_id: None,
            at: now,
        },
    )
    .await?;
    Ok(ResetRecord::Done(user))
}
