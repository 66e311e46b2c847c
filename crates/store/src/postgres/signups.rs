//! Sign-up with a one-time code: each transaction reads the address's situation, lets
//! `usher_core::rules::signup` decide, and writes what the plan says.
//!
//! Both transactions take the address's lock first (see `locks`), so the situation (the code
//! throttle, the attempt counter, "is there a member or a pending invitation?") is what the
//! previous transaction about the address committed.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::MailKind;
use usher_core::rules::signup::{
    NewMember, RegisterPlan, RegisterSituation, SignupWrite, StoredSignup, VerifyPlan, VerifySituation,
    register_or_resend_code, verify_code,
};
use usher_core::store::{SignupCommand, SignupOutcome, VerifyCommand, VerifyOutcome};
use usher_core::{AppId, EmailAddress, Timestamp};

use super::audit;
use super::locks;
use super::outbox;
use super::rows;
use crate::records;

/// A [`StoredSignup`] as `signups` holds it.
struct SignupRow(StoredSignup);

impl FromRow<'_, PgRow> for SignupRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::stored_signup(row).map(Self)
    }
}

/// The sign-up the address started, if any.
async fn stored_signup(
    conn: &mut PgConnection,
    app_id: &AppId,
    email: &EmailAddress,
) -> sqlx_core::Result<Option<StoredSignup>> {
    let row: Option<SignupRow> = query_as(
        "SELECT password_hash, code_hash, expires_at, attempts, replaced_code_hashes FROM signups \
         WHERE app_id = $1 AND email = $2",
    )
    .bind(app_id.as_str())
    .bind(email.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|SignupRow(signup)| signup))
}

/// When the latest email of `kind` to the address went, if within the resend interval.
async fn last_mailed(
    conn: &mut PgConnection,
    cmd: &SignupCommand,
    kind: MailKind,
) -> sqlx_core::Result<Option<Timestamp>> {
    outbox::latest_to(conn, &cmd.app_id, &cmd.email, &[kind], cmd.now.minus(cmd.resend_interval)).await
}

/// Registers (or re-sends a code): reads the situation, decides, carries out the plan.
pub(super) async fn send_code(conn: &mut PgConnection, cmd: &SignupCommand) -> sqlx_core::Result<SignupOutcome> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    let situation = RegisterSituation {
        pending_role: rows::pending_invitation(conn, &cmd.app_id, &cmd.email).await?.map(|(_, role)| role),
        member_role: rows::member_role(conn, &cmd.app_id, &cmd.email).await?,
        last_account_exists_at: last_mailed(conn, cmd, MailKind::AccountExists).await?,
        last_code_at: last_mailed(conn, cmd, MailKind::SignupCode).await?,
        earlier: stored_signup(conn, &cmd.app_id, &cmd.email).await?,
    };
    let plan = register_or_resend_code(cmd, &situation);
    match &plan {
        RegisterPlan::Answer(_) | RegisterPlan::TellMember { mail: None } => {}
        RegisterPlan::TellMember { mail: Some(mail) } => outbox::enqueue(conn, mail).await?,
        RegisterPlan::SendCode { signup, mail } => {
            write_signup(conn, signup).await?;
            outbox::enqueue(conn, mail).await?;
        }
    }
    Ok(plan.answer())
}

/// Starts the sign-up anew (with a password) or replaces its code (without).
async fn write_signup(conn: &mut PgConnection, signup: &SignupWrite<'_>) -> sqlx_core::Result<()> {
    match signup.password_hash {
        Some(password) => {
            query(
                "INSERT INTO signups (app_id, email, password_hash, code_hash, expires_at, attempts, created_at, \
                                  replaced_code_hashes) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7) \
             ON CONFLICT (app_id, email) DO UPDATE SET password_hash = excluded.password_hash, \
                 code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, \
                 created_at = excluded.created_at, replaced_code_hashes = excluded.replaced_code_hashes",
            )
            .bind(signup.app_id.as_str())
            .bind(signup.email.as_str())
            .bind(password.as_str())
            .bind(signup.code_hash.as_str())
            .bind(signup.expires_at.as_millis())
            .bind(signup.now.as_millis())
            .bind(&signup.replaced_code_hashes)
            .execute(conn)
            .await?
        }
        None => {
            query(
                "UPDATE signups SET code_hash = $3, expires_at = $4, attempts = 0, replaced_code_hashes = $5 \
             WHERE app_id = $1 AND email = $2",
            )
            .bind(signup.app_id.as_str())
            .bind(signup.email.as_str())
            .bind(signup.code_hash.as_str())
            .bind(signup.expires_at.as_millis())
            .bind(&signup.replaced_code_hashes)
            .execute(conn)
            .await?
        }
    };
    Ok(())
}

/// Checks a code: reads the situation, decides, carries out the plan.
pub(super) async fn verify(conn: &mut PgConnection, cmd: &VerifyCommand) -> sqlx_core::Result<VerifyOutcome> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    let situation = VerifySituation {
        signup: stored_signup(conn, &cmd.app_id, &cmd.email).await?,
        is_member: rows::member_role(conn, &cmd.app_id, &cmd.email).await?.is_some(),
        pending: rows::pending_invitation(conn, &cmd.app_id, &cmd.email).await?,
    };
    match verify_code(cmd, &situation) {
        VerifyPlan::Answer(answer) => Ok(answer),
        VerifyPlan::CountWrongCode { app_id, email } => {
            query("UPDATE signups SET attempts = attempts + 1 WHERE app_id = $1 AND email = $2")
                .bind(app_id.as_str())
                .bind(email.as_str())
                .execute(conn)
                .await?;
            Ok(VerifyOutcome::WrongCode)
        }
        VerifyPlan::Join { member, accepts, audit } => {
            insert_member(conn, &member).await?;
            if let Some(invitation_id) = accepts {
                query(
                    "UPDATE invitations SET status = 'accepted', accepted_at = $2, updated_at = $3 \
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(invitation_id.as_str())
                .bind(member.now.as_millis())
                .bind(member.now.as_millis())
                .execute(&mut *conn)
                .await?;
            }
            query("DELETE FROM signups WHERE app_id = $1 AND email = $2")
                .bind(member.app_id.as_str())
                .bind(member.email.as_str())
                .execute(&mut *conn)
                .await?;
            audit::record(conn, &audit).await?;
            let user = rows::user_by_id(conn, member.app_id, member.id).await?;
            Ok(user.map_or(VerifyOutcome::NoSignup, VerifyOutcome::Joined))
        }
    }
}

/// Inserts the verified member a sign-up creates.
async fn insert_member(conn: &mut PgConnection, member: &NewMember<'_>) -> sqlx_core::Result<()> {
    query(
        "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, custom, \
                            created_at, updated_at) \
         VALUES ($1, $2, $3, '', $4, TRUE, FALSE, $5, '{}', $6, $7)",
    )
    .bind(member.id.as_str())
    .bind(member.app_id.as_str())
    .bind(member.email.as_str())
    .bind(member.role.as_str())
    .bind(member.password_hash)
    .bind(member.now.as_millis())
    .bind(member.now.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}
