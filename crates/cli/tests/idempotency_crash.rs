//! A keyed request whose server is killed (SIGKILL) after its work is committed and before it
//! answers: the stored response was committed with the work, so the same request repeated
//! after a restart is replayed, and the work was done exactly once. On SQLite and PostgreSQL,
//! for invite, bulk invite (keyed as a whole, and keyed row by row), re-send and revoke.
//!
//! The kill lands at that exact point through the test-only `USHER_TEST_PAUSE_AFTER_KEYED_WRITE`:
//! the server writes the named file once a keyed request's work is done and then never
//! answers it. Without the response in the work's transaction, the key would be left claimed
//! without a response, and the repeat would be refused 409 (then, a minute later, run again).

#[expect(dead_code, reason = "each test file uses part of the support module")]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{PATIENCE, PgDatabase, free_port};

/// What a keyed request does.
#[derive(Clone, Copy, Debug)]
enum Op {
    Invite,
    Bulk,
    /// A bulk invite whose rows carry their own `idempotency_key` (no header).
    BulkRows,
    Resend,
    Revoke,
}

/// A server on `database`, with re-sends never throttled and mail kept in files under `dir`.
async fn start(database: &str, dir: &Path, pause: Option<&Path>) -> (std::process::Child, u16) {
    let port = free_port();
    let mail = format!("file://{}", dir.join("mail").display());
    let pause = pause.map(|p| p.display().to_string());
    let mut settings = vec![("USHER_RESEND_INTERVAL", "0")];
    if let Some(pause) = &pause {
        settings.push(("USHER_TEST_PAUSE_AFTER_KEYED_WRITE", pause.as_str()));
    }
    let child = serve_with(database, port, &mail, &settings);
    wait_healthy(port).await;
    (child, port)
}

/// The app's invitations, as listed.
async fn invitations(http: &reqwest::Client, base: &str, api_key: &str) -> Vec<Value> {
    let page: Value = http
        .get(format!("{base}/invitations"))
        .bearer_auth(api_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    page["items"].as_array().expect("items").clone()
}

/// Kills the server while it holds `op`'s keyed request after the work, restarts it, repeats
/// the request and checks the repeat is a replay of work done once.
async fn killed_after_the_work_then_repeated(database: &str, op: Op) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app_id, api_key) = create_app(database);
    let paused = dir.path().join("paused");
    let (mut first, port) = start(database, dir.path(), Some(&paused)).await;
    let http = reqwest::Client::new();
    let base = |port: u16| format!("http://127.0.0.1:{port}/api/apps/{app_id}");

    // Re-send and revoke act on an invitation made beforehand, without a key (no pause).
    let ada = json!({ "user_email": "ada@example.com", "role": "user" });
    let existing = match op {
        Op::Resend | Op::Revoke => {
            let url = format!("{}/runtime/users/invite-user", base(port));
            let made: Value = http
                .post(url)
                .bearer_auth(&api_key)
                .json(&ada)
                .send()
                .await
                .expect("invite")
                .json()
                .await
                .expect("json");
            made["invitation"]["id"].as_str().expect("an id").to_owned()
        }
        Op::Invite | Op::Bulk | Op::BulkRows => String::new(),
    };
    let (path, body) = match op {
        Op::Invite => ("/runtime/users/invite-user".to_owned(), ada.clone()),
        Op::Bulk => (
            "/invitations/bulk".to_owned(),
            json!({ "items": [ada.clone(), { "user_email": "bob@example.com", "role": "user" }] }),
        ),
        Op::BulkRows => (
            "/invitations/bulk".to_owned(),
            json!({ "items": [
                { "user_email": "ada@example.com", "role": "user", "idempotency_key": "row-ada" },
                { "user_email": "bob@example.com", "role": "user", "idempotency_key": "row-bob" },
            ] }),
        ),
        Op::Resend => (format!("/invitations/{existing}/resend"), json!({})),
        Op::Revoke => (format!("/invitations/{existing}/revoke"), json!({})),
    };
    let keyed = |port: u16| {
        let request = http.post(format!("{}{path}", base(port))).bearer_auth(&api_key).json(&body);
        match op {
            Op::BulkRows => request,
            _ => request.header("Idempotency-Key", "k-1"),
        }
    };

    let hanging = tokio::spawn(keyed(port).send());
    let deadline = Instant::now() + PATIENCE;
    while !paused.exists() {
        assert!(Instant::now() < deadline, "{op:?}: the server never reached the pause");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    assert!(hanging.await.expect("task").is_err(), "{op:?}: the killed server never answered");

    let (mut second, port) = start(database, dir.path(), None).await;
    let repeat = keyed(port).send().await.expect("repeat");
    let status = repeat.status().as_u16();
    let replayed = repeat.headers().get("idempotency-replayed").is_some_and(|v| v == "true");
    let answer: Value = repeat.json().await.unwrap_or_default();
    let listed = invitations(&http, &base(port), &api_key).await;
    second.kill().expect("stop");
    second.wait().expect("reaped");

    // Rows keyed one by one are replayed one by one: the answer is new, each row's is stored.
    let whole = !matches!(op, Op::BulkRows);
    assert_eq!((status, replayed), (200, whole), "{op:?}: the repeat is the stored answer: {answer}");
    let sent: Vec<(String, u64, String)> = listed
        .iter()
        .map(|i| {
            let email = i["email"].as_str().unwrap_or_default().to_owned();
            (email, i["times_sent"].as_u64().unwrap_or_default(), i["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let pending = |email: &str, times: u64| (email.to_owned(), times, "pending".to_owned());
    match op {
        Op::Invite => {
            assert_eq!(answer["outcome"], "created", "{answer}");
            assert_eq!(sent, [pending("ada@example.com", 1)], "one invitation, emailed once");
        }
        Op::Bulk => {
            assert_eq!(answer["summary"]["created"], 2, "{answer}");
            let mut sent = sent;
            sent.sort();
            assert_eq!(sent, [pending("ada@example.com", 1), pending("bob@example.com", 1)], "each invited once");
        }
        Op::BulkRows => {
            assert_eq!(answer["summary"], json!({ "created": 2, "replayed": 2 }), "{answer}");
            let mut sent = sent;
            sent.sort();
            assert_eq!(sent, [pending("ada@example.com", 1), pending("bob@example.com", 1)], "each invited once");
        }
        Op::Resend => {
            assert_eq!(answer["outcome"], "resent", "{answer}");
            assert_eq!(sent, [pending("ada@example.com", 2)], "re-sent once");
        }
        Op::Revoke => {
            assert_eq!(answer["status"], "revoked", "{answer}");
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert_eq!(sent[0].2, "revoked");
        }
    }
}

#[tokio::test]
async fn a_keyed_request_killed_after_its_work_is_replayed_after_a_restart_on_sqlite() {
    for op in [Op::Invite, Op::Bulk, Op::BulkRows, Op::Resend, Op::Revoke] {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
        killed_after_the_work_then_repeated(&database, op).await;
    }
}

#[tokio::test]
async fn a_keyed_request_killed_after_its_work_is_replayed_after_a_restart_on_postgres() {
    for op in [Op::Invite, Op::Bulk, Op::BulkRows, Op::Resend, Op::Revoke] {
        let Some(database) = PgDatabase::create().await else { return };
        killed_after_the_work_then_repeated(database.url(), op).await;
    }
}
