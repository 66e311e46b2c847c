//! `Idempotency-Key` claims and stored responses: read the key, let
//! [`usher_core::rules::idempotency::claim_key`] decide, write its plan.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::AppId;
use usher_core::idempotency::{Claimed, KeyClaim, KeyedRows, KeyedWrite, RowDone};
use usher_core::rules::idempotency::{ClaimPlan, Completion, StoredResponse, claim_key};
use usher_core::rules::idempotency::{RowPlan, StoredKey};
use usher_core::store::InviteCommand;

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

/// A bulk invite with keys per row, in the transaction `tx`: each row decided by
/// [`usher_core::rules::idempotency::plan_rows`] on what its key holds, the rows that run
/// invited, and their results written under their keys before the commit.
pub(super) fn invite_rows(
    tx: &Transaction<'_>,
    cmds: &[InviteCommand],
    rows: &KeyedRows,
) -> rusqlite::Result<Vec<RowDone>> {
    let app_id = rows.app_id.as_str();
    tx.prepare_cached("DELETE FROM idempotency_keys WHERE expires_at <= ?1")?.execute([rows.now.as_millis()])?;
    let mut found = std::collections::HashMap::new();
    for key in rows.distinct_keys() {
        let stored = tx
            .prepare_cached(
                "SELECT fingerprint, status, body, locked_until, expires_at FROM idempotency_keys \
                 WHERE app_id = ?1 AND key = ?2",
            )?
            .query_row(params![app_id, key], |row| records::stored_key(row))
            .optional()?;
        if let Some(stored) = stored {
            found.insert(key.to_owned(), stored);
        }
    }
    let plans = rows.plan(|key| found.get(key).cloned());
    let mut done = Vec::with_capacity(cmds.len());
    for (index, (cmd, plan)) in cmds.iter().zip(plans).enumerate() {
        done.push(match plan {
            RowPlan::Run => {
                let invited = super::invite_batch(tx, std::slice::from_ref(cmd))?.remove(0);
                if let Some((key, kept)) = rows.kept(index, &invited) {
                    keep(tx, &rows.app_id, key, &kept)?;
                } else if let Some(key) = rows.key(index) {
                    release(tx, &rows.app_id, key)?;
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

/// Writes a row's finished key, replacing a stale claim the plan took over.
fn keep(tx: &Transaction<'_>, app_id: &AppId, key: &str, kept: &StoredKey) -> rusqlite::Result<()> {
    let response = kept.response.as_ref();
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, body, locked_until, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, \
         body = excluded.body, locked_until = excluded.locked_until, expires_at = excluded.expires_at, \
         created_at = excluded.created_at",
    )?
    .execute(params![
        app_id.as_str(),
        key,
        kept.fingerprint,
        response.map(|r| i64::from(r.status)),
        response.map(|r| r.body.as_str()),
        kept.locked_until.as_millis(),
        kept.expires_at.as_millis(),
        kept.locked_until.as_millis()
    ])?;
    Ok(())
}
