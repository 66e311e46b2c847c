//! One-time console sign-in links, and the console's stored sessions.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::console_session::ConsoleSessionRecord;
use usher_core::model::ApiKeyRecord;
use usher_core::rules::console::{self, ConsoleLinkPlan, ConsoleLinkState, EndedSessions};
use usher_core::secret::TokenHash;
use usher_core::store::{ConsoleLinkUse, NewApiKey};
use usher_core::{AppId, Timestamp};

use super::rows::parsed;
use super::{apps, audit};
use crate::records;

/// Stores a link's hash.
pub(super) async fn create_link(
    conn: &mut PgConnection,
    app_id: &AppId,
    hash: &TokenHash,
    now: Timestamp,
    expires_at: Timestamp,
) -> sqlx_core::Result<()> {
    query("INSERT INTO console_links (token_hash, app_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash.as_str())
        .bind(app_id.as_str())
        .bind(now.as_millis())
        .bind(expires_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Uses a link as [`console::use_console_link`] decides. The row is locked, so two uses of
/// one link take turns and the second finds it used.
pub(super) async fn use_link(
    conn: &mut PgConnection,
    hash: &TokenHash,
    key: &NewApiKey,
    now: Timestamp,
) -> sqlx_core::Result<ConsoleLinkUse> {
    let row: Option<(String, i64, Option<i64>)> =
        query_as("SELECT app_id, expires_at, used_at FROM console_links WHERE token_hash = $1 FOR UPDATE")
            .bind(hash.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let link = match row {
        Some((app_id, expires_at, used_at)) => Some(ConsoleLinkState {
            app_id: parsed("app_id", AppId::parse(&app_id))?,
            expires_at: Timestamp::from_millis(expires_at),
            used_at: used_at.map(Timestamp::from_millis),
        }),
        None => None,
    };
    let audit = match console::use_console_link(link.as_ref(), &key.id, now) {
        ConsoleLinkPlan::Refuse(answer) => return Ok(answer),
        ConsoleLinkPlan::Use { audit } => audit,
    };
    query("UPDATE console_links SET used_at = $2 WHERE token_hash = $1")
        .bind(hash.as_str())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    apps::insert_key(conn, audit.app_id, key, now).await?;
    audit::record(conn, &audit).await?;
    Ok(ConsoleLinkUse::SignedIn(ApiKeyRecord {
        id: key.id.clone(),
        app_id: audit.app_id.clone(),
        name: key.name.clone(),
        created_at: now,
    }))
}

/// The columns [`records::console_session`] reads.
const SESSION_COLUMNS: &str = "app_id, user_id, session_epoch, created_at, last_seen_at, expires_at";

/// A `console_sessions` row as the service sees it.
struct SessionRow(ConsoleSessionRecord);

impl FromRow<'_, PgRow> for SessionRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::console_session(row).map(Self)
    }
}

/// Stores a session under the hash of its id.
pub(super) async fn create_session(
    conn: &mut PgConnection,
    hash: &TokenHash,
    session: &ConsoleSessionRecord,
) -> sqlx_core::Result<()> {
    query(&format!("INSERT INTO console_sessions (id_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(hash.as_str())
        .bind(session.app_id.as_str())
        .bind(session.user_id.as_str())
        .bind(session.session_epoch)
        .bind(session.created_at.as_millis())
        .bind(session.last_seen_at.as_millis())
        .bind(session.expires_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// The session with this hash.
pub(super) async fn session(
    conn: &mut PgConnection,
    hash: &TokenHash,
) -> sqlx_core::Result<Option<ConsoleSessionRecord>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = $1");
    let row: Option<SessionRow> = query_as(&sql).bind(hash.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|SessionRow(session)| session))
}

/// Records a page view of the session.
pub(super) async fn touch_session(
    conn: &mut PgConnection,
    hash: &TokenHash,
    now: Timestamp,
) -> sqlx_core::Result<bool> {
    let done = query("UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1")
        .bind(hash.as_str())
        .bind(now.as_millis())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the session.
pub(super) async fn delete_session(conn: &mut PgConnection, hash: &TokenHash) -> sqlx_core::Result<bool> {
    let done = query("DELETE FROM console_sessions WHERE id_hash = $1").bind(hash.as_str()).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the sessions that ended by time, as [`EndedSessions::contains`] selects them.
pub(super) async fn delete_ended_sessions(conn: &mut PgConnection, ended: EndedSessions) -> sqlx_core::Result<u64> {
    let done = query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(ended.now.as_millis())
        .bind(ended.seen_before.as_millis())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
