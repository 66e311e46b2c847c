//! `Idempotency-Key` claims and stored responses: read the key, let
//! [`usher_core::rules::idempotency::claim_key`] decide, write its plan.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::AppId;
use usher_core::idempotency::{Claimed, KeyClaim, KeyedWrite};
use usher_core::rules::idempotency::{ClaimPlan, Completion, StoredResponse, claim_key};

use crate::records;

/// Claims `claim.key` for its request, deleting expired keys on the way.
pub(super) fn claim(tx: &Transaction<'_>, claim: &KeyClaim) -> rusqlite::Result<Claimed> {
    let now = claim.now.as_millis();
    tx.prepare_cached("DELETE FROM idempotency_keys WHERE expires_at <= ?1")?.execute([now])?;
    let found = tx
        .prepare_cached(
            "SELECT fingerprint, status, body, locked_until, expires_at FROM idempotency_keys \
             WHERE app_id = ?1 AND key = ?2",
        )?
        .query_row(params![claim.app_id.as_str(), claim.key], |row| records::stored_key(row))
        .optional()?;
    Ok(match claim_key(found.as_ref(), &claim.fingerprint, claim.now) {
        ClaimPlan::Claim { locked_until, expires_at } => {
            tx.prepare_cached(
                "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, body, locked_until, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, ?6) \
                 ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, body = NULL, \
                 locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at",
            )?
            .execute(params![
                claim.app_id.as_str(),
                claim.key,
                claim.fingerprint,
                locked_until.as_millis(),
                expires_at.as_millis(),
                now
            ])?;
            Claimed::Fresh
        }
        ClaimPlan::Replay(response) => Claimed::Replay(response),
        ClaimPlan::Reused => Claimed::Reused,
        ClaimPlan::InUse => Claimed::InUse,
    })
}

/// Writes, in the transaction that did the work `done`, what `key` decides to keep of its
/// response: the work and its stored response are committed together.
pub(super) fn finish<T: ?Sized>(tx: &Transaction<'_>, key: &KeyedWrite<T>, done: &T) -> rusqlite::Result<()> {
    match key.completion(done) {
        Completion::Store(response) => complete(tx, &key.app_id, &key.key, &response),
        Completion::Release => release(tx, &key.app_id, &key.key),
    }
}

/// Stores the response of the request holding `key`, unless it has one.
pub(super) fn complete(
    tx: &Transaction<'_>,
    app_id: &AppId,
    key: &str,
    response: &StoredResponse,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE app_id = ?1 AND key = ?2 AND status IS NULL",
    )?
    .execute(params![app_id.as_str(), key, i64::from(response.status), response.body])?;
    Ok(())
}

/// Gives up the claim on `key` if it has no response.
pub(super) fn release(tx: &Transaction<'_>, app_id: &AppId, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM idempotency_keys WHERE app_id = ?1 AND key = ?2 AND status IS NULL")?
        .execute(params![app_id.as_str(), key])?;
    Ok(())
}
