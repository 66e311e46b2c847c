//! Fresh databases and the fixtures the cases share.
//!
//! A PostgreSQL case runs on a database of its own, `usher_test_<random hex>`, created through
//! the server that `USHER_TEST_PG_URL` names (default `postgres://postgres@127.0.0.1:5432/test`)
//! and dropped afterwards. When that server cannot be reached the case prints a skip notice
//! and passes, except on CI (`CI=true`) or with `USHER_REQUIRE_PG=1`, where it fails.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_postgres::PgConnection;
use tempfile::TempDir;
use url::Url;
use usher_core::model::{Actor, App, AppSettings, Inviter};
use usher_core::secret::{ApiKey, InvitationToken};
use usher_core::store::{InviteCommand, NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, MessageId, Role, Store, Timestamp};

/// The PostgreSQL server the tests use when `USHER_TEST_PG_URL` is unset.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long to wait for the PostgreSQL server before calling it unreachable.
const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// A store on a database of its own, removed when dropped.
pub struct TestDb {
    store: Arc<dyn Store>,
    // Dropped after the store (fields drop in order), so the database outlives its connections.
    _place: Place,
}

/// Where a test database lives; held only to remove it on drop.
enum Place {
    Sqlite(#[expect(dead_code, reason = "held only to delete the directory on drop")] TempDir),
    Postgres(#[expect(dead_code, reason = "held only to drop the database on drop")] PgDatabase),
}

impl TestDb {
    /// A new SQLite file in a temporary directory, opened through a `DATABASE_URL`.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("usher.db").display());
        let store = usher_store::connect_async(&url).await.expect("a fresh SQLite database opens");
        Self { store, _place: Place::Sqlite(dir) }
    }

    /// A new PostgreSQL database, opened through a `DATABASE_URL`; `None` (after a notice)
    /// when the server cannot be reached and that is allowed here.
    pub async fn postgres() -> Option<Self> {
        let db = PgDatabase::create().await?;
        let store = usher_store::connect_async(db.url()).await.expect("a fresh PostgreSQL database opens");
        Some(Self { store, _place: Place::Postgres(db) })
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

/// A new, empty PostgreSQL database, dropped (with any connections left to it) when dropped.
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

/// Runs `futures` at once on this task and returns their outputs in order: concurrent calls
/// into a `&dyn Store` without spawning (which would need `'static`).
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut is_done = true;
        for (future, output) in running.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => is_done = false,
                }
            }
        }
        if is_done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("every future finished")).collect()
}

/// The instant every case starts at.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// One minute, the default resend interval.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// One week, the default invitation lifetime.
pub const TTL: Duration = AppSettings::DEFAULT_INVITATION_TTL;

/// An app created in `store`, with the secret of its first API key.
pub async fn app_with_key(store: &dyn Store) -> (App, ApiKey) {
    let key = ApiKey::generate();
    let new = NewApp {
        id: AppId::generate(),
        name: "Acme".into(),
        app_url: "https://acme.example".into(),
        settings: AppSettings::default(),
        api_key: NewApiKey { id: ApiKeyId::generate(), name: "first".into(), hash: key.hash() },
        now: T0,
    };
    (store.create_app(new).await.expect("app is created"), key)
}

/// An app created in `store`.
pub async fn app(store: &dyn Store) -> App {
    app_with_key(store).await.0
}

/// A valid email address.
pub fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("test addresses are valid")
}

/// An invitation of `to` into `app` as `role` at `now`, by an API key, with a fresh token.
pub fn invite(app: &App, to: &str, role: Role, now: Timestamp) -> InviteCommand {
    InviteCommand {
        app_id: app.id.clone(),
        email: email(to),
        role,
        inviter: Inviter { actor: Actor::ApiKey(ApiKeyId::generate()), display_name: "Acme".into() },
        invitation_id: InvitationId::generate(),
        token: InvitationToken::generate(),
        message_id: MessageId::generate(),
        expires_at: now.plus(TTL),
        resend_interval: INTERVAL,
        now,
    }
}
