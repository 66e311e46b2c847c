//! A hard kill between claiming an email and sending it loses nothing: after a restart the
//! email goes out once its lease runs out.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use base44::Role;
use support::{create_app, serve, wait_healthy};
use usher_testkit::{PATIENCE, SmtpServer, free_port};

/// An SDK client of the app `app_id`, acting with its API key, for the server on `port`.
fn client(port: u16, app_id: &str, api_key: &str) -> base44::Client {
    let server_url = format!("http://127.0.0.1:{port}");
    base44::Client::builder().server_url(server_url).app_id(app_id).token(api_key).build().expect("client")
}

/// Short, so the restarted server soon takes over the dead one's claim.
const LEASE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn email_claimed_by_a_killed_server_is_sent_once_after_restart() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&database);
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
    let client = client(port, &app_id, &api_key);
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

/// Invites `burst{n}@example.com` for `n` in `0..count`, `clients` at a time, on `port`;
/// returns the addresses that were answered 200. Requests cut off by a kill count as unanswered.
async fn invite_burst(port: u16, app_id: &str, api_key: &str, count: usize, clients: usize) -> Vec<String> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, app_id, api_key) = (next.clone(), app_id.to_owned(), api_key.to_owned());
        tasks.spawn(async move {
            let http = reqwest::Client::new();
            let url = format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user");
            let mut answered = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return answered;
                }
                let email = format!("burst{n}@example.com");
                let body = serde_json::json!({ "user_email": email, "role": "user" });
                match http.post(&url).bearer_auth(&api_key).json(&body).send().await {
                    Ok(response) if response.status() == 200 => answered.push(email),
                    Ok(response) => panic!("invite {email}: {}", response.status()),
                    Err(_) => {}
                }
            }
        });
    }
    let mut answered = Vec::new();
    while let Some(task) = tasks.join_next().await {
        answered.extend(task.expect("no client panics"));
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invite_answered_200_is_stored_when_the_server_is_killed_during_a_burst() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let mail = format!("file://{}/mail", dir.path().display());
    let (app_id, api_key) = create_app(&database);
    let port = free_port();
    let mut server = serve(&database, port, &mail, LEASE);
    wait_healthy(port).await;
    let pid = server.id();

    let burst = invite_burst(port, &app_id, &api_key, 3_000, 32);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill -9");
    };
    let (answered, ()) = tokio::join!(burst, killer);
    server.wait().expect("reaped");
    let port = free_port();
    let mut restarted = serve(&database, port, &mail, LEASE);
    wait_healthy(port).await;

    let client = client(port, &app_id, &api_key);
    let mut stored = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let mut filter = base44::InvitationFilter::new().limit(200);
        if let Some(cursor) = &cursor {
            filter = filter.after(cursor);
        }
        let page = client.invitations().list(&filter).await.expect("list");
        stored.extend(page.items.into_iter().map(|invitation| invitation.email));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    restarted.kill().expect("stop");
    restarted.wait().expect("reaped");
    assert!(!answered.is_empty() && answered.len() < 3_000, "the kill landed mid-burst ({} answered)", answered.len());
    let lost: Vec<_> = answered.iter().filter(|email| !stored.contains(*email)).collect();
    assert!(lost.is_empty(), "answered 200 but not stored after the restart: {lost:?}");
}
