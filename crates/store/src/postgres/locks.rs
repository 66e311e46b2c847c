//! Advisory locks that serialise the transactions about one address, as SQLite's single writer
//! serialises every transaction.
//!
//! The rules of inviting are decisions on what a transaction reads (is there a member, a
//! pending invitation, a recent email?), so two transactions about one address must not both
//! read before either writes. Every transaction that decides something about an address of an
//! app first takes that address's lock, exclusive, for the rest of the transaction; at READ
//! COMMITTED its later statements then see whatever the previous holder committed. A batch of
//! invites takes its app's lock exclusive instead of one lock per address (a thousand locks
//! would crowd PostgreSQL's shared lock table), and single-address transactions hold the app's
//! lock shared, so they wait for a running batch and never for each other.
//!
//! Keys use the two-integer form, whose key space is separate from the one-`bigint` form that
//! sqlx's migrator locks with. The second integer is a 32-bit hash: two addresses that collide
//! merely wait for each other.

use sqlx_core::query::query;
use sqlx_postgres::PgConnection;
use usher_core::{AppId, EmailAddress};

/// The first key of an app's lock ("Ush" and 1).
const APP_LOCKS: i32 = 0x5573_6801;
/// The first key of an address's lock ("Ush" and 2).
const ADDRESS_LOCKS: i32 = 0x5573_6802;

/// Takes `app_id`'s lock shared and the lock of `email` in it exclusive, until the transaction
/// ends.
pub(super) async fn address(conn: &mut PgConnection, app_id: &AppId, email: &EmailAddress) -> sqlx_core::Result<()> {
    // The order of the two does not matter: a batch never waits for an address lock.
    query("SELECT pg_advisory_xact_lock_shared($1, $2), pg_advisory_xact_lock($3, $4)")
        .bind(APP_LOCKS)
        .bind(key(app_id.as_str()))
        .bind(ADDRESS_LOCKS)
        .bind(key(&format!("{app_id} {email}")))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the locks of these apps exclusive until the transaction ends, in one global order so
/// that two batches cannot deadlock.
pub(super) async fn apps<'a>(
    conn: &mut PgConnection,
    app_ids: impl IntoIterator<Item = &'a AppId>,
) -> sqlx_core::Result<()> {
    let mut keys: Vec<i32> = app_ids.into_iter().map(|id| key(id.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    for app_key in keys {
        query("SELECT pg_advisory_xact_lock($1, $2)").bind(APP_LOCKS).bind(app_key).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The first key of an `Idempotency-Key`'s lock ("Ush" and "I").
const IDEMPOTENCY_KEY_LOCKS: i32 = 0x5573_6849;

/// Takes the lock of `key` of `app_id` exclusive until the transaction ends.
pub(super) async fn idempotency_key(conn: &mut PgConnection, app_id: &AppId, key: &str) -> sqlx_core::Result<()> {
    query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(IDEMPOTENCY_KEY_LOCKS)
        .bind(self::key(&format!("{app_id} {key}")))
        .execute(conn)
        .await?;
    Ok(())
}

/// A stable 32-bit hash (FNV-1a) of `text`. Computed here rather than with PostgreSQL's
/// internal `hashtext`, so every instance and server version agrees on it.
fn key(text: &str) -> i32 {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    i32::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_fnv1a_so_every_instance_computes_the_same_one() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(key(""), i32::from_ne_bytes(0x811c_9dc5_u32.to_ne_bytes()));
        assert_eq!(key("a"), i32::from_ne_bytes(0xe40c_292c_u32.to_ne_bytes()));
        assert_eq!(key("foobar"), i32::from_ne_bytes(0xbf9c_f968_u32.to_ne_bytes()));
    }
}
