//! One-time console sign-in links.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::ApiKeyRecord;
use usher_core::rules::console::{self, ConsoleLinkPlan, ConsoleLinkState};
use usher_core::secret::TokenHash;
use usher_core::store::{ConsoleLinkUse, NewApiKey};
use usher_core::{AppId, Timestamp};

use super::audit;

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
