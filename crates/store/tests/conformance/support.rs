//! Fresh databases and the fixtures the cases share.

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use usher_core::model::{Actor, App, AppSettings, Inviter};
use usher_core::secret::{ApiKey, InvitationToken};
use usher_core::store::{InviteCommand, NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, MessageId, Role, Store, Timestamp};

/// A store on a database of its own, removed when dropped.
pub struct TestDb {
    store: Arc<dyn Store>,
    // Dropped after the store (fields drop in order), so the file outlives its connection.
    _dir: TempDir,
}

impl TestDb {
    /// A new SQLite file in a temporary directory, opened through a `DATABASE_URL`.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("usher.db").display());
        let store = usher_store::connect(&url).expect("a fresh SQLite database opens");
        Self { store, _dir: dir }
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
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
