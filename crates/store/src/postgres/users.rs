//! Members: sign-in lookups, listing, changes and removal.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::User;
use usher_core::password::PasswordHash;
use usher_core::rules::members::{self, MemberChangePlan};
use usher_core::store::{MemberRemoval, MemberUpdate, UserPatch};
use usher_core::{AppId, EmailAddress, Timestamp, UserId};

use super::rows::{self, USER_COLUMNS, UserRow};

/// A member with their password hash.
struct CredentialsRow(User, Option<PasswordHash>);

impl FromRow<'_, PgRow> for CredentialsRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        let UserRow(user) = UserRow::from_row(row)?;
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(Self(user, hash.map(PasswordHash::from_stored)))
    }
}

/// The member with this address, with their password hash.
pub(super) async fn credentials(
    conn: &mut PgConnection,
    app_id: &AppId,
    email: &EmailAddress,
) -> sqlx_core::Result<Option<(User, Option<PasswordHash>)>> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE app_id = $1 AND email = $2");
    let row: Option<CredentialsRow> =
        query_as(&sql).bind(app_id.as_str()).bind(email.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|CredentialsRow(user, hash)| (user, hash)))
}

/// Every member of the app, oldest first.
pub(super) async fn list(conn: &mut PgConnection, app_id: &AppId) -> sqlx_core::Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 ORDER BY created_at, id");
    let rows: Vec<UserRow> = query_as(&sql).bind(app_id.as_str()).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|UserRow(user)| user).collect())
}

/// The ids of the app's active admins (role `admin`, not disabled), whom [`members`] rules
/// count. Locking them makes two changes that each take one of the last two admins away
/// take turns: the second re-reads the admins after the first commits, finds one left, and
/// is refused.
async fn lock_active_admins(conn: &mut PgConnection, app_id: &AppId) -> sqlx_core::Result<Vec<UserId>> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND role = 'admin' AND NOT is_disabled FOR UPDATE");
    let rows: Vec<UserRow> = query_as(&sql).bind(app_id.as_str()).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|UserRow(admin)| admin.id).collect())
}

/// Applies `patch` unless [`members::update_keeps_an_admin`] refuses it.
pub(super) async fn update(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &UserId,
    patch: &UserPatch,
    now: Timestamp,
) -> sqlx_core::Result<MemberUpdate> {
    let admins = lock_active_admins(conn, app_id).await?;
    let Some(member) = rows::user_by_id(conn, app_id, id).await? else { return Ok(MemberUpdate::NotFound) };
    if members::update_keeps_an_admin(&member, patch, &admins) == MemberChangePlan::RefuseLastAdmin {
        return Ok(MemberUpdate::LastAdmin);
    }
    let custom = patch.custom.as_ref().map(|c| serde_json::Value::Object(c.clone()).to_string());
    let changed = query(
        "UPDATE users SET full_name = COALESCE($3, full_name), role = COALESCE($4, role), \
         is_disabled = COALESCE($5, is_disabled), custom = COALESCE($6::jsonb, custom), updated_at = $7 \
         WHERE app_id = $1 AND id = $2",
    )
    .bind(app_id.as_str())
    .bind(id.as_str())
    .bind(patch.full_name.as_deref())
    .bind(patch.role.map(|r| r.as_str()))
    .bind(patch.is_disabled)
    .bind(custom)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    match (changed, rows::user_by_id(conn, app_id, id).await?) {
        (1.., Some(member)) => Ok(MemberUpdate::Updated(member)),
        _ => Ok(MemberUpdate::NotFound),
    }
}

/// Replaces the password and ends the member's sessions; `None` when the member does not exist.
pub(super) async fn set_password(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &UserId,
    hash: &PasswordHash,
    now: Timestamp,
) -> sqlx_core::Result<Option<User>> {
    let changed = query(
        "UPDATE users SET password_hash = $3, session_epoch = session_epoch + 1, updated_at = $4 \
         WHERE app_id = $1 AND id = $2",
    )
    .bind(app_id.as_str())
    .bind(id.as_str())
    .bind(hash.as_str())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    rows::user_by_id(conn, app_id, id).await
}

/// Removes the member unless [`members::removal_keeps_an_admin`] refuses it; the member as
/// they were when removed.
pub(super) async fn delete(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &UserId,
) -> sqlx_core::Result<(MemberRemoval, Option<User>)> {
    let admins = lock_active_admins(conn, app_id).await?;
    let Some(member) = rows::user_by_id(conn, app_id, id).await? else { return Ok((MemberRemoval::NotFound, None)) };
    if members::removal_keeps_an_admin(id, &admins) == MemberChangePlan::RefuseLastAdmin {
        return Ok((MemberRemoval::LastAdmin, None));
    }
    let deleted = query("DELETE FROM users WHERE app_id = $1 AND id = $2")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(if deleted > 0 { (MemberRemoval::Removed, Some(member)) } else { (MemberRemoval::NotFound, None) })
}
