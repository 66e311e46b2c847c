//! The connection pool, the transaction every store method runs in, and the one place sqlx
//! errors become [`StoreError`]s.
//!
//! Writes run at PostgreSQL's default isolation, READ COMMITTED, and take explicit locks where
//! a decision depends on what they read (see `locks`): each statement then sees everything
//! committed before it started, including by the transaction it waited for. A transaction that
//! loses a race in a way PostgreSQL reports (a deadlock, a serialization failure, or a second
//! pending invitation of one address) is rolled back and run once more from the start, where
//! it sees the winner's work and takes the other branch: re-send instead of create.

use std::future::Future;
use std::pin::Pin;

use sqlx_core::error::ErrorKind;
use sqlx_postgres::{PgConnection, PgPool};
use usher_core::StoreError;

/// The body of a transaction: it borrows the connection and its input while it runs.
pub(super) type Body<'t, T> = Pin<Box<dyn Future<Output = Result<T, sqlx_core::Error>> + Send + 't>>;

/// A transaction body: a plain function (or a closure capturing nothing), so it can run again.
pub(super) type BodyFn<A, T> = for<'t> fn(&'t mut PgConnection, &'t A) -> Body<'t, T>;

/// The index that allows one pending invitation per address (migrations/postgres/0001).
const ONE_PENDING_PER_EMAIL: &str = "invitations_one_pending_per_email";

/// PostgreSQL's SQLSTATEs for a transaction that lost a race and may simply be run again.
const SERIALIZATION_FAILURE: &str = "40001";
const DEADLOCK_DETECTED: &str = "40P01";

/// SQLSTATEs of a server going away or refusing work for now (besides class 08, connection
/// exceptions): shut down by an administrator, crashed, starting up, too many connections.
const UNAVAILABLE: &[&str] = &["57P01", "57P02", "57P03", "53300"];
/// SQLSTATE of a server whose disk is full.
const DISK_FULL: &str = "53100";

/// The pool every store method borrows a connection from (cloning shares it).
#[derive(Clone)]
pub(super) struct Db {
    pool: PgPool,
}

impl Db {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Runs `body` in one transaction, committed only when it succeeds; a transaction that lost
    /// a race (see the module docs) is run once more.
    pub(super) async fn write<A, T>(&self, input: &A, body: BodyFn<A, T>) -> Result<T, StoreError>
    where
        A: Sync + ?Sized,
        T: Send,
    {
        match self.transaction(input, body).await {
            Err(error) if lost_a_race(&error) => self.transaction(input, body).await.map_err(map_sqlx),
            result => result.map_err(map_sqlx),
        }
    }

    /// Runs `body` in one transaction that is always rolled back: what it answers is what the
    /// same `body` under [`Db::write`] would have answered, and nothing of it is kept.
    pub(super) async fn rehearse<A, T>(&self, input: &A, body: BodyFn<A, T>) -> Result<T, StoreError>
    where
        A: Sync + ?Sized,
        T: Send,
    {
        let attempt = async {
            let mut tx = self.pool.begin().await?;
            let value = body(&mut tx, input).await;
            tx.rollback().await?;
            value
        };
        attempt.await.map_err(map_sqlx)
    }

    /// Runs a `body` of one statement on a pooled connection. A single statement is atomic and
    /// sees one snapshot, so `BEGIN` and `COMMIT` would only add two round trips.
    pub(super) async fn read<A, T>(&self, input: &A, body: BodyFn<A, T>) -> Result<T, StoreError>
    where
        A: Sync + ?Sized,
        T: Send,
    {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        body(&mut conn, input).await.map_err(map_sqlx)
    }

    /// Runs a read `body` of several statements in one snapshot (`REPEATABLE READ`, which
    /// never fails a read-only transaction), as SQLite's read transaction does.
    pub(super) async fn snapshot<A, T>(&self, input: &A, body: BodyFn<A, T>) -> Result<T, StoreError>
    where
        A: Sync + ?Sized,
        T: Send,
    {
        let attempt = async {
            let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
            let value = body(&mut tx, input).await?;
            tx.commit().await?;
            Ok(value)
        };
        attempt.await.map_err(map_sqlx)
    }

    /// One attempt at a write transaction. Returning early drops `tx`, which rolls it back.
    async fn transaction<A, T>(&self, input: &A, body: BodyFn<A, T>) -> Result<T, sqlx_core::Error>
    where
        A: Sync + ?Sized,
        T: Send,
    {
        let mut tx = self.pool.begin().await?;
        let value = body(&mut tx, input).await?;
        tx.commit().await?;
        Ok(value)
    }
}

/// True when `error` means the transaction lost a race and running it again decides afresh.
fn lost_a_race(error: &sqlx_core::Error) -> bool {
    let sqlx_core::Error::Database(db) = error else { return false };
    match db.kind() {
        // Two invites of a new address both tried to create its invitation: the retry sees the
        // committed one and re-sends it, as the advisory lock would have arranged.
        ErrorKind::UniqueViolation => db.constraint() == Some(ONE_PENDING_PER_EMAIL),
        _ => matches!(db.code().as_deref(), Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED)),
    }
}

/// Converts an sqlx error: a violated uniqueness rule becomes [`StoreError::Conflict`] (named
/// by its constraint); a missing row, or a reference to one (an invite into an app that does
/// not exist), becomes [`StoreError::NotFound`], as on SQLite; anything else
/// [`StoreError::Backend`].
pub(super) fn map_sqlx(error: sqlx_core::Error) -> StoreError {
    match &error {
        sqlx_core::Error::RowNotFound => StoreError::NotFound,
        // No connection to be had in time, or the one in use broke: the server is down,
        // restarting or unreachable. Nothing was committed (a broken connection rolls back).
        sqlx_core::Error::PoolTimedOut
        | sqlx_core::Error::PoolClosed
        | sqlx_core::Error::Io(_)
        | sqlx_core::Error::Tls(_)
        | sqlx_core::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        sqlx_core::Error::Database(db) if db.code().as_deref() == Some(DISK_FULL) => {
            StoreError::StorageFull(Box::new(error))
        }
        sqlx_core::Error::Database(db)
            if db.code().is_some_and(|code| code.starts_with("08") || UNAVAILABLE.contains(&code.as_ref())) =>
        {
            StoreError::Unavailable(Box::new(error))
        }
        sqlx_core::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned()),
            ErrorKind::ForeignKeyViolation => StoreError::NotFound,
            _ => StoreError::Backend(Box::new(error)),
        },
        _ => StoreError::Backend(Box::new(error)),
    }
}
