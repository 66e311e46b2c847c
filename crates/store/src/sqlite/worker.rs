//! The thread that owns the SQLite connection, and the one place rusqlite errors become
//! [`StoreError`]s.
//!
//! Every store method is a job: a closure sent over a channel to this thread, run against the
//! connection, and answered through a oneshot channel the async caller awaits. One writer
//! means SQLite never sees two write transactions of this process compete for its lock, and
//! a later change can commit several queued jobs in one transaction (group commit) without
//! touching the callers. Reads use the same thread for now; a pool of reader connections
//! (which WAL allows next to the writer) can take them over when measurements ask for it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use tokio::sync::oneshot;
use usher_core::StoreError;

/// A unit of work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle to the connection's thread; dropping it ends the thread.
pub(super) struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Moves `conn` onto a new thread that runs jobs until the worker is dropped.
    pub(super) fn spawn(mut conn: Connection) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("usher-sqlite".into()).spawn(move || {
            for job in queue {
                // A panicking job must not take the database down for everyone: its caller
                // sees the dropped reply as an error, its open transaction rolls back as it
                // unwinds, and the thread goes on with the next job.
                let _ = catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
            }
        })?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `f` in an `IMMEDIATE` transaction, committed only when `f` succeeds.
    ///
    /// `IMMEDIATE` takes the write lock up front, so a transaction that reads before it writes
    /// (as most here do) never fails half-way because another process wrote in between.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` in a read transaction, so queries spanning several statements see one snapshot.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            f(&tx)
        })
        .await
    }

    /// Sends `f` to the connection's thread and waits for its answer.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // The caller may have stopped waiting (a cancelled request); the work stands anyway.
            let _ = reply.send(f(conn).map_err(map_err));
        });
        self.jobs
            .as_ref()
            .ok_or(WorkerGone)
            .and_then(|jobs| jobs.send(job).map_err(|_| WorkerGone))
            .map_err(|gone| StoreError::Backend(Box::new(gone)))?;
        answer.await.map_err(|_| StoreError::Backend(Box::new(WorkerGone)))?
    }
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
        Worker::spawn(conn).expect("thread starts")
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
        let worker = Worker::spawn(conn).expect("thread starts");

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
