//! Reading rows back into domain records (decoded once for both backends, in `records`), and
//! the lookups several operations share.

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use usher_core::model::{App, Invitation, TokenLookup, User};
use usher_core::secret::TokenHash;
use usher_core::{AppId, EmailAddress, InvitationId, Role, UserId};

use crate::records::{self, Cause, Columns};

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, column: &str) -> rusqlite::Result<String> {
        self.get(column)
    }

    fn optional_text(&self, column: &str) -> rusqlite::Result<Option<String>> {
        self.get(column)
    }

    fn bigint(&self, column: &str) -> rusqlite::Result<i64> {
        self.get(column)
    }

    fn optional_bigint(&self, column: &str) -> rusqlite::Result<Option<i64>> {
        self.get(column)
    }

    fn count(&self, column: &str) -> rusqlite::Result<u32> {
        self.get(column)
    }

    fn flag(&self, column: &str) -> rusqlite::Result<bool> {
        self.get(column)
    }

    fn invalid(&self, column: &str, cause: Cause) -> rusqlite::Error {
        match self.as_ref().column_index(column) {
            Ok(index) => rusqlite::Error::FromSqlConversionFailure(index, Type::Text, cause),
            Err(error) => error,
        }
    }
}

/// The columns [`app`] reads.
const APP_COLUMNS: &str = "id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open, \
                           sender_name, sender_email, cors_origins, allowed_email_domains, \
                           blocked_email_domains, max_invites_per_day, reminder_before_expiry_hours, created_at, locale";

/// An `apps` row selected with [`APP_COLUMNS`].
fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    records::app(row)
}

/// The app with this id.
pub(super) fn app_by_id(tx: &Transaction<'_>, id: &AppId) -> rusqlite::Result<Option<App>> {
    tx.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1"))?
        .query_row(params![id.as_str()], app)
        .optional()
}

/// Every app, oldest first.
pub(super) fn all_apps(tx: &Transaction<'_>) -> rusqlite::Result<Vec<App>> {
    tx.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, id"))?.query_map([], app)?.collect()
}

/// The columns [`user`] reads; never the password hash, which only sign-in needs.
pub(super) const USER_COLUMNS: &str =
    "id, app_id, email, full_name, role, is_verified, is_disabled, session_epoch, custom, created_at, updated_at";

/// A `users` row selected with [`USER_COLUMNS`].
pub(super) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    records::user(row)
}

/// The member of `app_id` with this id.
pub(super) fn user_by_id(tx: &Transaction<'_>, app_id: &AppId, id: &UserId) -> rusqlite::Result<Option<User>> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND id = ?2"))?
        .query_row(params![app_id.as_str(), id.as_str()], user)
        .optional()
}

/// The member of `app_id` with this (normalised) address.
pub(super) fn user_by_email(
    tx: &Transaction<'_>,
    app_id: &AppId,
    email: &EmailAddress,
) -> rusqlite::Result<Option<User>> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND email = ?2"))?
        .query_row(params![app_id.as_str(), email.as_str()], user)
        .optional()
}

/// An invitation with the delivery state of its latest message. The join is an inner one:
/// every invitation is written together with its first message, so a missing message is a
/// broken invariant and reads as "not found" rather than as a made-up delivery state.
// The reminder times are read through the invitation's own outbox rows: the unary `+` keeps
// SQLite (which runs without ANALYZE) from reading them by status instead, which walks every
// sent message for each invitation read (seconds per read at a million messages).
pub(super) const INVITATION_SELECT: &str = "\
    SELECT i.id, i.app_id, i.email, i.role, i.status, i.inviter_kind, i.inviter_id, i.inviter_name, \
           i.expires_at, i.times_sent, i.last_sent_at, i.created_at, i.updated_at, \
           i.last_opened_at, i.opened_by_person_at, i.flagged_scanner_opens, i.views_without_script, i.locale, \
           (SELECT MIN(r.next_attempt_at) FROM outbox_messages r \
            WHERE r.invitation_id = i.id AND +r.kind = 'reminder' AND +r.status IN ('queued', 'sending')) \
             AS reminder_due_at, \
           (SELECT MAX(r.sent_at) FROM outbox_messages r \
            WHERE r.invitation_id = i.id AND +r.kind = 'reminder' AND +r.status = 'sent') AS reminded_at, \
           m.status AS delivery_status, m.attempts AS delivery_attempts, \
           m.last_error AS delivery_last_error, m.sent_at AS delivery_sent_at, \
           CASE WHEN m.status = 'queued' AND m.attempts > 0 THEN m.next_attempt_at END AS delivery_next_attempt_at \
    FROM invitations i JOIN outbox_messages m ON m.id = i.latest_message_id";

/// An invitation row selected with [`INVITATION_SELECT`].
pub(super) fn invitation(row: &Row<'_>) -> rusqlite::Result<Invitation> {
    records::invitation(row)
}

/// The invitation with this id.
pub(super) fn invitation_by_id(tx: &Transaction<'_>, id: &InvitationId) -> rusqlite::Result<Invitation> {
    tx.prepare_cached(&format!("{INVITATION_SELECT} WHERE i.id = ?1"))?.query_row(params![id.as_str()], invitation)
}

/// The invitation of `app_id` with this id, if any.
pub(super) fn invitation_in_app(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &InvitationId,
) -> rusqlite::Result<Option<Invitation>> {
    tx.prepare_cached(&format!("{INVITATION_SELECT} WHERE i.id = ?1 AND i.app_id = ?2"))?
        .query_row(params![id.as_str(), app_id.as_str()], invitation)
        .optional()
}

/// The invitation this token (current or replaced) belongs to, with its app.
pub(super) fn token_lookup(tx: &Transaction<'_>, hash: &TokenHash) -> rusqlite::Result<Option<TokenLookup>> {
    let token = tx
        .prepare_cached(
            "SELECT invitation_id, replaced_at IS NULL AS is_current FROM invitation_tokens WHERE token_hash = ?1",
        )?
        .query_row(params![hash.as_str()], |row| {
            Ok((row.parsed("invitation_id", |s| InvitationId::parse(&s))?, row.flag("is_current")?))
        })
        .optional()?;
    let Some((invitation_id, is_current)) = token else {
        return Ok(None);
    };
    let invitation = invitation_by_id(tx, &invitation_id)?;
    let app = app_by_id(tx, &invitation.app_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(Some(TokenLookup { invitation, app, is_current }))
}

/// The pending invitation of this address (even one past its expiry): its id and role.
pub(super) fn pending_invitation(
    tx: &Transaction<'_>,
    app_id: &AppId,
    email: &EmailAddress,
) -> rusqlite::Result<Option<(InvitationId, Role)>> {
    tx.prepare_cached("SELECT id, role FROM invitations WHERE app_id = ?1 AND email = ?2 AND status = 'pending'")?
        .query_row(params![app_id.as_str(), email.as_str()], |row| {
            Ok((row.parsed("id", |s| InvitationId::parse(&s))?, row.role("role")?))
        })
        .optional()
}

/// The role of the member with this address, if there is one.
pub(super) fn member_role(
    tx: &Transaction<'_>,
    app_id: &AppId,
    email: &EmailAddress,
) -> rusqlite::Result<Option<Role>> {
    tx.prepare_cached("SELECT role FROM users WHERE app_id = ?1 AND email = ?2")?
        .query_row(params![app_id.as_str(), email.as_str()], |row| row.role("role"))
        .optional()
}
