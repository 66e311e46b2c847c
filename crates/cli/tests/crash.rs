//! A hard kill between claiming an email and sending it loses nothing: after a restart the
//! email goes out once its lease runs out.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use base44::Role;
use support::{serve, wait_healthy};
use usher_testkit::{PATIENCE, SmtpServer, free_port};

/// Short, so the restarted server soon takes over the dead one's claim.
const LEASE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn email_claimed_by_a_killed_server_is_sent_once_after_restart() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let created = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["app", "create", "--name", "Acme", "--app-url", "https://acme.test/", "--json"])
        .env("DATABASE_URL", &database)
        .output()
        .expect("app create");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    // An SMTP server that accepts connections and never answers: the email stays claimed.
    let blackhole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let blackhole_port = blackhole.local_addr().expect("addr").port();
    let (connected, on_connect) = mpsc::channel();
    std::thread::spawn(move || {
        let held: Vec<_> = blackhole.incoming().take(1).filter_map(Result::ok).collect();
        connected.send(()).ok();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let port = free_port();
    let mut first = serve(&database, port, &format!("smtp://127.0.0.1:{blackhole_port}?tls=none"), LEASE);
    wait_healthy(port).await;
    let client = base44::Client::builder()
        .server_url(format!("http://127.0.0.1:{port}"))
        .app_id(created["app_id"].as_str().expect("app_id"))
        .token(created["api_key"].as_str().expect("api_key"))
        .build()
        .expect("client");
    client.users().invite_user("ada@example.com", Role::User).await.expect("invite");
    on_connect.recv_timeout(PATIENCE).expect("the worker claimed the email and is sending it");

    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    let port = free_port();
    let mut second = serve(&database, port, &smtp.url(), LEASE);
    wait_healthy(port).await;

    let mail = smtp.mail.wait_for("ada@example.com").await;
    second.kill().expect("stop");
    second.wait().expect("reaped");
    assert!(mail.join_link().contains("/join?token=inv_"));
    assert_eq!(smtp.mail.to("ada@example.com").len(), 1);
}
