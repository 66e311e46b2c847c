//! Checkpoints on a thread of their own, so the writer never stops to do one.
//!
//! A checkpoint copies the pages committed to the write-ahead log back into the database file.
//! SQLite runs one by default inside the commit that makes the log reach 1,000 pages, on the
//! writing connection: under load that stalled the one thread every write goes through. Here
//! a separate connection checkpoints every [`EVERY`] without blocking the writer (`PASSIVE`),
//! and the writer's own automatic checkpoint stays only as a backstop, at [`BACKSTOP_PAGES`],
//! for when this thread falls behind.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(100);

/// Log size (in pages) at which the writer checkpoints itself.
pub(super) const BACKSTOP_PAGES: u32 = 10_000;

/// The checkpointing thread; dropping it stops the thread.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn`.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("usher-checkpoint".into()).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                // Busy readers or a writer mid-commit only make it copy less this time.
                if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %err, "SQLite checkpoint failed; the writer's own checkpoints continue");
                }
            }
        })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
