//! Fresh databases and the fixtures the cases share.
//!
//! A PostgreSQL case runs on a database of its own ([`PgDatabase`]), dropped afterwards; when
//! the server cannot be reached the case prints a skip notice and passes, except on CI.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tempfile::TempDir;
use usher_core::model::{Actor, App, AppSettings, Inviter};
use usher_core::secret::{ApiKey, InvitationToken};
use usher_core::store::{InviteCommand, NewApiKey, NewApp, SentMessage};
use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, MessageId, Role, Store, Timestamp};
pub use usher_store::testing::PgDatabase;

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
        let store = usher_store::connect(&url).await.expect("a fresh SQLite database opens");
        Self { store, _place: Place::Sqlite(dir) }
    }

    /// A new PostgreSQL database, opened through a `DATABASE_URL`; `None` (after a notice)
    /// when the server cannot be reached and that is allowed here.
    pub async fn postgres() -> Option<Self> {
        let db = PgDatabase::create().await?;
        let store = usher_store::connect(db.url()).await.expect("a fresh PostgreSQL database opens");
        Some(Self { store, _place: Place::Postgres(db) })
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
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
    (store.create_app(new_app(&key)).await.expect("app is created"), key)
}

/// A new app, not yet stored, whose first API key is `key`.
pub fn new_app(key: &ApiKey) -> NewApp {
    NewApp {
        id: AppId::generate(),
        name: "Acme".into(),
        app_url: "https://acme.example".into(),
        settings: AppSettings::default(),
        api_key: NewApiKey { id: ApiKeyId::generate(), name: "first".into(), hash: key.hash() },
        now: T0,
    }
}

/// An app created in `store`.
pub async fn app(store: &dyn Store) -> App {
    app_with_key(store).await.0
}

/// A valid email address.
/// Someone who changes an app's settings or templates (what the audit log names).
pub fn operator() -> Actor {
    Actor::ApiKey(ApiKeyId::generate())
}

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
        reminder: None,
        expires_at: now.plus(TTL),
        resend_interval: INTERVAL,
        may_invite_admins: true,
        email_domain_allowed: true,
        daily_allowance: None,
        locale: None,
        now,
    }
}

/// `id` as accepted by a mail server.
pub fn sent(id: &MessageId) -> SentMessage {
    SentMessage { id: id.clone(), reply: "250 2.0.0 Ok".into() }
}
