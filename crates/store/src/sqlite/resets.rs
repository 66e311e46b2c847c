//! Password reset links: requested by address (members only, silently), used once.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::{Actor, AuditAction, LinkState, MailKind};
use usher_core::password::PasswordHash;
use usher_core::secret::TokenHash;
use usher_core::store::{ResetRecord, ResetRequest};
use usher_core::{AppId, Timestamp, UserId};

use super::audit;
use super::outbox;
use super::rows;
use crate::records::Event;
use crate::records::NewMessage;

/// Stores a reset link and queues its email when the address is an enabled member that got no
/// reset email within the resend interval; otherwise writes nothing.
pub(super) fn request(tx: &Transaction<'_>, request: &ResetRequest) -> rusqlite::Result<()> {
    let Some(user) = rows::user_by_email(tx, &request.app_id, &request.email)? else { return Ok(()) };
    if user.is_disabled {
        return Ok(());
    }
    let since = request.now.minus(request.resend_interval);
    let recent: Option<i64> = tx
        .prepare_cached(
            "SELECT MAX(created_at) FROM outbox_messages \
             WHERE app_id = ?1 AND recipient = ?2 AND kind = 'password_reset' AND created_at > ?3",
        )?
        .query_row(params![request.app_id.as_str(), request.email.as_str(), since.as_millis()], |row| row.get(0))?;
    if recent.is_some() {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO password_resets (token_hash, app_id, user_id, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        request.token.hash().as_str(),
        request.app_id.as_str(),
        user.id.as_str(),
        request.expires_at.as_millis(),
        request.now.as_millis()
    ])?;
    outbox::enqueue(
        tx,
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
}

/// Uses the link of `app_id` with this hash to set a new password, if it is unused and
/// unexpired.
pub(super) fn reset(
    tx: &Transaction<'_>,
    app_id: &AppId,
    hash: &TokenHash,
    password: &PasswordHash,
    now: Timestamp,
) -> rusqlite::Result<ResetRecord> {
    let link = tx
        .prepare_cached(
            "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?1 AND app_id = ?2",
        )?
        .query_row(params![hash.as_str(), app_id.as_str()], |row| {
            Ok((
                rows::decode(row, "user_id", |s: String| UserId::parse(&s))?,
                rows::timestamp(row, "expires_at")?,
                row.get::<_, Option<i64>>("used_at")?,
            ))
        })
        .optional()?;
    let user_id = match link {
        None => return Ok(ResetRecord::Refused(LinkState::Unknown)),
        Some((_, _, Some(_))) => return Ok(ResetRecord::Refused(LinkState::Used)),
        Some((_, expires_at, None)) if expires_at <= now => return Ok(ResetRecord::Refused(LinkState::Expired)),
        Some((user_id, _, None)) => user_id,
    };
    let changed = tx
        .prepare_cached(
            "UPDATE users SET password_hash = ?3, session_epoch = session_epoch + 1, is_verified = 1, updated_at = ?4 \
             WHERE app_id = ?1 AND id = ?2",
        )?
        .execute(params![app_id.as_str(), user_id.as_str(), password.as_str(), now.as_millis()])?;
    let Some(user) = (changed > 0).then(|| rows::user_by_id(tx, app_id, &user_id)).transpose()?.flatten() else {
        return Ok(ResetRecord::Refused(LinkState::Unknown));
    };
    // Every outstanding link of this member is used up, not only this one.
    tx.prepare_cached(
        "UPDATE password_resets SET used_at = ?3 WHERE app_id = ?1 AND user_id = ?2 AND used_at IS NULL",
    )?
    .execute(params![app_id.as_str(), user_id.as_str(), now.as_millis()])?;
    audit::record(
        tx,
        &Event {
            app_id,
            actor: &Actor::User(user_id.clone()),
            action: AuditAction::PasswordReset,
            subject_email: Some(&user.email),
            invitation_id: None,
            at: now,
        },
    )?;
    Ok(ResetRecord::Done(user))
}
