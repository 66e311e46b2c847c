//! The registry of running server instances, whose claims on outbox messages last as long as
//! they do (see the SQLite twin for the whole story).
//!
//! Instances on PostgreSQL run on any number of machines, so a dead one is found by its
//! silence: an instance that has itself reached the database without a gap for the whole
//! window forgets every instance whose heartbeat is older than the window, and releases their
//! claims. Requiring the judge's own unbroken run means a database outage, which silences
//! every instance at once, never gets a live instance presumed dead when the database returns.
//!
//! Claims and forgetting cannot cross: a claim takes a share lock on its instance's row, so
//! forgetting an instance waits for a claim in progress, and the release that follows (a new
//! statement, at READ COMMITTED) sees what that claim committed.

use std::time::Duration;

use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgConnection;
use usher_core::rules::outbox::may_judge_others;
use usher_core::store::Renewal;
use usher_core::{InstanceId, Timestamp};

/// Why a released message's last attempt has no result.
const RELEASED: &str = "the instance sending it stopped before recording the result";

/// Inserts (or restarts) instance `id` at `now`, and releases claims left without an instance.
pub(super) async fn register(conn: &mut PgConnection, id: &InstanceId, now: Timestamp) -> sqlx_core::Result<()> {
    query(
        "INSERT INTO instances (id, alive_since, heartbeat_at, created_at) VALUES ($1, $2, $2, $2) \
         ON CONFLICT (id) DO UPDATE SET alive_since = excluded.alive_since, heartbeat_at = excluded.heartbeat_at",
    )
    .bind(id.as_str())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    release_orphans(conn).await?;
    Ok(())
}

/// Renews `id`'s heartbeat; see [`usher_core::Store::renew_instance`].
pub(super) async fn renew(
    conn: &mut PgConnection,
    id: &InstanceId,
    now: Timestamp,
    dead_after: Duration,
) -> sqlx_core::Result<Renewal> {
    let now_ms = now.as_millis();
    let window = i64::try_from(dead_after.as_millis()).unwrap_or(i64::MAX);
    // A gap of more than half the window (this process paused, or the database was out of
    // reach) starts a new run: others may have missed their heartbeats meanwhile.
    let alive_since: Option<i64> = query_scalar(
        "UPDATE instances \
         SET alive_since = CASE WHEN heartbeat_at < $2 - $3 / 2 THEN $2 ELSE alive_since END, heartbeat_at = $2 \
         WHERE id = $1 RETURNING alive_since",
    )
    .bind(id.as_str())
    .bind(now_ms)
    .bind(window)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(alive_since) = alive_since else { return Ok(Renewal { is_registered: false, released: 0 }) };
    if !may_judge_others(Timestamp::from_millis(alive_since), now, dead_after) {
        return Ok(Renewal { is_registered: true, released: 0 });
    }
    query("DELETE FROM instances WHERE heartbeat_at < $1").bind(now_ms - window).execute(&mut *conn).await?;
    Ok(Renewal { is_registered: true, released: release_orphans(conn).await? })
}

/// Forgets `id` and releases its claims.
pub(super) async fn deregister(conn: &mut PgConnection, id: &InstanceId) -> sqlx_core::Result<()> {
    query("DELETE FROM instances WHERE id = $1").bind(id.as_str()).execute(&mut *conn).await?;
    release_orphans(conn).await?;
    Ok(())
}

/// Whether `by` is registered; while the calling transaction runs, `by` cannot be forgotten.
pub(super) async fn lock_registration(conn: &mut PgConnection, by: &InstanceId) -> sqlx_core::Result<bool> {
    let found: Option<i32> =
        query_scalar("SELECT 1 FROM instances WHERE id = $1 FOR SHARE").bind(by.as_str()).fetch_optional(conn).await?;
    Ok(found.is_some())
}

/// Releases every claim whose instance is no longer registered. Returns how many.
async fn release_orphans(conn: &mut PgConnection) -> sqlx_core::Result<u64> {
    let sql = release_sql("NOT EXISTS (SELECT 1 FROM instances WHERE instances.id = m.claimed_by)");
    Ok(query(&sql).bind(RELEASED).execute(conn).await?.rows_affected())
}

/// Releases what `by` still holds from an earlier claim: a worker claims again only once it
/// has recorded the outcome of everything it claimed before, so these are claims whose outcome
/// could not be recorded (the database failed meanwhile).
pub(super) async fn release_claims_of(conn: &mut PgConnection, by: &InstanceId) -> sqlx_core::Result<u64> {
    let sql = release_sql("m.claimed_by = $2");
    Ok(query(&sql).bind(RELEASED).bind(by.as_str()).execute(conn).await?.rows_affected())
}

/// The release of the claims `whose` (a condition on `m`, a `sending` message): each message is
/// queued again (due at once, its attempt counted), or cancelled when its invitation has a
/// newer message (its link no longer works; for a reminder: a newer link). Rows another transaction is recording are skipped
/// (the next release sees what it recorded).
fn release_sql(whose: &str) -> String {
    format!(
        "UPDATE outbox_messages \
         SET status = CASE WHEN orphans.superseded THEN 'cancelled' ELSE 'queued' END, \
             token = CASE WHEN orphans.superseded THEN NULL ELSE outbox_messages.token END, \
             claimed_by = NULL, last_error = $1 \
         FROM (SELECT m.id, COALESCE(CASE WHEN m.kind = 'reminder' THEN i.expires_at <> m.expires_at \
                                          ELSE i.latest_message_id <> m.id END, FALSE) AS superseded \
               FROM outbox_messages m LEFT JOIN invitations i ON i.id = m.invitation_id \
               WHERE m.status = 'sending' AND m.claimed_by IS NOT NULL AND {whose} \
               FOR UPDATE OF m SKIP LOCKED) AS orphans \
         WHERE outbox_messages.id = orphans.id"
    )
}
