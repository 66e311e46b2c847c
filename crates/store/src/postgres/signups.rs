//! Sign-up with a one-time code: the code is emailed, and the right code creates the member.
//!
//! Both transactions take the address's lock first (see `locks`): the code throttle, the
//! attempt counter and "is there a member or a pending invitation?" are decisions on what
//! they read.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{Actor, AuditAction, MailKind, User};
use usher_core::store::{
    SignupCommand, SignupRecord, VerifyCommand, VerifyRecord, is_replaced_code, replaced_codes_with,
};
use usher_core::{AppId, EmailAddress, InvitationId, Role};

use super::audit;
use super::locks;
use super::outbox;
use super::rows::{self, count, decode, role, timestamp};
use crate::records::Event;
use crate::records::NewMessage;

/// A pending invitation's id and role.
struct PendingRow(InvitationId, Role);

impl FromRow<'_, PgRow> for PendingRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self(decode(row, "id", |s: String| InvitationId::parse(&s))?, role(row, "role")?))
    }
}

/// The pending invitation of this address, with its role.
async fn pending_invitation(
    conn: &mut PgConnection,
    app_id: &AppId,
    email: &EmailAddress,
) -> sqlx_core::Result<Option<(InvitationId, Role)>> {
    let row: Option<PendingRow> =
        query_as("SELECT id, role FROM invitations WHERE app_id = $1 AND email = $2 AND status = 'pending'")
            .bind(app_id.as_str())
            .bind(email.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|PendingRow(id, role)| (id, role)))
}

/// True when an email of `kind` went to the address within the resend interval.
async fn recently_mailed(conn: &mut PgConnection, cmd: &SignupCommand, kind: MailKind) -> sqlx_core::Result<bool> {
    let since = cmd.now.minus(cmd.resend_interval);
    Ok(outbox::latest_to(conn, &cmd.app_id, &cmd.email, &[kind], since).await?.is_some())
}

async fn enqueue(conn: &mut PgConnection, cmd: &SignupCommand, kind: MailKind, role: Role) -> sqlx_core::Result<()> {
    let link = (kind == MailKind::SignupCode).then(|| (cmd.code.expose(), cmd.expires_at));
    outbox::enqueue(
        conn,
        &NewMessage {
            id: &cmd.message_id,
            app_id: &cmd.app_id,
            kind,
            recipient: &cmd.email,
            invitation_id: None,
            role,
            inviter_name: "",
            link,
            now: cmd.now,
        },
    )
    .await
}

/// Starts a sign-up (replacing any earlier one of the address), or re-sends its code.
pub(super) async fn send_code(conn: &mut PgConnection, cmd: &SignupCommand) -> sqlx_core::Result<SignupRecord> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    let invitation = pending_invitation(conn, &cmd.app_id, &cmd.email).await?;
    if cmd.is_invitation_only && invitation.is_none() {
        return Ok(SignupRecord::NotInvited);
    }
    if let Some(user) = rows::user_by_email(conn, &cmd.app_id, &cmd.email).await? {
        if !recently_mailed(conn, cmd, MailKind::AccountExists).await? {
            enqueue(conn, cmd, MailKind::AccountExists, user.role).await?;
        }
        return Ok(SignupRecord::AlreadyMember);
    }
    // A re-send without a new registration is paced by the resend interval; a new
    // registration always replaces the earlier one (its allowance is counted by the service).
    if cmd.password_hash.is_none() && recently_mailed(conn, cmd, MailKind::SignupCode).await? {
        return Ok(SignupRecord::CodeSent);
    }
    let earlier: Option<(String, String)> =
        query_as("SELECT code_hash, replaced_code_hashes FROM signups WHERE app_id = $1 AND email = $2")
            .bind(cmd.app_id.as_str())
            .bind(cmd.email.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let replaced = earlier.as_ref().map(|(code, list)| replaced_codes_with(list, code)).unwrap_or_default();
    let changed = match (&cmd.password_hash, &earlier) {
        (Some(password), _) => query(
            "INSERT INTO signups (app_id, email, password_hash, code_hash, expires_at, attempts, created_at, \
                                  replaced_code_hashes) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7) \
             ON CONFLICT (app_id, email) DO UPDATE SET password_hash = excluded.password_hash, \
                 code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, \
                 created_at = excluded.created_at, replaced_code_hashes = excluded.replaced_code_hashes",
        )
        .bind(cmd.app_id.as_str())
        .bind(cmd.email.as_str())
        .bind(password.as_str())
        .bind(cmd.code_hash.as_str())
        .bind(cmd.expires_at.as_millis())
        .bind(cmd.now.as_millis())
        .bind(&replaced)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        (None, Some(_)) => query(
            "UPDATE signups SET code_hash = $3, expires_at = $4, attempts = 0, replaced_code_hashes = $5 \
             WHERE app_id = $1 AND email = $2",
        )
        .bind(cmd.app_id.as_str())
        .bind(cmd.email.as_str())
        .bind(cmd.code_hash.as_str())
        .bind(cmd.expires_at.as_millis())
        .bind(&replaced)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        (None, None) => 0,
    };
    if changed > 0 {
        enqueue(conn, cmd, MailKind::SignupCode, invitation.map_or(Role::User, |(_, role)| role)).await?;
    }
    Ok(SignupRecord::CodeSent)
}

/// A sign-up waiting for its code.
struct SignupRow {
    password_hash: String,
    code_hash: String,
    expires_at: usher_core::Timestamp,
    attempts: u32,
    replaced_code_hashes: String,
}

impl FromRow<'_, PgRow> for SignupRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self {
            password_hash: row.try_get("password_hash")?,
            code_hash: row.try_get("code_hash")?,
            expires_at: timestamp(row, "expires_at")?,
            attempts: count(row, "attempts")?,
            replaced_code_hashes: row.try_get("replaced_code_hashes")?,
        })
    }
}

/// Checks the code; the right one creates the member and ends the sign-up.
pub(super) async fn verify(conn: &mut PgConnection, cmd: &VerifyCommand) -> sqlx_core::Result<VerifyRecord> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    let signup: Option<SignupRow> = query_as(
        "SELECT password_hash, code_hash, expires_at, attempts, replaced_code_hashes FROM signups \
             WHERE app_id = $1 AND email = $2",
    )
    .bind(cmd.app_id.as_str())
    .bind(cmd.email.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(signup) = signup else { return Ok(VerifyRecord::NoSignup) };
    if signup.attempts >= cmd.max_attempts {
        return Ok(VerifyRecord::TooManyAttempts);
    }
    if signup.expires_at <= cmd.now {
        return Ok(VerifyRecord::Expired);
    }
    if signup.code_hash != cmd.code_hash.as_str() && is_replaced_code(&signup.replaced_code_hashes, &cmd.code_hash) {
        return Ok(VerifyRecord::Replaced);
    }
    if signup.code_hash != cmd.code_hash.as_str() {
        query("UPDATE signups SET attempts = attempts + 1 WHERE app_id = $1 AND email = $2")
            .bind(cmd.app_id.as_str())
            .bind(cmd.email.as_str())
            .execute(&mut *conn)
            .await?;
        return Ok(VerifyRecord::WrongCode);
    }
    if rows::user_by_email(conn, &cmd.app_id, &cmd.email).await?.is_some() {
        return Ok(VerifyRecord::NoSignup);
    }
    let invitation = pending_invitation(conn, &cmd.app_id, &cmd.email).await?;
    let role = invitation.as_ref().map_or(Role::User, |(_, role)| *role);
    query(
        "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, custom, \
                            created_at, updated_at) \
         VALUES ($1, $2, $3, '', $4, TRUE, FALSE, $5, '{}', $6, $7)",
    )
    .bind(cmd.user_id.as_str())
    .bind(cmd.app_id.as_str())
    .bind(cmd.email.as_str())
    .bind(role.as_str())
    .bind(&signup.password_hash)
    .bind(cmd.now.as_millis())
    .bind(cmd.now.as_millis())
    .execute(&mut *conn)
    .await?;
    if let Some((invitation_id, _)) = &invitation {
        query(
            "UPDATE invitations SET status = 'accepted', accepted_at = $2, updated_at = $3 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(invitation_id.as_str())
        .bind(cmd.now.as_millis())
        .bind(cmd.now.as_millis())
        .execute(&mut *conn)
        .await?;
    }
    query("DELETE FROM signups WHERE app_id = $1 AND email = $2")
        .bind(cmd.app_id.as_str())
        .bind(cmd.email.as_str())
        .execute(&mut *conn)
        .await?;
    let actor = Actor::User(cmd.user_id.clone());
    let action = if invitation.is_some() { AuditAction::InvitationAccepted } else { AuditAction::SignedUp };
    audit::record(
        conn,
        &Event {
            app_id: &cmd.app_id,
            actor: &actor,
            action,
            subject_email: Some(&cmd.email),
            invitation_id: invitation.as_ref().map(|(id, _)| id),
            at: cmd.now,
        },
    )
    .await?;
    let user: Option<User> = rows::user_by_id(conn, &cmd.app_id, &cmd.user_id).await?;
    Ok(user.map_or(VerifyRecord::NoSignup, VerifyRecord::Joined))
}
