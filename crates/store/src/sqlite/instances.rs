//! The registry of running server instances, whose claims on outbox messages last as long as
//! they do.
//!
//! An instance registers when its delivery worker starts, renews its heartbeat every few
//! seconds, and deregisters when it stops cleanly. Its claimed messages name it
//! (`outbox_messages.claimed_by`); when it is forgotten they are released.
//!
//! Two ways an instance is found gone. Its heartbeat stops: an instance that has itself reached
//! the database without a gap for the whole window forgets every instance whose heartbeat is
//! older than the window (the same rule and SQL as on PostgreSQL). And, on SQLite only, its
//! process ends: each instance holds an exclusive operating-system lock on a file of its own in
//! `{database}-instances/` for as long as its process lives, so an instance starting on the
//! same file can tell at once which registered instances are gone, however recent their last
//! heartbeat, and releases their claims before it claims anything itself.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::rules::outbox::may_judge_others;
use usher_core::store::Renewal;
use usher_core::{InstanceId, Timestamp};

/// Why a released message's last attempt has no result.
pub(super) const RELEASED: &str = "the instance sending it stopped before recording the result";

/// Inserts (or restarts) instance `id` at `now`.
pub(super) fn register(tx: &Transaction<'_>, id: &InstanceId, now: Timestamp) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO instances (id, alive_since, heartbeat_at, created_at) VALUES (?1, ?2, ?2, ?2) \
         ON CONFLICT (id) DO UPDATE SET alive_since = excluded.alive_since, heartbeat_at = excluded.heartbeat_at",
        params![id.as_str(), now.as_millis()],
    )?;
    Ok(())
}

/// Every registered instance's id.
pub(super) fn all(tx: &Transaction<'_>) -> rusqlite::Result<Vec<String>> {
    tx.prepare("SELECT id FROM instances")?.query_map([], |row| row.get(0))?.collect()
}

/// Forgets the instances `ids` and releases their claims.
pub(super) fn forget(tx: &Transaction<'_>, ids: &[String]) -> rusqlite::Result<u64> {
    for id in ids {
        tx.execute("DELETE FROM instances WHERE id = ?1", [id])?;
    }
    release_orphans(tx)
}

/// Renews `id`'s heartbeat; see [`usher_core::Store::renew_instance`].
pub(super) fn renew(
    tx: &Transaction<'_>,
    id: &InstanceId,
    now: Timestamp,
    dead_after: Duration,
) -> rusqlite::Result<Renewal> {
    let now_ms = now.as_millis();
    let window = millis(dead_after);
    let alive_since: Option<i64> = tx
        .prepare_cached(
            // A gap of more than half the window (this process paused, or the database was out
            // of reach) starts a new run: others may have missed their heartbeats meanwhile.
            "UPDATE instances \
             SET alive_since = CASE WHEN heartbeat_at < ?2 - ?3 / 2 THEN ?2 ELSE alive_since END, heartbeat_at = ?2 \
             WHERE id = ?1 RETURNING alive_since",
        )?
        .query_row(params![id.as_str(), now_ms, window], |row| row.get(0))
        .optional()?;
    let Some(alive_since) = alive_since else { return Ok(Renewal { is_registered: false, released: 0 }) };
    if !may_judge_others(Timestamp::from_millis(alive_since), now, dead_after) {
        return Ok(Renewal { is_registered: true, released: 0 });
    }
    tx.prepare_cached("DELETE FROM instances WHERE heartbeat_at < ?1")?.execute([now_ms - window])?;
    Ok(Renewal { is_registered: true, released: release_orphans(tx)? })
}

/// Forgets `id` and releases its claims.
pub(super) fn deregister(tx: &Transaction<'_>, id: &InstanceId) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM instances WHERE id = ?1", [id.as_str()])?;
    release_orphans(tx)?;
    Ok(())
}

/// Whether `by` is registered.
pub(super) fn is_registered(tx: &Transaction<'_>, by: &InstanceId) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM instances WHERE id = ?1)")?
        .query_row([by.as_str()], |row| row.get(0))
}

/// Releases every claim whose instance is no longer registered. Returns how many.
fn release_orphans(tx: &Transaction<'_>) -> rusqlite::Result<u64> {
    let released = tx
        .prepare_cached(&release_sql("NOT EXISTS (SELECT 1 FROM instances WHERE id = m.claimed_by)"))?
        .execute([RELEASED])?;
    Ok(released as u64)
}

/// Releases what `by` still holds from an earlier claim: a worker claims again only once it
/// has recorded the outcome of everything it claimed before, so these are claims whose outcome
/// could not be recorded (the database failed meanwhile).
pub(super) fn release_claims_of(tx: &Transaction<'_>, by: &InstanceId) -> rusqlite::Result<u64> {
    let released = tx.prepare_cached(&release_sql("m.claimed_by = ?2"))?.execute(params![RELEASED, by.as_str()])?;
    Ok(released as u64)
}

/// The release of the claims `whose` (a condition on `m`, a `sending` message): each message is
/// queued again (due at once, its attempt counted), or cancelled when its invitation has a
/// newer message (its link no longer works; for a reminder: a newer link).
fn release_sql(whose: &str) -> String {
    format!(
        "UPDATE outbox_messages \
         SET status = CASE WHEN superseded THEN 'cancelled' ELSE 'queued' END, \
             token = CASE WHEN superseded THEN NULL ELSE token END, \
             claimed_by = NULL, last_error = ?1 \
         FROM (SELECT m.id AS orphan, COALESCE(CASE WHEN m.kind = 'reminder' THEN i.expires_at <> m.expires_at \
                                          ELSE i.latest_message_id <> m.id END, 0) AS superseded \
               FROM outbox_messages m LEFT JOIN invitations i ON i.id = m.invitation_id \
               WHERE m.status = 'sending' AND m.claimed_by IS NOT NULL AND {whose}) \
         WHERE outbox_messages.id = orphan"
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The lock files of the instances registered through this store: one per instance, held
/// (locked) for as long as this process runs.
pub(super) struct LockFiles {
    dir: PathBuf,
    held: Mutex<HashMap<String, File>>,
}

impl LockFiles {
    /// The lock files beside the database `database`.
    pub(super) fn beside(database: &Path) -> Self {
        let mut dir = database.as_os_str().to_owned();
        dir.push("-instances");
        Self { dir: PathBuf::from(dir), held: Mutex::default() }
    }

    /// Creates and locks `id`'s file; it stays locked until this process ends or [`Self::remove`].
    pub(super) fn hold(&self, id: &InstanceId) -> std::io::Result<()> {
        if self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(id.as_str()) {
            // Registering again after being presumed dead: the lock is ours already.
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let file = File::options().create(true).truncate(false).write(true).open(self.path(id.as_str()))?;
        file.try_lock().map_err(|err| match err {
            TryLockError::WouldBlock => std::io::Error::new(ErrorKind::AlreadyExists, "instance id in use"),
            TryLockError::Error(err) => err,
        })?;
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.as_str().to_owned(), file);
        Ok(())
    }

    /// Of `ids`, the instances whose process is gone: no lock file, or one nobody holds. The
    /// files of the gone ones stay locked by this process until [`Self::remove_all`].
    pub(super) fn gone(&self, ids: &[String]) -> std::io::Result<Vec<(String, Option<File>)>> {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut gone = Vec::new();
        for id in ids.iter().filter(|id| !held.contains_key(*id)) {
            match File::options().write(true).open(self.path(id)) {
                Err(err) if err.kind() == ErrorKind::NotFound => gone.push((id.clone(), None)),
                Err(err) => return Err(err),
                Ok(file) => match file.try_lock() {
                    Ok(()) => gone.push((id.clone(), Some(file))),
                    Err(TryLockError::WouldBlock) => {}
                    Err(TryLockError::Error(err)) => return Err(err),
                },
            }
        }
        Ok(gone)
    }

    /// Removes the files of instances found gone (their rows are forgotten).
    pub(super) fn remove_all(&self, gone: Vec<(String, Option<File>)>) {
        for (id, file) in gone {
            // Removed while still locked by this process, so no one else mistakes it.
            let _ = std::fs::remove_file(self.path(&id));
            drop(file);
        }
    }

    /// Unlocks and removes `id`'s file, after a clean deregistration.
    pub(super) fn remove(&self, id: &InstanceId) {
        let file = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id.as_str());
        let _ = std::fs::remove_file(self.path(id.as_str()));
        drop(file);
    }

    fn path(&self, id: &str) -> PathBuf {
        // Ids are 24 hex characters; anything else in the table is not a file name to follow.
        let name = if InstanceId::parse(id).is_ok() { id } else { "invalid" };
        self.dir.join(format!("{name}.lock"))
    }
}
