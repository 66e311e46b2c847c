//! `Idempotency-Key` claims and stored responses (see the SQLite twin). The key's advisory
//! lock is taken first, so two requests with one key cannot both find it free.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::AppId;
use usher_core::idempotency::{Claimed, KeyClaim, KeyedRows, KeyedWrite, RowDone};
use usher_core::rules::idempotency::{ClaimPlan, Completion, RowPlan, StoredKey, StoredResponse, claim_key};
use usher_core::store::InviteCommand;

use super::locks;
use crate::records;

/// A [`StoredKey`] as `idempotency_keys` holds it.
struct KeyRow(StoredKey);

impl FromRow<'_, PgRow> for KeyRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::stored_key(row).map(Self)
    }
}

/// Claims `claim.key` for its request, deleting expired keys on the way.
pub(super) async fn claim(conn: &mut PgConnection, claim: &KeyClaim) -> sqlx_core::Result<Claimed> {
    let now = claim.now.as_millis();
    locks::idempotency_key(conn, &claim.app_id, &claim.key).await?;
    query("DELETE FROM idempotency_keys WHERE expires_at <= $1").bind(now).execute(&mut *conn).await?;
    let found: Option<KeyRow> = query_as(
        "SELECT fingerprint, status, body, locked_until, expires_at FROM idempotency_keys \
         WHERE app_id = $1 AND key = $2",
    )
    .bind(claim.app_id.as_str())
    .bind(&claim.key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match claim_key(found.map(|row| row.0).as_ref(), &claim.fingerprint, claim.now) {
        ClaimPlan::Claim { locked_until, expires_at } => {
            query(
                "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, body, locked_until, expires_at, created_at) \
                 VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6) \
                 ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, body = NULL, \
                 locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at",
            )
            .bind(claim.app_id.as_str())
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(locked_until.as_millis())
            .bind(expires_at.as_millis())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Claimed::Fresh
        }
        ClaimPlan::Replay(response) => Claimed::Replay(response),
        ClaimPlan::Reused => Claimed::Reused,
        ClaimPlan::InUse => Claimed::InUse,
    })
}

/// Writes, in the transaction that did the work `done`, what `key` decides to keep of its
/// response: the work and its stored response are committed together.
pub(super) async fn finish<T: ?Sized>(conn: &mut PgConnection, key: &KeyedWrite<T>, done: &T) -> sqlx_core::Result<()> {
    match key.completion(done) {
        Completion::Store(response) => complete(conn, &key.app_id, &key.key, &response).await,
        Completion::Release => release(conn, &key.app_id, &key.key).await,
    }
}

/// Stores the response of the request holding `key`, unless it has one.
pub(super) async fn complete(
    conn: &mut PgConnection,
    app_id: &AppId,
    key: &str,
    response: &StoredResponse,
) -> sqlx_core::Result<()> {
    query("UPDATE idempotency_keys SET status = $3, body = $4 WHERE app_id = $1 AND key = $2 AND status IS NULL")
        .bind(app_id.as_str())
        .bind(key)
        .bind(i64::from(response.status))
        .bind(&response.body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives up the claim on `key` if it has no response.
pub(super) async fn release(conn: &mut PgConnection, app_id: &AppId, key: &str) -> sqlx_core::Result<()> {
    query("DELETE FROM idempotency_keys WHERE app_id = $1 AND key = $2 AND status IS NULL")
        .bind(app_id.as_str())
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// A bulk invite with keys per row, in the transaction `conn` (see the SQLite twin). Every
/// row key's advisory lock is taken first, in one order, so two batches sharing keys wait for
/// each other instead of both finding a key free.
pub(super) async fn invite_rows(
    conn: &mut PgConnection,
    cmds: &[InviteCommand],
    rows: &KeyedRows,
) -> sqlx_core::Result<Vec<RowDone>> {
    let keys = rows.distinct_keys();
    for key in &keys {
        locks::idempotency_key(conn, &rows.app_id, key).await?;
    }
    query("DELETE FROM idempotency_keys WHERE expires_at <= $1").bind(rows.now.as_millis()).execute(&mut *conn).await?;
    let found: Vec<(String, KeyRow)> = if keys.is_empty() {
        Vec::new()
    } else {
        let stored: Vec<KeyedRow> = query_as(
            "SELECT key, fingerprint, status, body, locked_until, expires_at FROM idempotency_keys \
             WHERE app_id = $1 AND key = ANY($2)",
        )
        .bind(rows.app_id.as_str())
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await?;
        stored.into_iter().map(|row| (row.0, row.1)).collect()
    };
    let found: std::collections::HashMap<String, StoredKey> =
        found.into_iter().map(|(key, row)| (key, row.0)).collect();
    let plans = rows.plan(|key| found.get(key).cloned());
    let mut done = Vec::with_capacity(cmds.len());
    for (index, (cmd, plan)) in cmds.iter().zip(plans).enumerate() {
        done.push(match plan {
            RowPlan::Run => {
                let mut invited = super::webhooks::invite_batch(conn, std::slice::from_ref(cmd)).await?;
                let invited = invited.remove(0);
                if let Some((key, kept)) = rows.kept(index, &invited) {
                    keep(conn, &rows.app_id, key, &kept).await?;
                } else if let Some(key) = rows.key(index) {
                    release(conn, &rows.app_id, key).await?;
                }
                RowDone::Invited(invited)
            }
            RowPlan::Replay(response) => RowDone::Replayed(response),
            RowPlan::Reused => RowDone::Reused,
            RowPlan::InUse => RowDone::InUse,
        });
    }
    Ok(done)
}

/// A stored key with its name.
struct KeyedRow(String, KeyRow);

impl FromRow<'_, PgRow> for KeyedRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        use sqlx_core::row::Row;
        Ok(Self(row.try_get("key")?, KeyRow::from_row(row)?))
    }
}

/// Writes a row's finished key, replacing a stale claim the plan took over.
async fn keep(conn: &mut PgConnection, app_id: &AppId, key: &str, kept: &StoredKey) -> sqlx_core::Result<()> {
    let response = kept.response.as_ref();
    query(
        "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, body, locked_until, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, \
         body = excluded.body, locked_until = excluded.locked_until, expires_at = excluded.expires_at, \
         created_at = excluded.created_at",
    )
    .bind(app_id.as_str())
    .bind(key)
    .bind(&kept.fingerprint)
    .bind(response.map(|r| i64::from(r.status)))
    .bind(response.map(|r| r.body.as_str()))
    .bind(kept.locked_until.as_millis())
    .bind(kept.expires_at.as_millis())
    .bind(kept.locked_until.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}
