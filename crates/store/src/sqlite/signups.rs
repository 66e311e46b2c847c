//! Sign-up with a one-time code: each transaction reads the address's situation, lets
//! `usher_core::rules::signup` decide, and writes what the plan says.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::MailKind;
use usher_core::rules::signup::{
    NewMember, RegisterPlan, RegisterSituation, SignupWrite, StoredSignup, VerifyPlan, VerifySituation,
    register_or_resend_code, verify_code,
};
use usher_core::store::{SignupCommand, SignupOutcome, VerifyCommand, VerifyOutcome};
use usher_core::{AppId, EmailAddress, Timestamp};

use super::audit;
use super::outbox;
use super::rows;
use crate::records;

/// The sign-up the address started, if any.
fn stored_signup(tx: &Transaction<'_>, app_id: &AppId, email: &EmailAddress) -> rusqlite::Result<Option<StoredSignup>> {
    tx.prepare_cached(
        "SELECT password_hash, code_hash, expires_at, attempts, replaced_code_hashes FROM signups \
         WHERE app_id = ?1 AND email = ?2",
    )?
    .query_row(params![app_id.as_str(), email.as_str()], |row| records::stored_signup(row))
    .optional()
}

/// When the latest email of `kind` to the address went, if within the resend interval.
fn last_mailed(tx: &Transaction<'_>, cmd: &SignupCommand, kind: MailKind) -> rusqlite::Result<Option<Timestamp>> {
    outbox::latest_to(tx, &cmd.app_id, &cmd.email, &[kind], cmd.now.minus(cmd.resend_interval))
}

/// Registers (or re-sends a code): reads the situation, decides, carries out the plan.
pub(super) fn send_code(tx: &Transaction<'_>, cmd: &SignupCommand) -> rusqlite::Result<SignupOutcome> {
    let situation = RegisterSituation {
        pending_role: rows::pending_invitation(tx, &cmd.app_id, &cmd.email)?.map(|(_, role)| role),
        member_role: rows::member_role(tx, &cmd.app_id, &cmd.email)?,
        last_account_exists_at: last_mailed(tx, cmd, MailKind::AccountExists)?,
        last_code_at: last_mailed(tx, cmd, MailKind::SignupCode)?,
        earlier: stored_signup(tx, &cmd.app_id, &cmd.email)?,
    };
    let plan = register_or_resend_code(cmd, &situation);
    match &plan {
        RegisterPlan::Answer(_) | RegisterPlan::TellMember { mail: None } => {}
        RegisterPlan::TellMember { mail: Some(mail) } => outbox::enqueue(tx, mail)?,
        RegisterPlan::SendCode { signup, mail } => {
            write_signup(tx, signup)?;
            outbox::enqueue(tx, mail)?;
        }
    }
    Ok(plan.answer())
}

/// Starts the sign-up anew (with a password) or replaces its code (without).
fn write_signup(tx: &Transaction<'_>, signup: &SignupWrite<'_>) -> rusqlite::Result<()> {
    match signup.password_hash {
        Some(password) => tx
            .prepare_cached(
                "INSERT INTO signups (app_id, email, password_hash, code_hash, expires_at, attempts, created_at, \
                                      replaced_code_hashes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7) \
                 ON CONFLICT (app_id, email) DO UPDATE SET password_hash = excluded.password_hash, \
                     code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, \
                     created_at = excluded.created_at, replaced_code_hashes = excluded.replaced_code_hashes",
            )?
            .execute(params![
                signup.app_id.as_str(),
                signup.email.as_str(),
                password.as_str(),
                signup.code_hash.as_str(),
                signup.expires_at.as_millis(),
                signup.now.as_millis(),
                signup.replaced_code_hashes,
            ])?,
        None => tx
            .prepare_cached(
                "UPDATE signups SET code_hash = ?3, expires_at = ?4, attempts = 0, replaced_code_hashes = ?5 \
                 WHERE app_id = ?1 AND email = ?2",
            )?
            .execute(params![
                signup.app_id.as_str(),
                signup.email.as_str(),
                signup.code_hash.as_str(),
                signup.expires_at.as_millis(),
                signup.replaced_code_hashes,
            ])?,
    };
    Ok(())
}

/// Checks a code: reads the situation, decides, carries out the plan.
pub(super) fn verify(tx: &Transaction<'_>, cmd: &VerifyCommand) -> rusqlite::Result<VerifyOutcome> {
    let situation = VerifySituation {
        signup: stored_signup(tx, &cmd.app_id, &cmd.email)?,
        is_member: rows::member_role(tx, &cmd.app_id, &cmd.email)?.is_some(),
        pending: rows::pending_invitation(tx, &cmd.app_id, &cmd.email)?,
    };
    match verify_code(cmd, &situation) {
        VerifyPlan::Answer(answer) => Ok(answer),
        VerifyPlan::CountWrongCode { app_id, email } => {
            tx.prepare_cached("UPDATE signups SET attempts = attempts + 1 WHERE app_id = ?1 AND email = ?2")?
                .execute(params![app_id.as_str(), email.as_str()])?;
            Ok(VerifyOutcome::WrongCode)
        }
        VerifyPlan::Join { member, accepts, audit } => {
            insert_member(tx, &member)?;
            if let Some(invitation_id) = accepts {
                tx.prepare_cached(
                    "UPDATE invitations SET status = 'accepted', accepted_at = ?2, updated_at = ?2 \
                     WHERE id = ?1 AND status = 'pending'",
                )?
                .execute(params![invitation_id.as_str(), member.now.as_millis()])?;
            }
            tx.prepare_cached("DELETE FROM signups WHERE app_id = ?1 AND email = ?2")?
                .execute(params![member.app_id.as_str(), member.email.as_str()])?;
            audit::record(tx, &audit)?;
            Ok(rows::user_by_id(tx, member.app_id, member.id)?.map_or(VerifyOutcome::NoSignup, VerifyOutcome::Joined))
        }
    }
}

/// Inserts the verified member a sign-up creates.
fn insert_member(tx: &Transaction<'_>, member: &NewMember<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, custom, \
                            created_at, updated_at) \
         VALUES (?1, ?2, ?3, '', ?4, 1, 0, ?5, '{}', ?6, ?6)",
    )?
    .execute(params![
        member.id.as_str(),
        member.app_id.as_str(),
        member.email.as_str(),
        member.role.as_str(),
        member.password_hash,
        member.now.as_millis()
    ])?;
    Ok(())
}
