//! Test-only helpers: [`TestApp`] runs the real server in-process on a random port with a
//! fresh database and a file mail transport in a temporary directory; [`MailDir`] reads back
//! the `.eml` files the delivery worker wrote.
//!
//! The database is a SQLite file, or with `USHER_TEST_DATABASE=postgres` a PostgreSQL database
//! of its own on the server `USHER_TEST_PG_URL` names (see [`usher_store::testing`]), so the
//! same API tests run on both backends. Asking for PostgreSQL where none answers fails.

mod cluster;
mod mail;
mod smtp;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;
use usher_core::model::AppSettings;
use usher_core::{ManualClock, Store, SystemClock};
use usher_server::bootstrap::{AppUrl, create_app};
use usher_server::{App, Settings};

pub use cluster::PrivateCluster;
pub use mail::{Email, MailDir};
pub use smtp::{SmtpServer, free_port};
pub use usher_store::testing::PgDatabase;
pub use webhooks::WebhookReceiver;

/// A running Usher with one app already created.
pub struct TestApp {
    /// Base URL of the server, e.g. `http://127.0.0.1:41234/`.
    pub base: Url,
    /// The first app's id.
    pub app_id: String,
    /// The first app's API key.
    pub api_key: String,
    /// Where members of the first app land after joining.
    pub app_url: String,
    /// The server's clock; advance it to expire invitations.
    pub clock: Arc<ManualClock>,
    /// The mail the server sent.
    pub mail: MailDir,
    store: Arc<dyn Store>,
    database_url: String,
    _stop: oneshot::Sender<()>,
    // Dropped after the server is told to stop, so the database outlives the store's use of it.
    _database: TestDatabase,
    _dir: TempDir,
}

/// The database under a [`TestApp`]; held only to remove it on drop.
enum TestDatabase {
    Sqlite,
    Postgres(#[expect(dead_code, reason = "held only to drop the database on drop")] PgDatabase),
}

impl TestDatabase {
    /// A fresh database of the backend `USHER_TEST_DATABASE` names (`sqlite`, the default, or
    /// `postgres`), with its `DATABASE_URL`.
    async fn create(dir: &TempDir) -> (Self, String) {
        match std::env::var("USHER_TEST_DATABASE").as_deref() {
            Err(_) | Ok("" | "sqlite") => {
                (Self::Sqlite, format!("sqlite://{}?mode=rwc", dir.path().join("usher.db").display()))
            }
            Ok("postgres") => {
                let db = PgDatabase::create()
                    .await
                    .expect("USHER_TEST_DATABASE=postgres, but no PostgreSQL answers (see USHER_TEST_PG_URL)");
                let url = db.url().to_owned();
                (Self::Postgres(db), url)
            }
            Ok(other) => panic!("USHER_TEST_DATABASE={other}: expected sqlite or postgres"),
        }
    }
}

impl TestApp {
    /// A server with no resend interval.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server that delivers over SMTP to `smtp_url`, reading mail from `mail`.
    pub async fn spawn_with_smtp(smtp_url: &str, mail: MailDir) -> Self {
        let url = smtp_url.parse().expect("SMTP URL");
        let mut app = Self::spawn_with(|s| s.mail_url = url).await;
        app.mail = mail;
        app
    }

    /// A server whose settings `configure` adjusts first.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a test port");
        let base = Url::parse(&format!("http://{}/", listener.local_addr().expect("local addr"))).expect("base url");
        let (database, database_url) = TestDatabase::create(&dir).await;
        let mail_dir = dir.path().join("mail");
        let mut settings = Settings::for_tests(&database_url, base.clone(), &mail_dir);
        configure(&mut settings);
        let clock = Arc::new(ManualClock::starting_now());
        let app = App::build_with_clock(&settings, clock.clone()).await.expect("app builds");
        let app_url = "https://app.example.test/home".to_owned();
        let created = create_app(
            app.store().as_ref(),
            &SystemClock,
            "Acme Notes",
            AppUrl::Given(app_url.clone()),
            AppSettings::default(),
        )
        .await
        .expect("first app");
        let store = app.store();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async {
            stopped.await.ok();
        }));
        Self {
            base,
            app_id: created.app.id.to_string(),
            api_key: created.api_key.expose().to_owned(),
            app_url: created.app.app_url,
            clock,
            mail: MailDir::new(mail_dir),
            store,
            database_url,
            _stop: stop,
            _database: database,
            _dir: dir,
        }
    }

    /// Runs one SQL statement on the server's database, to set up a state no API call writes
    /// (rows an import brought, say).
    pub async fn execute_sql(&self, sql: &str) {
        usher_store::testing::execute_sql(&self.database_url, sql).await;
    }

    /// The first column of every row `sql` returns from the server's database, as text: to
    /// check what was stored, as it was stored.
    pub async fn query_text(&self, sql: &str) -> Vec<String> {
        usher_store::testing::query_text(&self.database_url, sql).await
    }

    /// Makes the server's writes to `table` wait until the returned lock is dropped, as a slow
    /// database would (see [`usher_store::testing::lock_for_writes`]).
    pub async fn lock_for_writes(&self, table: &str) -> usher_store::testing::WriteLock {
        usher_store::testing::lock_for_writes(&self.database_url, table).await
    }

    /// Creates another app in the same server; returns its id and API key.
    pub async fn create_other_app(&self, name: &str) -> (String, String) {
        self.create_other_app_with(name, AppSettings::default()).await
    }

    /// Creates another app with `settings`; returns its id and API key.
    pub async fn create_other_app_with(&self, name: &str, settings: AppSettings) -> (String, String) {
        let url = AppUrl::Given("https://other.example.test/".into());
        let created = create_app(self.store.as_ref(), &SystemClock, name, url, settings).await.expect("other app");
        (created.app.id.to_string(), created.api_key.expose().to_owned())
    }

    /// An SDK client of another app of this server.
    pub fn client_of(&self, app_id: &str, token: &str) -> base44::Client {
        base44::Client::builder().server_url(self.base.as_str()).app_id(app_id).token(token).build().expect("client")
    }

    /// An SDK client of the first app acting with its API key.
    pub fn client(&self) -> base44::Client {
        self.anonymous().with_token(&self.api_key)
    }

    /// An SDK client of the first app without credentials.
    pub fn anonymous(&self) -> base44::Client {
        base44::Client::builder().server_url(self.base.as_str()).app_id(&self.app_id).build().expect("client")
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).expect("url")
    }

    /// A raw HTTP client that does not follow redirects, for what the SDK cannot send.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
    }

    /// Posts `body` as JSON to `path` with the API key.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http().post(self.url(path)).bearer_auth(&self.api_key).json(body).send().await.expect("request")
    }

    /// The path of the SDK's `users.inviteUser` route for the first app.
    pub fn invite_path(&self) -> String {
        format!("/api/apps/{}/runtime/users/invite-user", self.app_id)
    }

    /// Opens the join link, submits the form, and returns the redirect's `Location`.
    pub async fn accept(&self, link: &str, full_name: &str, password: &str) -> reqwest::Response {
        let (action, token) = join_form_target(link);
        self.http()
            .post(action)
            .form(&[("token", token.as_str()), ("full_name", full_name), ("password", password)])
            .send()
            .await
            .expect("post join form")
    }

    /// Invites `email` with `role` using the API key, waits for the mail and joins; returns
    /// the new member's access token.
    pub async fn invite_and_join(&self, email: &str, role: base44::Role) -> String {
        self.invite_and_join_with(&self.client(), email, role).await
    }

    /// Like [`TestApp::invite_and_join`], inviting through `client` (another app's, say).
    pub async fn invite_and_join_with(&self, client: &base44::Client, email: &str, role: base44::Role) -> String {
        client.users().invite_user(email, role).await.expect("invite");
        let link = self.mail.wait_for(email).await.join_link();
        let response = self.accept(&link, "Test Member", "correct horse battery").await;
        assert_eq!(response.status(), 303, "joining redirects to the app");
        access_token_of(&response)
    }
}

/// The form action (link without query) and token of a join link.
fn join_form_target(link: &str) -> (Url, String) {
    let mut url = Url::parse(link).expect("join link is a URL");
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("link has a token");
    url.set_query(None);
    (url, token)
}

/// The `access_token` in a redirect's `Location`.
pub fn access_token_of(response: &reqwest::Response) -> String {
    let location = response.headers().get("location").expect("redirect has a Location").to_str().expect("ascii");
    let url = Url::parse(location).expect("Location is absolute");
    url.query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .expect("Location has access_token")
}

/// How long helpers wait for the server to do something asynchronous.
pub const PATIENCE: Duration = Duration::from_secs(10);
