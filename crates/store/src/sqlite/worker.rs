//! The thread that owns the SQLite connection, and the one place rusqlite errors become
//! [`StoreError`]s.
//!
//! Every store method is a job: a closure sent over a channel to this thread, run against the
//! connection, and answered through a oneshot channel the async caller awaits. One writer
//! means SQLite never sees two write transactions of this process compete for its lock.
//!
//! **Group commit.** Write jobs that are already queued when one starts run together in one
//! `IMMEDIATE` transaction and share one commit (one fsync with `synchronous=FULL`). Every
//! caller hears back only after the commit, so an answer still means the write is on disk.
//! Under load this turns many small commits into few larger ones; alone, a write costs what it
//! did before. A job that fails (or panics) fails alone: the batch is rolled back and run
//! again with each job in its own savepoint, so the others still commit. Jobs therefore may
//! run twice, which is why they are `Fn`; the first run, savepoint-free, is the common case
//! (rules that refuse an invite answer with a value, not an error).
//!
//! Reads run on separate reader connections (WAL lets them work beside the writer) when the
//! store has them, else on this thread.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use tokio::sync::{Semaphore, oneshot};
use usher_core::StoreError;

/// Most write jobs committed together.
const MAX_BATCH: usize = 256;

/// A write job: runs inside a shared transaction, perhaps twice, and answers its caller once
/// the commit is known.
trait WriteJob: Send {
    /// Runs the job in `tx` and keeps its outcome; false when it failed.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;

    /// Keeps `error` as the job's outcome, for a job that could not run.
    fn fail(&mut self, error: rusqlite::Error);

    /// Answers the caller: with the kept outcome, or with the commit's failure (`Some(reason)`).
    fn answer(self: Box<Self>, commit_failure: Option<&rusqlite::Error>);
}

/// A write job for [`Worker::write`].
struct Pending<T, F> {
    f: F,
    outcome: Option<rusqlite::Result<T>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send,
    F: Fn(&Transaction<'_>) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let outcome = (self.f)(tx);
        let ran = outcome.is_ok();
        self.outcome = Some(outcome);
        ran
    }

    fn fail(&mut self, error: rusqlite::Error) {
        self.outcome = Some(Err(error));
    }

    fn answer(self: Box<Self>, commit_failure: Option<&rusqlite::Error>) {
        let outcome = match (commit_failure, self.outcome) {
            (Some(err), _) => Err(commit_error(err)),
            (None, Some(outcome)) => outcome.map_err(map_err),
            // It never finished running (it panicked): the dropped reply tells the caller.
            (None, None) => return,
        };
        // The caller may have stopped waiting (a cancelled request); the work stands anyway.
        let _ = self.reply.send(outcome);
    }
}

/// A unit of work for the connection's thread.
enum Job {
    /// Runs on its own (reads).
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside a shared write transaction, in its own savepoint.
    Write(Box<dyn WriteJob>),
}

/// The handle to the connection's thread; dropping it ends the thread.
pub(super) struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    readers: Option<Arc<Readers>>,
}

/// Connections that only read, next to the writer (WAL lets readers and one writer work at
/// once), so reads neither wait behind writes nor slow the writer's thread down.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    available: Semaphore,
}

impl Worker {
    /// Moves `conn` onto a new thread that runs jobs until the worker is dropped; `readers`
    /// (possibly none) serve reads.
    pub(super) fn spawn(mut conn: Connection, readers: Vec<Connection>) -> std::io::Result<Self> {
        let readers = (!readers.is_empty())
            .then(|| Arc::new(Readers { available: Semaphore::new(readers.len()), idle: Mutex::new(readers) }));
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("usher-sqlite".into()).spawn(move || {
            let mut next = queue.recv().ok();
            while let Some(job) = next.take() {
                match job {
                    // A panicking job must not take the database down for everyone: its caller
                    // sees the dropped reply as an error, its open transaction rolls back as it
                    // unwinds, and the thread goes on with the next job.
                    Job::Alone(run) => {
                        let _ = catch_unwind(AssertUnwindSafe(|| run(&mut conn)));
                    }
                    Job::Write(first) => {
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match queue.try_recv() {
                                Ok(Job::Write(write)) => batch.push(write),
                                Ok(alone) => {
                                    next = Some(alone);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        let (size, started) = (batch.len(), std::time::Instant::now());
                        commit_batch(&mut conn, batch);
                        crate::record_commit("sqlite", size, started);
                    }
                }
                if next.is_none() {
                    next = queue.recv().ok();
                }
            }
        })?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread), readers })
    }

    /// Runs `f` in an `IMMEDIATE` transaction; its writes are committed only when `f`
    /// succeeds. `f` may run twice (see the module's notes); only the last run counts.
    ///
    /// `IMMEDIATE` takes the write lock up front, so a transaction that reads before it writes
    /// (as most here do) never fails half-way because another process wrote in between.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Write(Box::new(Pending { f, outcome: None, reply })))?;
        answer.await.map_err(|_| StoreError::Backend(Box::new(WorkerGone)))?
    }

    /// Runs `f` in a read transaction, so queries spanning several statements see one snapshot:
    /// on a reader connection when there are any, else on the writer's thread.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let read = move |conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            f(&tx)
        };
        let Some(readers) = &self.readers else { return self.run(read).await };
        let gone = || StoreError::Backend(Box::new(WorkerGone));
        let _permit = readers.available.acquire().await.map_err(|_| gone())?;
        let mut conn = readers.idle.lock().map_err(|_| gone())?.pop().ok_or_else(gone)?;
        let readers = readers.clone();
        tokio::task::spawn_blocking(move || {
            // The connection goes back to the pool even when the job panics.
            let result = catch_unwind(AssertUnwindSafe(|| read(&mut conn)));
            if let Ok(mut idle) = readers.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|_| gone())?
        .map_err(|_| gone())?
        .map_err(map_err)
    }

    /// Sends `f` to the connection's thread and waits for its answer.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Alone(Box::new(move |conn| {
            // The caller may have stopped waiting (a cancelled request); the work stands anyway.
            let _ = reply.send(f(conn).map_err(map_err));
        }));
        self.send(job)?;
        answer.await.map_err(|_| StoreError::Backend(Box::new(WorkerGone)))?
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .ok_or(WorkerGone)
            .and_then(|jobs| jobs.send(job).map_err(|_| WorkerGone))
            .map_err(|gone| StoreError::Backend(Box::new(gone)))
    }
}

/// Runs `job` in a savepoint of `tx`: kept when it succeeds, rolled back when it fails, so one
/// job's failure leaves the rest of its batch untouched.
fn in_savepoint(tx: &Transaction<'_>, job: &mut dyn WriteJob) {
    // Cached statements: these run twice per job, and parsing them showed in profiles.
    if let Err(err) = tx.prepare_cached("SAVEPOINT job").and_then(|mut savepoint| savepoint.execute([])) {
        return job.fail(err);
    }
    let guard = SavepointGuard(tx);
    let ran = job.run(tx);
    std::mem::forget(guard);
    let ended = if ran {
        tx.prepare_cached("RELEASE job").and_then(|mut release| release.execute([])).map(drop)
    } else {
        tx.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    if let Err(err) = ended {
        job.fail(err);
    }
}

/// Rolls the savepoint back if the job panics, so its half-done writes are not committed with
/// the rest of the batch.
struct SavepointGuard<'a, 'c>(&'a Transaction<'c>);

impl Drop for SavepointGuard<'_, '_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK TO job; RELEASE job");
    }
}

/// Runs `batch` in one `IMMEDIATE` transaction and answers every job after the commit: first
/// every job straight in the transaction; if one fails or panics, everything again, each job
/// in a savepoint of its own.
fn commit_batch(conn: &mut Connection, mut batch: Vec<Box<dyn WriteJob>>) {
    let Ok(tx) = begin(conn) else {
        // Nothing ran; dropping the jobs drops their replies, so every caller hears an error.
        return;
    };
    let all_ran = catch_unwind(AssertUnwindSafe(|| batch.iter_mut().all(|job| job.run(&tx)))).unwrap_or(false);
    let (tx, batch) = if all_ran {
        (tx, batch)
    } else {
        drop(tx);
        let Ok(tx) = begin(conn) else { return };
        // A job that panics again is dropped here, its savepoint rolled back by the guard.
        let batch = batch
            .into_iter()
            .filter_map(|mut job| catch_unwind(AssertUnwindSafe(|| in_savepoint(&tx, &mut *job))).ok().map(|()| job))
            .collect();
        (tx, batch)
    };
    let failure = tx.commit().err();
    for job in batch {
        job.answer(failure.as_ref());
    }
}

/// What a failed commit tells each caller of its batch: a full disk and a lock held too long
/// are conditions that pass, anything else a failure.
fn commit_error(err: &rusqlite::Error) -> StoreError {
    let message: Box<dyn std::error::Error + Send + Sync> = format!("commit failed: {err}").into();
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::StorageFull(message),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(message),
        _ => StoreError::Backend(message),
    }
}

fn begin(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

impl Drop for Worker {
    /// Closes the queue and waits for the thread to finish the jobs already queued, so the
    /// database file is closed (and its write-ahead log checkpointed) when the store is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connection's thread stopped or dropped a job without answering.
#[derive(Debug)]
struct WorkerGone;

impl fmt::Display for WorkerGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the SQLite connection thread did not answer (it stopped or a job panicked)")
    }
}

impl std::error::Error for WorkerGone {}

/// Converts a rusqlite error: a violated uniqueness rule becomes [`StoreError::Conflict`]; a
/// missing row, or a reference to one (an invite into an app that does not exist), becomes
/// [`StoreError::NotFound`]; anything else [`StoreError::Backend`].
pub(super) fn map_err(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == ErrorCode::DiskFull => {
            StoreError::StorageFull(Box::new(error))
        }
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(failure.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            StoreError::Unavailable(Box::new(error))
        }
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::NotFound
        }
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation
                && matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            // SQLite names the columns: "UNIQUE constraint failed: invitations.app_id, ...".
            let constraint =
                message.as_deref().and_then(|m| m.split_once(": ")).map_or("unique", |(_, columns)| columns);
            StoreError::Conflict(constraint.to_owned())
        }
        _ => StoreError::Backend(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> Worker {
        let conn = Connection::open_in_memory().expect("in-memory database opens");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT UNIQUE)").expect("table is created");
        Worker::spawn(conn, Vec::new()).expect("thread starts")
    }

    #[tokio::test]
    async fn write_maps_a_unique_violation_to_conflict_when_value_repeats() {
        let worker = worker();
        worker.write(|tx| tx.execute("INSERT INTO t VALUES ('a', 'x')", [])).await.expect("first insert");

        let second = worker.write(|tx| tx.execute("INSERT INTO t VALUES ('b', 'x')", [])).await;

        assert!(matches!(&second, Err(StoreError::Conflict(c)) if c == "t.v"), "{second:?}");
    }

    #[tokio::test]
    async fn write_maps_a_dangling_reference_to_not_found_when_parent_is_missing() {
        let conn = Connection::open_in_memory().expect("in-memory database opens");
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; \
             CREATE TABLE parent (id TEXT PRIMARY KEY); \
             CREATE TABLE child (parent_id TEXT NOT NULL REFERENCES parent (id));",
        )
        .expect("tables are created");
        let worker = Worker::spawn(conn, Vec::new()).expect("thread starts");

        let orphan = worker.write(|tx| tx.execute("INSERT INTO child VALUES ('nobody')", [])).await;

        assert!(matches!(orphan, Err(StoreError::NotFound)), "{orphan:?}");
    }

    #[tokio::test]
    async fn write_rolls_back_everything_when_the_job_fails() {
        let worker = worker();

        let failed = worker
            .write(|tx| {
                tx.execute("INSERT INTO t VALUES ('a', 'x')", [])?;
                tx.execute("INSERT INTO t VALUES ('a', 'y')", [])
            })
            .await;

        let rows: i64 =
            worker.read(|tx| tx.query_row("SELECT count(*) FROM t", [], |row| row.get(0))).await.expect("count");
        assert!(failed.is_err());
        assert_eq!(rows, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_commit_and_a_failing_or_panicking_one_fails_alone() {
        let worker = std::sync::Arc::new(worker());
        // Hold the thread busy so the writes below queue up and share one batch.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let worker = worker.clone();
            tokio::spawn(async move { worker.read(move |_| Ok(hold.recv().ok())).await })
        };
        let writes: Vec<_> = (0..20)
            .map(|n| {
                let worker = worker.clone();
                tokio::spawn(async move {
                    worker
                        .write(move |tx| {
                            tx.execute("INSERT INTO t VALUES (?1, ?1)", [format!("k{n}")])?;
                            match n {
                                // Its own key again: this job fails whichever order the jobs
                                // reached the batch in, and its first insert must not survive.
                                7 => tx.execute("INSERT INTO t VALUES ('k7', 'again')", []),
                                13 => panic!("a bug in job 13"),
                                _ => Ok(1),
                            }
                        })
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        release.send(()).expect("release the thread");
        busy.await.expect("join").expect("busy read");

        let mut outcomes = Vec::new();
        for write in writes {
            outcomes.push(write.await.expect("join").is_ok());
        }

        let rows: Vec<String> = worker
            .read(|tx| tx.prepare("SELECT k FROM t ORDER BY k")?.query_map([], |row| row.get(0))?.collect())
            .await
            .expect("rows");
        assert_eq!(outcomes.iter().filter(|ok| !**ok).count(), 2, "{outcomes:?}");
        assert!(!outcomes[7] && !outcomes[13]);
        assert_eq!(rows.len(), 18);
        assert!(!rows.contains(&"k7".to_owned()) && !rows.contains(&"k13".to_owned()));
    }

    #[tokio::test]
    async fn worker_keeps_serving_when_a_job_panicked() {
        let worker = worker();

        let panicked = worker.read(|_| -> rusqlite::Result<()> { panic!("a bug in a job") }).await;
        let after = worker.read(|tx| tx.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))).await;

        assert!(matches!(panicked, Err(StoreError::Backend(_))));
        assert_eq!(after.expect("the thread still answers"), 1);
    }

    #[tokio::test]
    async fn read_maps_a_missing_row_to_not_found_when_query_row_finds_nothing() {
        let worker = worker();

        let missing = worker.read(|tx| tx.query_row("SELECT v FROM t", [], |row| row.get::<_, String>(0))).await;

        assert!(matches!(missing, Err(StoreError::NotFound)));
    }
}
