//! `usher migrate --from sqlite://… --to postgres://…`, as a round trip: a SQLite deployment
//! used through the API, copied into a fresh PostgreSQL database (from `USHER_TEST_PG_URL`),
//! then served from there: a mailed join link still joins, a member still signs in and her
//! earlier token still works, an email that was still queued goes out, and the audit trail is
//! the same.

#[expect(dead_code, reason = "each test file uses part of the support module")]
mod support;

use std::process::{Child, Command, Output};

use serde_json::{Value, json};
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{MailDir, PgDatabase, free_port};

const PASSWORD: &str = "correct horse battery";

/// `usher migrate` with `args`.
fn migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher")).arg("migrate").args(args).output().expect("usher migrate")
}

/// A running `usher serve` on `database`, and how to reach its app.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    api_key: String,
}

impl Server {
    async fn start(database: &str, mail_url: &str, app_id: &str, api_key: &str, settings: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = serve_with(database, port, mail_url, settings);
        wait_healthy(port).await;
        let base = format!("http://127.0.0.1:{port}/api/apps/{app_id}");
        Self { child, base, http: reqwest::Client::new(), api_key: api_key.to_owned() }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("POST");
        (response.status().as_u16(), response.json().await.unwrap_or_default())
    }

    async fn invite(&self, email: &str) -> u16 {
        self.invite_keyed(email, None).await.0
    }

    /// Invites `email`, with `key` as its `Idempotency-Key` if given: the status, whether the
    /// answer was a replay, and the body.
    async fn invite_keyed(&self, email: &str, key: Option<&str>) -> (u16, bool, String) {
        let body = json!({ "user_email": email, "role": "user" });
        let mut request =
            self.http.post(format!("{}/runtime/users/invite-user", self.base)).bearer_auth(&self.api_key).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("invite");
        let replayed = response.headers().get("idempotency-replayed").is_some_and(|v| v == "true");
        (response.status().as_u16(), replayed, response.text().await.unwrap_or_default())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("GET");
        (response.status().as_u16(), response.json().await.unwrap_or_default())
    }

    fn stop(mut self) {
        self.child.kill().expect("stop");
        self.child.wait().expect("reaped");
    }
}

/// The token of a join link.
fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("a token in the link").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_carries_links_members_sessions_queued_mail_and_audit_over_to_postgres() {
    let Some(postgres) = PgDatabase::create().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&sqlite);
    let mail = MailDir::new(dir.path().join("mail"));
    let file_mail = format!("file://{}", dir.path().join("mail").display());

    // On SQLite: Ada is invited (her link stays unused), Bob joins and keeps his session.
    let server = Server::start(&sqlite, &file_mail, &app_id, &api_key, &[]).await;
    assert_eq!(server.invite("ada@example.com").await, 200);
    assert_eq!(server.invite("bob@example.com").await, 200);
    let ada_link = mail.wait_for_count("ada@example.com", 1).await[0].join_link();
    let bob_link = mail.wait_for_count("bob@example.com", 1).await[0].join_link();
    let bob_join = json!({ "token": token_of(&bob_link), "full_name": "Bob", "password": PASSWORD });
    let (joined, bob_session) = server.post("/invitations/accept", bob_join).await;
    assert_eq!(joined, 200, "{bob_session}");
    let bob_token = bob_session["access_token"].as_str().expect("a token").to_owned();
    server.stop();
    // Carol's invitation email cannot go out (nothing listens for SMTP): it stays queued.
    let no_smtp = format!("smtp://127.0.0.1:{}?tls=none", free_port());
    let server = Server::start(&sqlite, &no_smtp, &app_id, &api_key, &[("USHER_MAIL_RETRY_BASE", "1")]).await;
    // Carol is invited under an Idempotency-Key, whose stored answer moves along.
    let carol_first = server.invite_keyed("carol@example.com", Some("carol-1")).await;
    assert_eq!((carol_first.0, carol_first.1), (200, false), "{}", carol_first.2);
    let (_, audit_before) = server.get("/audit?limit=100", &api_key).await;
    server.stop();

    let copied = migrate(&["--from", &sqlite, "--to", postgres.url()]);
    let again = migrate(&["--from", &sqlite, "--to", postgres.url()]);
    let replaced = migrate(&["--from", &sqlite, "--to", postgres.url(), "--replace"]);

    let stdout = String::from_utf8_lossy(&copied.stdout);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let rows = |table: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(table).map(|rest| rest.trim().parse::<u64>().expect("a count")))
            .unwrap_or_else(|| panic!("no count for {table} in {stdout}"))
    };
    assert_eq!((rows("apps"), rows("users"), rows("invitations")), (1, 1, 3), "{stdout}");
    assert_eq!(rows("outbox_messages"), 3, "{stdout}");
    assert_eq!(rows("server_secrets"), 1, "the signing secret: {stdout}");
    assert_eq!(rows("idempotency_keys"), 1, "Carol's key: {stdout}");
    let refused = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(refused.contains("the PostgreSQL database is not empty") && refused.contains("--replace"), "{refused}");
    assert!(replaced.status.success(), "{}", String::from_utf8_lossy(&replaced.stderr));
    assert_eq!(String::from_utf8_lossy(&replaced.stdout), stdout, "--replace copies the same again");

    // On PostgreSQL, with mail going to files again.
    let server = Server::start(postgres.url(), &file_mail, &app_id, &api_key, &[]).await;
    let (me, bob_me) = server.get("/entities/User/me", &bob_token).await;
    let bob_login = json!({ "email": "bob@example.com", "password": PASSWORD });
    let (signed_in, _) = server.post("/auth/login", bob_login).await;
    let (looked_up, _) = server.post("/invitations/lookup", json!({ "token": token_of(&ada_link) })).await;
    let ada_join = json!({ "token": token_of(&ada_link), "full_name": "Ada", "password": PASSWORD });
    let (ada_joined, _) = server.post("/invitations/accept", ada_join).await;
    let carol_again = server.invite_keyed("carol@example.com", Some("carol-1")).await;
    let carol = mail.wait_for_count("carol@example.com", 1).await;
    let (_, audit_after) = server.get("/audit?limit=100", &api_key).await;
    server.stop();

    assert_eq!((me, bob_me["email"].as_str()), (200, Some("bob@example.com")), "Bob's session carried over");
    assert_eq!(signed_in, 200, "Bob's password hash carried over");
    assert_eq!((looked_up, ada_joined), (200, 200), "Ada's mailed link carried over");
    assert_eq!(carol.len(), 1, "the queued email went out from PostgreSQL");
    assert_eq!(carol_again, (200, true, carol_first.2), "Carol's keyed invite is replayed, not re-sent");
    let events = |audit: &Value| audit["items"].as_array().cloned().unwrap_or_default();
    let before = events(&audit_before);
    assert!(!before.is_empty());
    // Joining adds events; the old ones are all there, unchanged, after them.
    let after = events(&audit_after);
    assert_eq!(after[after.len() - before.len()..], before[..], "{audit_after}");
}

#[test]
fn migrate_refuses_with_the_reason_when_the_source_is_missing_or_not_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = format!("sqlite://{}/nope.db", dir.path().display());

    let no_file = migrate(&["--from", &missing, "--to", "postgres://u:hunter2@127.0.0.1:1/x"]);
    let not_sqlite = migrate(&["--from", "postgres://db/x", "--to", "postgres://u:hunter2@127.0.0.1:1/x"]);

    let no_file = String::from_utf8_lossy(&no_file.stderr);
    assert!(no_file.contains("does not exist") && !no_file.contains("hunter2"), "{no_file}");
    let not_sqlite = String::from_utf8_lossy(&not_sqlite.stderr);
    assert!(not_sqlite.contains("the source must be a sqlite:// URL"), "{not_sqlite}");
    assert!(!dir.path().join("nope.db").exists(), "no file was created");
}
