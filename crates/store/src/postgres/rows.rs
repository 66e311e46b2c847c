//! Reading rows back into domain records, and the lookups several operations share.
//!
//! Each record has a private row type implementing sqlx's `FromRow`, a newtype around the
//! domain record, whose decoding is the one both backends share (`records`, through this
//! row's [`Columns`]). JSON columns are selected as text (`::text`), so the conversions are
//! SQLite's.

use std::error::Error;

use crate::records::{self, Cause, Columns};
use sqlx_core::decode::Decode;
use sqlx_core::from_row::FromRow;
use sqlx_core::query_as::query_as;
use sqlx_core::row::Row;
use sqlx_core::types::Type;
use sqlx_postgres::{PgConnection, PgRow, Postgres};
use usher_core::model::{App, AuditEvent, Invitation, TokenLookup, User};
use usher_core::secret::TokenHash;
use usher_core::{AppId, EmailAddress, InvitationId, Role, UserId};

impl Columns for PgRow {
    type Error = sqlx_core::Error;

    fn text(&self, column: &str) -> sqlx_core::Result<String> {
        self.try_get(column)
    }

    fn optional_text(&self, column: &str) -> sqlx_core::Result<Option<String>> {
        self.try_get(column)
    }

    fn bigint(&self, column: &str) -> sqlx_core::Result<i64> {
        self.try_get(column)
    }

    fn optional_bigint(&self, column: &str) -> sqlx_core::Result<Option<i64>> {
        self.try_get(column)
    }

    fn count(&self, column: &str) -> sqlx_core::Result<u32> {
        count(self, column)
    }

    fn flag(&self, column: &str) -> sqlx_core::Result<bool> {
        self.try_get(column)
    }

    fn invalid(&self, column: &str, cause: Cause) -> sqlx_core::Error {
        sqlx_core::Error::ColumnDecode { index: column.to_owned(), source: cause }
    }
}

/// Reports a stored value of `column` that `parse`-ing refused as a decoding error.
pub(super) fn parsed<T, E>(column: &str, parsed: Result<T, E>) -> sqlx_core::Result<T>
where
    E: Into<Box<dyn Error + Send + Sync>>,
{
    parsed.map_err(|e| sqlx_core::Error::ColumnDecode { index: column.to_owned(), source: e.into() })
}

/// Reads column `column` as `V` and converts it with `parse`.
pub(super) fn decode<V, T, E>(row: &PgRow, column: &str, parse: impl FnOnce(V) -> Result<T, E>) -> sqlx_core::Result<T>
where
    V: for<'r> Decode<'r, Postgres> + Type<Postgres>,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    let value: V = row.try_get(column)?;
    parsed(column, parse(value))
}

/// Reads the INTEGER counter `column` (never negative, by its CHECK constraint).
pub(super) fn count(row: &PgRow, column: &str) -> sqlx_core::Result<u32> {
    decode(row, column, |n: i32| u32::try_from(n))
}

/// Converts a count or limit for a BIGINT parameter.
pub(super) fn bigint(n: u64) -> sqlx_core::Result<i64> {
    i64::try_from(n).map_err(|e| sqlx_core::Error::Encode(Box::new(e)))
}

/// An app and an address in it (columns `app_id` and `email`): whose lock to take.
pub(super) struct AddressRow(pub(super) AppId, pub(super) EmailAddress);

impl FromRow<'_, PgRow> for AddressRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self(row.parsed("app_id", |s| AppId::parse(&s))?, row.email("email")?))
    }
}

/// The columns [`AppRow`] reads.
pub(super) const APP_COLUMNS: &str = "id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open, \
                                      sender_name, sender_email, cors_origins::text AS cors_origins, \
                                      allowed_email_domains::text AS allowed_email_domains, \
                                      blocked_email_domains::text AS blocked_email_domains, \
                                      max_invites_per_day, reminder_before_expiry_hours, created_at, locale";

/// An `apps` row selected with [`APP_COLUMNS`].
pub(super) struct AppRow(pub(super) App);

impl FromRow<'_, PgRow> for AppRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::app(row).map(Self)
    }
}

/// The app with this id.
pub(super) async fn app_by_id(conn: &mut PgConnection, id: &AppId) -> sqlx_core::Result<Option<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1");
    let row: Option<AppRow> = query_as(&sql).bind(id.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|AppRow(app)| app))
}

/// Every app, oldest first.
pub(super) async fn all_apps(conn: &mut PgConnection) -> sqlx_core::Result<Vec<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, id");
    let rows: Vec<AppRow> = query_as(&sql).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|AppRow(app)| app).collect())
}

/// The columns [`UserRow`] reads; never the password hash, which only sign-in needs.
pub(super) const USER_COLUMNS: &str = "id, app_id, email, full_name, role, is_verified, is_disabled, session_epoch, \
                                       custom::text AS custom, created_at, updated_at";

/// A `users` row selected with [`USER_COLUMNS`].
pub(super) struct UserRow(pub(super) User);

impl FromRow<'_, PgRow> for UserRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::user(row).map(Self)
    }
}

/// The member of `app_id` with this id.
pub(super) async fn user_by_id(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &UserId,
) -> sqlx_core::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id = $2");
    let row: Option<UserRow> = query_as(&sql).bind(app_id.as_str()).bind(id.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|UserRow(user)| user))
}

/// The member of `app_id` with this (normalised) address.
pub(super) async fn user_by_email(
    conn: &mut PgConnection,
    app_id: &AppId,
    email: &EmailAddress,
) -> sqlx_core::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND email = $2");
    let row: Option<UserRow> = query_as(&sql).bind(app_id.as_str()).bind(email.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|UserRow(user)| user))
}

/// The columns [`InvitationRow`] reads: an invitation with the delivery state of its latest
/// message, selected `FROM` [`INVITATION_FROM`].
pub(super) const INVITATION_COLUMNS: &str = "\
    i.id, i.app_id, i.email, i.role, i.status, i.inviter_kind, i.inviter_id, i.inviter_name, \
    i.expires_at, i.times_sent, i.last_sent_at, i.created_at, i.updated_at, \
    i.last_opened_at, i.opened_by_person_at, i.flagged_scanner_opens, i.views_without_script, i.locale, \
    (SELECT MIN(r.next_attempt_at) FROM outbox_messages r \
     WHERE r.invitation_id = i.id AND r.kind = 'reminder' AND r.status IN ('queued', 'sending')) \
      AS reminder_due_at, \
    (SELECT MAX(r.sent_at) FROM outbox_messages r \
     WHERE r.invitation_id = i.id AND r.kind = 'reminder' AND r.status = 'sent') AS reminded_at, \
    m.status AS delivery_status, m.attempts AS delivery_attempts, \
    m.last_error AS delivery_last_error, m.sent_at AS delivery_sent_at, \
    CASE WHEN m.status = 'queued' AND m.attempts > 0 THEN m.next_attempt_at END AS delivery_next_attempt_at";

/// Where [`INVITATION_COLUMNS`] come from. The join is an inner one: every invitation is
/// written together with its first message, so a missing message is a broken invariant and
/// reads as "not found" rather than as a made-up delivery state.
pub(super) const INVITATION_FROM: &str = "invitations i JOIN outbox_messages m ON m.id = i.latest_message_id";

/// An invitation row selected with [`INVITATION_COLUMNS`].
pub(super) struct InvitationRow(pub(super) Invitation);

impl FromRow<'_, PgRow> for InvitationRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::invitation(row).map(Self)
    }
}

/// The invitation with this id.
pub(super) async fn invitation_by_id(conn: &mut PgConnection, id: &InvitationId) -> sqlx_core::Result<Invitation> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.id = $1");
    let InvitationRow(invitation) = query_as(&sql).bind(id.as_str()).fetch_one(conn).await?;
    Ok(invitation)
}

/// The invitation of `app_id` with this id, if any.
pub(super) async fn invitation_in_app(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &InvitationId,
) -> sqlx_core::Result<Option<Invitation>> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.id = $1 AND i.app_id = $2");
    let row: Option<InvitationRow> =
        query_as(&sql).bind(id.as_str()).bind(app_id.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|InvitationRow(invitation)| invitation))
}

/// An invitation found by one of its tokens, and whether that token is still its current one.
struct TokenRow(Invitation, bool);

impl FromRow<'_, PgRow> for TokenRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        let InvitationRow(invitation) = InvitationRow::from_row(row)?;
        Ok(Self(invitation, row.try_get("is_current")?))
    }
}

/// The invitation this token (current or replaced) belongs to, with its app.
pub(super) async fn token_lookup(conn: &mut PgConnection, hash: &TokenHash) -> sqlx_core::Result<Option<TokenLookup>> {
    // The invitation and its token in one statement, so they are read in one snapshot even
    // outside a transaction.
    let sql = format!(
        "SELECT {INVITATION_COLUMNS}, t.replaced_at IS NULL AS is_current \
         FROM {INVITATION_FROM} JOIN invitation_tokens t ON t.invitation_id = i.id WHERE t.token_hash = $1"
    );
    let row: Option<TokenRow> = query_as(&sql).bind(hash.as_str()).fetch_optional(&mut *conn).await?;
    let Some(TokenRow(invitation, is_current)) = row else { return Ok(None) };
    let app = app_by_id(conn, &invitation.app_id).await?.ok_or(sqlx_core::Error::RowNotFound)?;
    Ok(Some(TokenLookup { invitation, app, is_current }))
}

/// An audit log entry.
pub(super) struct AuditRow(pub(super) AuditEvent);

impl FromRow<'_, PgRow> for AuditRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::audit_event(row).map(Self)
    }
}

/// A pending invitation's id and role.
struct PendingRow(InvitationId, Role);

impl FromRow<'_, PgRow> for PendingRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self(row.parsed("id", |s| InvitationId::parse(&s))?, row.role("role")?))
    }
}

/// The pending invitation of this address (even one past its expiry): its id and role.
pub(super) async fn pending_invitation(
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

/// A member's role.
struct RoleRow(Role);

impl FromRow<'_, PgRow> for RoleRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        row.role("role").map(Self)
    }
}

/// The role of the member with this address, if there is one.
pub(super) async fn member_role(
    conn: &mut PgConnection,
    app_id: &AppId,
    email: &EmailAddress,
) -> sqlx_core::Result<Option<Role>> {
    let row: Option<RoleRow> = query_as("SELECT role FROM users WHERE app_id = $1 AND email = $2")
        .bind(app_id.as_str())
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|RoleRow(role)| role))
}
