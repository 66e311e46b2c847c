//! Fresh PostgreSQL databases for tests (feature `test-support`): the storage conformance
//! suite and the HTTP API tests run every case on one of its own.
//!
//! A database is `usher_test_<random hex>`, created through the server that
//! `USHER_TEST_PG_URL` names (default `postgres://postgres@127.0.0.1:5432/test`) and dropped
//! afterwards. When that server cannot be reached, [`PgDatabase::create`] prints a skip notice
//! and returns `None`, except on CI (`CI=true`) or with `USHER_REQUIRE_PG=1`, where it panics:
//! there a missing PostgreSQL is a failure, never a silent skip.

use std::fmt::Display;
use std::time::Duration;

use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_postgres::PgConnection;
use url::Url;
use usher_core::AppId;

/// The PostgreSQL server the tests use when `USHER_TEST_PG_URL` is unset.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long to wait for the PostgreSQL server before calling it unreachable.
const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// A new, empty PostgreSQL database, dropped (with any connections left to it) when dropped.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates `usher_test_<random hex>` on the test server; `None` (after a notice) when the
    /// server cannot be reached and that is allowed here.
    pub async fn create() -> Option<Self> {
        let admin_url = std::env::var("USHER_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let mut admin = match tokio::time::timeout(PG_TIMEOUT, PgConnection::connect(&admin_url)).await {
            Ok(Ok(admin)) => admin,
            Ok(Err(error)) => return unreachable(&admin_url, error),
            Err(_) => return unreachable(&admin_url, format!("no answer within {} s", PG_TIMEOUT.as_secs())),
        };
        let name = format!("usher_test_{}", AppId::generate());
        query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("the test database is created");
        let _ = admin.close().await;
        let mut url = Url::parse(&admin_url).expect("USHER_TEST_PG_URL is a URL");
        url.set_path(&name);
        Some(Self { admin_url, name, url: url.into() })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // `drop` cannot await and may run on the test's runtime, which must not block on
        // itself: the database is dropped from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        // Never panic here: it may run while a failed case unwinds, and a second panic aborts.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop test database {}: the dropping thread panicked", self.name),
        }
    }
}

/// Reports that the PostgreSQL server at `url` cannot be reached: a failure where PostgreSQL
/// is required (CI), otherwise a skip notice.
fn unreachable<T>(url: &str, reason: impl Display) -> Option<T> {
    let shown = Url::parse(url).map_or_else(
        |_| "an unparsable USHER_TEST_PG_URL".to_owned(),
        |mut url| {
            let _ = url.set_password(None);
            url.to_string()
        },
    );
    let is_ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    let is_required = std::env::var("USHER_REQUIRE_PG").is_ok_and(|required| !required.is_empty() && required != "0");
    if is_ci || is_required {
        panic!("PostgreSQL not reachable at {shown}: {reason} (required here: CI=true or USHER_REQUIRE_PG is set)");
    }
    eprintln!("SKIPPED: PostgreSQL not reachable at {shown}: {reason}; set USHER_TEST_PG_URL to run this case");
    None
}

/// Runs `sql` (one statement, no parameters) on the database `url` names (`sqlite://PATH…`
/// or `postgres://…`): for tests that set up a state no operation of the store writes, such
/// as rows an import brought (issue 18: a pending invitation for an address that is already
/// a member with a password).
pub async fn execute_sql(url: &str, sql: &str) {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        // One short statement: blocking the test's thread for it is fine (the store's writer
        // runs on a thread of its own).
        let path = rest.split('?').next().unwrap_or(rest);
        let conn = rusqlite::Connection::open(path).expect("the test database opens");
        conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
        conn.execute(sql, []).expect("the statement runs");
    } else {
        let mut conn = PgConnection::connect(url).await.expect("the test database answers");
        query(sql).execute(&mut conn).await.expect("the statement runs");
        let _ = conn.close().await;
    }
}

/// The first column of every row `sql` (one statement, no parameters, a text column) returns
/// from the database `url` names: for tests that check what was stored, as it was stored.
pub async fn query_text(url: &str, sql: &str) -> Vec<String> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest);
        let conn = rusqlite::Connection::open(path).expect("the test database opens");
        conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
        let mut statement = conn.prepare(sql).expect("the statement compiles");
        let rows = statement.query_map([], |row| row.get::<_, String>(0)).expect("the statement runs");
        rows.collect::<Result<_, _>>().expect("text rows")
    } else {
        let mut conn = PgConnection::connect(url).await.expect("the test database answers");
        let rows: Vec<(String,)> =
            sqlx_core::query_as::query_as(sql).fetch_all(&mut conn).await.expect("the statement runs");
        let _ = conn.close().await;
        rows.into_iter().map(|(text,)| text).collect()
    }
}

/// A lock that keeps writers of a table waiting, taken by [`lock_for_writes`] and released
/// when dropped.
#[must_use = "the lock is released when this is dropped"]
pub struct WriteLock {
    _release: tokio::sync::oneshot::Sender<()>,
}

/// Makes writes to `table` of the database `url` names wait until the returned lock is
/// dropped, as a slow or busy database would: on SQLite a write transaction (every writer
/// waits, within its busy timeout of a few seconds; readers go on), on PostgreSQL an
/// `EXCLUSIVE` lock on `table` (its writers wait; readers go on). Returns once the lock is held.
pub async fn lock_for_writes(url: &str, table: &str) -> WriteLock {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (held, is_held) = tokio::sync::oneshot::channel::<()>();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest).to_owned();
        // rusqlite blocks: the transaction lives on a thread of its own.
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).expect("the test database opens");
            conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
            conn.execute_batch("BEGIN IMMEDIATE").expect("the write lock is taken");
            let _ = held.send(());
            let _ = released.blocking_recv();
            conn.execute_batch("ROLLBACK").expect("the write lock is released");
        });
    } else {
        let mut conn = PgConnection::connect(url).await.expect("the test database answers");
        let lock = format!("LOCK TABLE {table} IN EXCLUSIVE MODE");
        tokio::spawn(async move {
            query("BEGIN").execute(&mut conn).await.expect("a transaction begins");
            query(&lock).execute(&mut conn).await.expect("the table is locked");
            let _ = held.send(());
            let _ = released.await;
            query("ROLLBACK").execute(&mut conn).await.expect("the lock is released");
            let _ = conn.close().await;
        });
    }
    is_held.await.expect("the lock is taken");
    WriteLock { _release: release }
}
