//! One-time console sign-in links, and the console's stored sessions.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::console_session::ConsoleSessionRecord;
use usher_core::model::ApiKeyRecord;
use usher_core::rules::console::{self, ConsoleLinkPlan, ConsoleLinkState, EndedSessions};
use usher_core::secret::TokenHash;
use usher_core::store::{ConsoleLinkUse, NewApiKey};
use usher_core::{AppId, Timestamp};

use super::audit;
use crate::records;

/// Stores a link's hash.
pub(super) fn create_link(
    tx: &Transaction<'_>,
    app_id: &AppId,
    hash: &TokenHash,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO console_links (token_hash, app_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash.as_str(), app_id.as_str(), now.as_millis(), expires_at.as_millis()],
    )?;
    Ok(())
}

/// Uses a link as [`console::use_console_link`] decides.
pub(super) fn use_link(
    tx: &Transaction<'_>,
    hash: &TokenHash,
    key: &NewApiKey,
    now: Timestamp,
) -> rusqlite::Result<ConsoleLinkUse> {
    let link = tx
        .prepare_cached("SELECT app_id, expires_at, used_at FROM console_links WHERE token_hash = ?1")?
        .query_row(params![hash.as_str()], |row| {
            let app_id: String = row.get("app_id")?;
            let app_id = AppId::parse(&app_id)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into()))?;
            let used_at: Option<i64> = row.get("used_at")?;
            Ok(ConsoleLinkState {
                app_id,
                expires_at: Timestamp::from_millis(row.get("expires_at")?),
                used_at: used_at.map(Timestamp::from_millis),
            })
        })
        .optional()?;
    let audit = match console::use_console_link(link.as_ref(), &key.id, now) {
        ConsoleLinkPlan::Refuse(answer) => return Ok(answer),
        ConsoleLinkPlan::Use { audit } => audit,
    };
    tx.execute("UPDATE console_links SET used_at = ?2 WHERE token_hash = ?1", params![hash.as_str(), now.as_millis()])?;
    tx.execute(
        "INSERT INTO api_keys (id, app_id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key.id.as_str(), audit.app_id.as_str(), key.name, key.hash.as_str(), now.as_millis()],
    )?;
    audit::record(tx, &audit)?;
    Ok(ConsoleLinkUse::SignedIn(ApiKeyRecord {
        id: key.id.clone(),
        app_id: audit.app_id.clone(),
        name: key.name.clone(),
        created_at: now,
    }))
}

/// The columns [`records::console_session`] reads.
const SESSION_COLUMNS: &str = "app_id, user_id, session_epoch, created_at, last_seen_at, expires_at";

/// Stores a session under the hash of its id.
pub(super) fn create_session(
    tx: &Transaction<'_>,
    hash: &TokenHash,
    session: &ConsoleSessionRecord,
) -> rusqlite::Result<()> {
    tx.execute(
        &format!("INSERT INTO console_sessions (id_hash, {SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            hash.as_str(),
            session.app_id.as_str(),
            session.user_id.as_str(),
            session.session_epoch,
            session.created_at.as_millis(),
            session.last_seen_at.as_millis(),
            session.expires_at.as_millis(),
        ],
    )?;
    Ok(())
}

/// The session with this hash.
pub(super) fn session(tx: &Transaction<'_>, hash: &TokenHash) -> rusqlite::Result<Option<ConsoleSessionRecord>> {
    tx.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = ?1"))?
        .query_row(params![hash.as_str()], |row| records::console_session(row))
        .optional()
}

/// Records a page view of the session.
pub(super) fn touch_session(tx: &Transaction<'_>, hash: &TokenHash, now: Timestamp) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE console_sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
        params![hash.as_str(), now.as_millis()],
    )?;
    Ok(changed > 0)
}

/// Deletes the session.
pub(super) fn delete_session(tx: &Transaction<'_>, hash: &TokenHash) -> rusqlite::Result<bool> {
    Ok(tx.execute("DELETE FROM console_sessions WHERE id_hash = ?1", params![hash.as_str()])? > 0)
}

/// Deletes the sessions that ended by time, as [`EndedSessions::contains`] selects them.
pub(super) fn delete_ended_sessions(tx: &Transaction<'_>, ended: EndedSessions) -> rusqlite::Result<u64> {
    let deleted = tx.execute(
        "DELETE FROM console_sessions WHERE expires_at <= ?1 OR last_seen_at <= ?2",
        params![ended.now.as_millis(), ended.seen_before.as_millis()],
    )?;
    Ok(deleted as u64)
}
