//! What `usher serve` writes to its log, in both formats: one line per request with its request
//! id, route template, status and latency; and never a secret (API key, join token, password,
//! access token), with mail going over SMTP (the development transports print join links on
//! purpose).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base44::Role;
use usher_testkit::{PATIENCE, SmtpServer, free_port};

const PASSWORD: &str = "correct horse battery";

/// The secrets one session of use handed to the server, and the log it wrote meanwhile.
struct Session {
    log: String,
    secrets: Vec<String>,
}

/// Starts `usher serve` with `USHER_LOG_FORMAT=format`, invites and joins a member, signs in
/// (once wrongly), asks `me` with `X-Request-Id: req-42`, stops the server and returns its log.
async fn session(format: &str, smtp: &SmtpServer) -> Session {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let created = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["app", "create", "--name", "Acme", "--app-url", "https://acme.test/", "--json"])
        .env("DATABASE_URL", &database)
        .output()
        .expect("app create");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let (app_id, api_key) = (created["app_id"].as_str().expect("id"), created["api_key"].as_str().expect("key"));
    let port = free_port();
    let log_path = dir.path().join("serve.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("USHER_MAIL_URL", smtp.url())
        .env("USHER_LOG_FORMAT", format)
        .env("USHER_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("start usher serve");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    while reqwest::get(format!("{base}/healthz")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "usher did not become healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = base44::Client::builder().server_url(&base).app_id(app_id).token(api_key).build().expect("client");
    let email = format!("{format}@example.com");

    client.users().invite_user(&email, Role::User).await.expect("invite");
    let link = smtp.mail.wait_for(&email).await.join_link();
    let join_token = link.split("token=").nth(1).expect("token").to_owned();
    let joined = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http")
        .post(link.split('?').next().expect("action"))
        .form(&[("token", join_token.as_str()), ("full_name", "Ada"), ("password", PASSWORD)])
        .send()
        .await
        .expect("join");
    assert_eq!(joined.status(), 303);
    let signed_in = client.auth().login_via_email_password(&email, PASSWORD).await.expect("sign in");
    client.auth().login_via_email_password(&email, "a wrong password").await.expect_err("wrong password");
    let me = reqwest::Client::new()
        .get(format!("{base}/api/apps/{app_id}/entities/User/me"))
        .bearer_auth(&signed_in.access_token)
        .header("X-Request-Id", "req-42")
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("req-42"), "echoed");

    server.kill().expect("stop");
    server.wait().expect("reaped");
    Session {
        log: std::fs::read_to_string(&log_path).expect("log"),
        secrets: vec![api_key.to_owned(), join_token, PASSWORD.to_owned(), signed_in.access_token],
    }
}

fn assert_no_secret(session: &Session) {
    for secret in &session.secrets {
        assert!(!session.log.contains(secret.as_str()), "a secret is in the log:\n{}", session.log);
    }
    assert!(!session.log.contains("a wrong password"), "a password is in the log");
}

#[tokio::test]
async fn json_logs_have_one_object_per_line_with_request_id_route_status_and_latency_and_no_secret() {
    let Some(smtp) = SmtpServer::start().await else { return };

    let session = session("json", &smtp).await;

    assert_no_secret(&session);
    let lines: Vec<serde_json::Value> =
        session.log.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect();
    let me = lines
        .iter()
        .find(|line| line["span"]["request_id"] == "req-42")
        .unwrap_or_else(|| panic!("no line for req-42 in:\n{}", session.log));
    assert_eq!(me["span"]["route"], "/api/apps/{app_id}/entities/User/me");
    assert_eq!(me["status"], 200);
    assert!(me["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{me}");
    let answered = lines.iter().filter(|line| line["message"] == "answered").count();
    assert!(answered >= 5, "one line per request:\n{}", session.log);
}

#[tokio::test]
async fn text_logs_carry_the_request_id_and_no_secret() {
    let Some(smtp) = SmtpServer::start().await else { return };

    let session = session("text", &smtp).await;

    assert_no_secret(&session);
    let line = session.log.lines().find(|line| line.contains("req-42")).unwrap_or_else(|| panic!("{}", session.log));
    assert!(line.contains("status=200") && line.contains(r#"route="/api/apps/{app_id}/entities/User/me""#), "{line}");
}
