//! One-time console sign-in links.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgConnection;
use usher_core::model::ApiKeyRecord;
use usher_core::rules::console::{self, ConsoleLinkPlan, ConsoleLinkState};
use usher_core::secret::TokenHash;
use usher_core::store::{ConsoleLinkUse, NewApiKey};
use usher_core::{AppId, Timestamp};

use super::rows::parsed;
use super::{apps, audit};

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
