//! Password reset links: each transaction reads the situation, lets
//! `usher_core::rules::reset` decide, and writes what the plan says.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::MailKind;
use usher_core::password::PasswordHash;
use usher_core::rules::reset::{
    PasswordReset, ResetPlan, ResetRequestPlan, ResetRequestSituation, ResetSituation, issue_reset_link,
    reset_with_link,
};
use usher_core::secret::TokenHash;
use usher_core::store::{ResetOutcome, ResetRequest};
use usher_core::{AppId, Timestamp};

use super::audit;
use super::outbox;
use super::rows;
use crate::records;

/// Stores a reset link and queues its email when the rules say so; otherwise writes nothing.
pub(super) fn request(tx: &Transaction<'_>, request: &ResetRequest) -> rusqlite::Result<()> {
    let since = request.now.minus(request.resend_interval);
    let situation = ResetRequestSituation {
        member: rows::user_by_email(tx, &request.app_id, &request.email)?,
        last_reset_email_at: outbox::latest_to(tx, &request.app_id, &request.email, &[MailKind::PasswordReset], since)?,
    };
    match issue_reset_link(request, &situation) {
        ResetRequestPlan::Nothing => Ok(()),
        ResetRequestPlan::IssueLink { link, mail } => {
            tx.prepare_cached(
                "INSERT INTO password_resets (token_hash, app_id, user_id, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                link.token_hash.as_str(),
                link.app_id.as_str(),
                link.user_id.as_str(),
                link.expires_at.as_millis(),
                link.now.as_millis()
            ])?;
            outbox::enqueue(tx, &mail)
        }
    }
}

/// Uses the link of `app_id` with this hash to set a new password, when the rules say so.
pub(super) fn reset(
    tx: &Transaction<'_>,
    app_id: &AppId,
    hash: &TokenHash,
    password: &PasswordHash,
    now: Timestamp,
) -> rusqlite::Result<ResetOutcome> {
    let link = tx
        .prepare_cached(
            "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?1 AND app_id = ?2",
        )?
        .query_row(params![hash.as_str(), app_id.as_str()], |row| records::reset_link(row))
        .optional()?;
    let member = match &link {
        Some(link) => rows::user_by_id(tx, app_id, &link.user_id)?,
        None => None,
    };
    let situation = ResetSituation { link, member };
    let PasswordReset { app_id, user_id, password_hash, now, audit } =
        match reset_with_link(app_id, password, now, &situation) {
            ResetPlan::Refuse(state) => return Ok(ResetOutcome::Refused(state)),
            ResetPlan::SetPassword(reset) => reset,
        };
    tx.prepare_cached(
        "UPDATE users SET password_hash = ?3, session_epoch = session_epoch + 1, is_verified = 1, updated_at = ?4 \
         WHERE app_id = ?1 AND id = ?2",
    )?
    .execute(params![app_id.as_str(), user_id.as_str(), password_hash.as_str(), now.as_millis()])?;
    // Every outstanding link of this member is used up, not only this one.
    tx.prepare_cached(
        "UPDATE password_resets SET used_at = ?3 WHERE app_id = ?1 AND user_id = ?2 AND used_at IS NULL",
    )?
    .execute(params![app_id.as_str(), user_id.as_str(), now.as_millis()])?;
    audit::record(tx, &audit)?;
    let user = rows::user_by_id(tx, app_id, user_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(ResetOutcome::Done(user))
}
