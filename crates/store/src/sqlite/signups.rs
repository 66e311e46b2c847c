//! Sign-up with a one-time code: the code is emailed, and the right code creates the member.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::{Actor, AuditAction, MailKind, User};
use usher_core::store::{
    SignupCommand, SignupRecord, VerifyCommand, VerifyRecord, is_replaced_code, replaced_codes_with,
};
use usher_core::{EmailAddress, InvitationId, Role};

use super::audit;
use super::outbox;
use super::rows::{self, decode, role};
use crate::records::Event;
use crate::records::NewMessage;

/// The pending invitation of this address, with its role.
fn pending_invitation(
    tx: &Transaction<'_>,
    cmd_app: &str,
    email: &EmailAddress,
) -> rusqlite::Result<Option<(InvitationId, Role)>> {
    tx.prepare_cached("SELECT id, role FROM invitations WHERE app_id = ?1 AND email = ?2 AND status = 'pending'")?
        .query_row(params![cmd_app, email.as_str()], |row| {
            Ok((decode(row, "id", |s: String| InvitationId::parse(&s))?, role(row, "role")?))
        })
        .optional()
}

/// True when an email of `kind` went to the address within the resend interval.
fn recently_mailed(tx: &Transaction<'_>, cmd: &SignupCommand, kind: MailKind) -> rusqlite::Result<bool> {
    let since = cmd.now.minus(cmd.resend_interval);
    let latest: Option<i64> = tx
        .prepare_cached(
            "SELECT MAX(created_at) FROM outbox_messages WHERE app_id = ?1 AND recipient = ?2 AND kind = ?3 AND created_at > ?4",
        )?
        .query_row(params![cmd.app_id.as_str(), cmd.email.as_str(), kind.as_str(), since.as_millis()], |row| row.get(0))?;
    Ok(latest.is_some())
}

fn enqueue(tx: &Transaction<'_>, cmd: &SignupCommand, kind: MailKind, role: Role) -> rusqlite::Result<()> {
    let link = (kind == MailKind::SignupCode).then(|| (cmd.code.expose(), cmd.expires_at));
    outbox::enqueue(
        tx,
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
}

/// Starts a sign-up (replacing any earlier one of the address), or re-sends its code.
pub(super) fn send_code(tx: &Transaction<'_>, cmd: &SignupCommand) -> rusqlite::Result<SignupRecord> {
    let invitation = pending_invitation(tx, cmd.app_id.as_str(), &cmd.email)?;
    if cmd.is_invitation_only && invitation.is_none() {
        return Ok(SignupRecord::NotInvited);
    }
    if let Some(user) = rows::user_by_email(tx, &cmd.app_id, &cmd.email)? {
        if !recently_mailed(tx, cmd, MailKind::AccountExists)? {
            enqueue(tx, cmd, MailKind::AccountExists, user.role)?;
        }
        return Ok(SignupRecord::AlreadyMember);
    }
    // A re-send without a new registration is paced by the resend interval; a new
    // registration always replaces the earlier one (its allowance is counted by the service).
    if cmd.password_hash.is_none() && recently_mailed(tx, cmd, MailKind::SignupCode)? {
        return Ok(SignupRecord::CodeSent);
    }
    let earlier: Option<(String, String)> = tx
        .prepare_cached("SELECT code_hash, replaced_code_hashes FROM signups WHERE app_id = ?1 AND email = ?2")?
        .query_row(params![cmd.app_id.as_str(), cmd.email.as_str()], |row| {
            Ok((row.get("code_hash")?, row.get("replaced_code_hashes")?))
        })
        .optional()?;
    let replaced = earlier.as_ref().map(|(code, list)| replaced_codes_with(list, code)).unwrap_or_default();
    let changed = match (&cmd.password_hash, &earlier) {
        (Some(password), _) => tx
            .prepare_cached(
                "INSERT INTO signups (app_id, email, password_hash, code_hash, expires_at, attempts, created_at, \
                                      replaced_code_hashes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7) \
                 ON CONFLICT (app_id, email) DO UPDATE SET password_hash = excluded.password_hash, \
                     code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, \
                     created_at = excluded.created_at, replaced_code_hashes = excluded.replaced_code_hashes",
            )?
            .execute(params![
                cmd.app_id.as_str(),
                cmd.email.as_str(),
                password.as_str(),
                cmd.code_hash.as_str(),
                cmd.expires_at.as_millis(),
                cmd.now.as_millis(),
                replaced,
            ])?,
        (None, Some(_)) => tx
            .prepare_cached(
                "UPDATE signups SET code_hash = ?3, expires_at = ?4, attempts = 0, replaced_code_hashes = ?5 \
                 WHERE app_id = ?1 AND email = ?2",
            )?
            .execute(params![
                cmd.app_id.as_str(),
                cmd.email.as_str(),
                cmd.code_hash.as_str(),
                cmd.expires_at.as_millis(),
                replaced,
            ])?,
        (None, None) => 0,
    };
    if changed > 0 {
        enqueue(tx, cmd, MailKind::SignupCode, invitation.map_or(Role::User, |(_, role)| role))?;
    }
    Ok(SignupRecord::CodeSent)
}

/// Checks the code; the right one creates the member and ends the sign-up.
pub(super) fn verify(tx: &Transaction<'_>, cmd: &VerifyCommand) -> rusqlite::Result<VerifyRecord> {
    let signup = tx
        .prepare_cached(
            "SELECT password_hash, code_hash, expires_at, attempts, replaced_code_hashes FROM signups \
             WHERE app_id = ?1 AND email = ?2",
        )?
        .query_row(params![cmd.app_id.as_str(), cmd.email.as_str()], |row| {
            Ok((
                row.get::<_, String>("password_hash")?,
                row.get::<_, String>("code_hash")?,
                rows::timestamp(row, "expires_at")?,
                row.get::<_, u32>("attempts")?,
                row.get::<_, String>("replaced_code_hashes")?,
            ))
        })
        .optional()?;
    let Some((password_hash, code_hash, expires_at, attempts, replaced)) = signup else {
        return Ok(VerifyRecord::NoSignup);
    };
    if attempts >= cmd.max_attempts {
        return Ok(VerifyRecord::TooManyAttempts);
    }
    if expires_at <= cmd.now {
        return Ok(VerifyRecord::Expired);
    }
    if code_hash != cmd.code_hash.as_str() && is_replaced_code(&replaced, &cmd.code_hash) {
        return Ok(VerifyRecord::Replaced);
    }
    if code_hash != cmd.code_hash.as_str() {
        tx.prepare_cached("UPDATE signups SET attempts = attempts + 1 WHERE app_id = ?1 AND email = ?2")?
            .execute(params![cmd.app_id.as_str(), cmd.email.as_str()])?;
        return Ok(VerifyRecord::WrongCode);
    }
    if rows::user_by_email(tx, &cmd.app_id, &cmd.email)?.is_some() {
        return Ok(VerifyRecord::NoSignup);
    }
    let invitation = pending_invitation(tx, cmd.app_id.as_str(), &cmd.email)?;
    let role = invitation.as_ref().map_or(Role::User, |(_, role)| *role);
    tx.prepare_cached(
        "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, custom, created_at, updated_at) \
         VALUES (?1, ?2, ?3, '', ?4, 1, 0, ?5, '{}', ?6, ?6)",
    )?
    .execute(params![cmd.user_id.as_str(), cmd.app_id.as_str(), cmd.email.as_str(), role.as_str(), password_hash, cmd.now.as_millis()])?;
    if let Some((invitation_id, _)) = &invitation {
        tx.prepare_cached(
            "UPDATE invitations SET status = 'accepted', accepted_at = ?2, updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![invitation_id.as_str(), cmd.now.as_millis()])?;
    }
    tx.prepare_cached("DELETE FROM signups WHERE app_id = ?1 AND email = ?2")?
        .execute(params![cmd.app_id.as_str(), cmd.email.as_str()])?;
    let actor = Actor::User(cmd.user_id.clone());
    let action = if invitation.is_some() { AuditAction::InvitationAccepted } else { AuditAction::SignedUp };
    audit::record(
        tx,
        &Event {
            app_id: &cmd.app_id,
            actor: &actor,
            action,
            subject_email: Some(&cmd.email),
            invitation_id: invitation.as_ref().map(|(id, _)| id),
            at: cmd.now,
        },
    )?;
    let user: Option<User> = rows::user_by_id(tx, &cmd.app_id, &cmd.user_id)?;
    Ok(user.map_or(VerifyRecord::NoSignup, VerifyRecord::Joined))
}
