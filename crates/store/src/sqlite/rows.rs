//! Reading rows back into domain records, and the lookups several operations share.
//!
//! Stored text is parsed with the same constructors the edge uses (`Role::from_str`, the id
//! parsers; addresses with `EmailAddress::from_storage`, which is `parse` but keeps a row
//! written under earlier rules readable), so a record that comes out of the database is as valid
//! as one that came in through the API. A value that does not parse is reported as
//! rusqlite's conversion failure, naming the column, and surfaces as a backend error.

use std::error::Error;

use crate::records::{UnknownValue, delivery_status};
use rusqlite::types::{FromSql, Type};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::{Map, Value};
use usher_core::model::{
    Actor, App, AppSettings, Delivery, Invitation, InvitationStatus, InvitePolicy, Inviter, TokenLookup, User,
};
use usher_core::secret::TokenHash;
use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, Role, Timestamp, UserId};

/// Reads the TEXT column `column` as `V` and converts it with `parse`.
pub(super) fn decode<V, T, E>(row: &Row<'_>, column: &str, parse: impl FnOnce(V) -> Result<T, E>) -> rusqlite::Result<T>
where
    V: FromSql,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    let index = row.as_ref().column_index(column)?;
    let value: V = row.get(index)?;
    parse(value).map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, e.into()))
}

/// Reads the INTEGER milliseconds column `column`.
pub(super) fn timestamp(row: &Row<'_>, column: &str) -> rusqlite::Result<Timestamp> {
    row.get(column).map(Timestamp::from_millis)
}

/// Reads the nullable INTEGER milliseconds column `column`.
fn optional_timestamp(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row.get::<_, Option<i64>>(column)?.map(Timestamp::from_millis))
}

/// Reads a stored role.
pub(super) fn role(row: &Row<'_>, column: &str) -> rusqlite::Result<Role> {
    decode(row, column, |s: String| s.parse::<Role>())
}

/// Reads a stored email address (see [`EmailAddress::from_storage`] for rows written under
/// earlier rules).
pub(super) fn email(row: &Row<'_>, column: &str) -> rusqlite::Result<EmailAddress> {
    decode(row, column, |s: String| Ok::<_, std::convert::Infallible>(EmailAddress::from_storage(&s)))
}

/// Reads a value stored under one of the names `parse` knows.
pub(super) fn known<T>(row: &Row<'_>, column: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    decode(row, column, |s: String| parse(&s).ok_or(UnknownValue(s)))
}

/// How an actor is stored: `(actor_kind, actor_id)`.
pub(super) fn actor_columns(actor: &Actor) -> (&'static str, &str) {
    match actor {
        Actor::ApiKey(id) => ("api_key", id.as_str()),
        Actor::User(id) => ("user", id.as_str()),
    }
}

/// Reads an actor back from its `kind_column` and `id_column`.
pub(super) fn actor(row: &Row<'_>, kind_column: &str, id_column: &str) -> rusqlite::Result<Actor> {
    let kind: String = row.get(kind_column)?;
    decode(row, id_column, |id: String| -> Result<Actor, Box<dyn Error + Send + Sync>> {
        match kind.as_str() {
            "api_key" => Ok(Actor::ApiKey(ApiKeyId::parse(&id)?)),
            "user" => Ok(Actor::User(UserId::parse(&id)?)),
            _ => Err(Box::new(UnknownValue(kind))),
        }
    })
}

/// The columns [`app`] reads.
const APP_COLUMNS: &str = "id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open, \
                           sender_name, sender_email, cors_origins, created_at";

/// An `apps` row selected with [`APP_COLUMNS`].
fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    let settings = AppSettings {
        invitation_ttl: std::time::Duration::from_secs(row.get("invitation_ttl_secs")?),
        invite_policy: known(row, "invite_policy", InvitePolicy::parse)?,
        is_signup_open: row.get("is_signup_open")?,
        sender_name: row.get("sender_name")?,
        sender_email: decode(row, "sender_email", |s: Option<String>| {
            Ok::<_, std::convert::Infallible>(s.as_deref().map(EmailAddress::from_storage))
        })?,
        cors_origins: decode(row, "cors_origins", |s: String| serde_json::from_str::<Vec<String>>(&s))?,
    };
    Ok(App {
        id: decode(row, "id", |s: String| AppId::parse(&s))?,
        name: row.get("name")?,
        app_url: row.get("app_url")?,
        settings,
        created_at: timestamp(row, "created_at")?,
    })
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
    Ok(User {
        id: decode(row, "id", |s: String| UserId::parse(&s))?,
        app_id: decode(row, "app_id", |s: String| AppId::parse(&s))?,
        email: email(row, "email")?,
        full_name: row.get("full_name")?,
        role: role(row, "role")?,
        is_verified: row.get("is_verified")?,
        is_disabled: row.get("is_disabled")?,
        session_epoch: row.get("session_epoch")?,
        custom: decode(row, "custom", |s: String| serde_json::from_str::<Map<String, Value>>(&s))?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
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
pub(super) const INVITATION_SELECT: &str = "\
    SELECT i.id, i.app_id, i.email, i.role, i.status, i.inviter_kind, i.inviter_id, i.inviter_name, \
           i.expires_at, i.times_sent, i.last_sent_at, i.created_at, i.updated_at, \
           m.status AS delivery_status, m.attempts AS delivery_attempts, \
           m.last_error AS delivery_last_error, m.sent_at AS delivery_sent_at, \
           CASE WHEN m.status = 'queued' AND m.attempts > 0 THEN m.next_attempt_at END AS delivery_next_attempt_at \
    FROM invitations i JOIN outbox_messages m ON m.id = i.latest_message_id";

/// An invitation row selected with [`INVITATION_SELECT`].
pub(super) fn invitation(row: &Row<'_>) -> rusqlite::Result<Invitation> {
    let delivery = Delivery {
        status: known(row, "delivery_status", delivery_status)?,
        attempts: row.get("delivery_attempts")?,
        last_error: row.get("delivery_last_error")?,
        sent_at: optional_timestamp(row, "delivery_sent_at")?,
        next_attempt_at: optional_timestamp(row, "delivery_next_attempt_at")?,
    };
    Ok(Invitation {
        id: decode(row, "id", |s: String| InvitationId::parse(&s))?,
        app_id: decode(row, "app_id", |s: String| AppId::parse(&s))?,
        email: email(row, "email")?,
        role: role(row, "role")?,
        status: known(row, "status", InvitationStatus::parse)?,
        invited_by: Inviter {
            actor: actor(row, "inviter_kind", "inviter_id")?,
            display_name: row.get("inviter_name")?,
        },
        expires_at: timestamp(row, "expires_at")?,
        times_sent: row.get("times_sent")?,
        last_sent_at: timestamp(row, "last_sent_at")?,
        delivery,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
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
            Ok((decode(row, "invitation_id", |s: String| InvitationId::parse(&s))?, row.get("is_current")?))
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
            Ok((decode(row, "id", |s: String| InvitationId::parse(&s))?, role(row, "role")?))
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
        .query_row(params![app_id.as_str(), email.as_str()], |row| role(row, "role"))
        .optional()
}
