//! Members: sign-in lookups, listing, changes and removal.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::User;
use usher_core::password::PasswordHash;
use usher_core::rules::members::{self, MemberChangePlan};
use usher_core::store::{MemberRemoval, MemberUpdate, UserPatch};
use usher_core::{AppId, EmailAddress, Timestamp, UserId};

use super::rows::{self, USER_COLUMNS};

/// The member with this address, with their password hash.
pub(super) fn credentials(
    tx: &Transaction<'_>,
    app_id: &AppId,
    email: &EmailAddress,
) -> rusqlite::Result<Option<(User, Option<PasswordHash>)>> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE app_id = ?1 AND email = ?2"))?
        .query_row(params![app_id.as_str(), email.as_str()], |row| {
            let hash: Option<String> = row.get("password_hash")?;
            Ok((rows::user(row)?, hash.map(PasswordHash::from_stored)))
        })
        .optional()
}

/// Every member of the app, oldest first.
pub(super) fn list(tx: &Transaction<'_>, app_id: &AppId) -> rusqlite::Result<Vec<User>> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 ORDER BY created_at, id"))?
        .query_map(params![app_id.as_str()], rows::user)?
        .collect()
}

/// The ids of the app's active admins (role `admin`, not disabled), whom
/// [`members`] rules count.
fn active_admins(tx: &Transaction<'_>, app_id: &AppId) -> rusqlite::Result<Vec<UserId>> {
    tx.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND role = 'admin' AND NOT is_disabled"
    ))?
    .query_map(params![app_id.as_str()], |row| rows::user(row).map(|admin| admin.id))?
    .collect()
}

/// Applies `patch` unless [`members::update_keeps_an_admin`] refuses it.
pub(super) fn update(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &UserId,
    patch: &UserPatch,
    now: Timestamp,
) -> rusqlite::Result<MemberUpdate> {
    let Some(member) = rows::user_by_id(tx, app_id, id)? else { return Ok(MemberUpdate::NotFound) };
    if members::update_keeps_an_admin(&member, patch, &active_admins(tx, app_id)?) == MemberChangePlan::RefuseLastAdmin
    {
        return Ok(MemberUpdate::LastAdmin);
    }
    let custom = patch.custom.as_ref().map(|c| serde_json::Value::Object(c.clone()).to_string());
    let changed = tx
        .prepare_cached(
            "UPDATE users SET full_name = COALESCE(?3, full_name), role = COALESCE(?4, role), \
             is_disabled = COALESCE(?5, is_disabled), custom = COALESCE(?6, custom), updated_at = ?7 \
             WHERE app_id = ?1 AND id = ?2",
        )?
        .execute(params![
            app_id.as_str(),
            id.as_str(),
            patch.full_name,
            patch.role.map(|r| r.as_str()),
            patch.is_disabled,
            custom,
            now.as_millis()
        ])?;
    match (changed, rows::user_by_id(tx, app_id, id)?) {
        (1.., Some(member)) => Ok(MemberUpdate::Updated(member)),
        _ => Ok(MemberUpdate::NotFound),
    }
}

/// Replaces the password and ends the member's sessions; `None` when the member does not exist.
pub(super) fn set_password(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &UserId,
    hash: &PasswordHash,
    now: Timestamp,
) -> rusqlite::Result<Option<User>> {
    let changed = tx
        .prepare_cached(
            "UPDATE users SET password_hash = ?3, session_epoch = session_epoch + 1, updated_at = ?4 \
             WHERE app_id = ?1 AND id = ?2",
        )?
        .execute(params![app_id.as_str(), id.as_str(), hash.as_str(), now.as_millis()])?;
    if changed == 0 {
        return Ok(None);
    }
    rows::user_by_id(tx, app_id, id)
}

/// Removes the member unless [`members::removal_keeps_an_admin`] refuses it; the member as
/// they were when removed.
pub(super) fn delete(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &UserId,
) -> rusqlite::Result<(MemberRemoval, Option<User>)> {
    let Some(member) = rows::user_by_id(tx, app_id, id)? else { return Ok((MemberRemoval::NotFound, None)) };
    if members::removal_keeps_an_admin(id, &active_admins(tx, app_id)?) == MemberChangePlan::RefuseLastAdmin {
        return Ok((MemberRemoval::LastAdmin, None));
    }
    tx.prepare_cached("DELETE FROM users WHERE app_id = ?1 AND id = ?2")?
        .execute(params![app_id.as_str(), id.as_str()])?;
    Ok((MemberRemoval::Removed, Some(member)))
}
