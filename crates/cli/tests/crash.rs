//! A hard kill loses nothing. Emails the killed server had claimed go out within 30 s of a
//! restart (on SQLite at once; on PostgreSQL once the restarted instance has seen the dead
//! one's heartbeat stay silent for a lease), with the default settings, and each once; and
//! every invite answered 200 before the kill is stored.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{create_app, serve, wait_healthy};
use usher_testkit::{PATIENCE, PgDatabase, SmtpServer, free_port};

/// An SDK client of the app `app_id`, acting with its API key, for the server on `port`.
fn client(port: u16, app_id: &str, api_key: &str) -> base44::Client {
    let server_url = format!("http://127.0.0.1:{port}");
    base44::Client::builder().server_url(server_url).app_id(app_id).token(api_key).build().expect("client")
}

/// Short, so the burst test's restarted server takes over at once whatever the backend.
const LEASE: Duration = Duration::from_secs(1);

/// Invites sent before the kill.
const INVITES: usize = 50;

/// How soon after a restart every email of the killed server must be out (issue 15): a claim
/// ends with the process that held it, not with a long timer (DESIGN rule 7).
const RESTART_BOUND: Duration = Duration::from_secs(30);

/// An SMTP server that accepts connections and never answers: what the worker sends there
/// stays claimed. Returns its mail URL and a receiver told of the first connection.
fn blackhole() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (connected, on_connect) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().filter_map(Result::ok) {
            held.push(stream);
            connected.send(()).ok();
        }
    });
    (format!("smtp://127.0.0.1:{port}?tls=none"), on_connect)
}

/// Invites [`INVITES`] addresses through a server whose SMTP server never answers, kills it
/// with SIGKILL while it is sending, restarts it on the same database with a working SMTP
/// server and default settings, and checks that every email arrives once within
/// [`RESTART_BOUND`] of the restart. Returns how long the last one took.
async fn claimed_emails_go_out_within_the_bound_after_a_kill(database: &str, smtp: &SmtpServer) -> Duration {
    let (app_id, api_key) = create_app(database);
    let (stuck_url, on_connect) = blackhole();
    let port = free_port();
    let mut first = serve(database, port, &stuck_url, None);
    wait_healthy(port).await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user");
    for n in 0..INVITES {
        let body = serde_json::json!({ "user_email": format!("crash{n}@example.com"), "role": "user" });
        let status = http.post(&url).bearer_auth(&api_key).json(&body).send().await.expect("invite").status();
        assert_eq!(status, 200, "invite {n}");
    }
    on_connect.recv_timeout(PATIENCE).expect("the worker claimed email and is sending it");

    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    let restarted_at = Instant::now();
    let port = free_port();
    let mut second = serve(database, port, &smtp.url(), None);
    let per_address = loop {
        let mut per_address: HashMap<String, usize> = HashMap::new();
        for mail in smtp.mail.all() {
            *per_address.entry(mail.to()).or_default() += 1;
        }
        if per_address.len() >= INVITES || restarted_at.elapsed() > RESTART_BOUND {
            break per_address;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = restarted_at.elapsed();
    second.kill().expect("stop");
    second.wait().expect("reaped");

    assert_eq!(per_address.len(), INVITES, "emails out {:.1} s after the restart", took.as_secs_f64());
    let twice: Vec<_> = per_address.iter().filter(|&(_, &count)| count > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    took
}

#[tokio::test]
async fn emails_claimed_by_a_killed_server_go_out_once_within_30_s_of_a_restart_on_sqlite() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    let took = claimed_emails_go_out_within_the_bound_after_a_kill(&database, &smtp).await;

    eprintln!("SQLite: every email out {:.1} s after the restart", took.as_secs_f64());
}

#[tokio::test]
async fn emails_claimed_by_a_killed_server_go_out_once_within_30_s_of_a_restart_on_postgres() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let Some(database) = PgDatabase::create().await else { return };

    let took = claimed_emails_go_out_within_the_bound_after_a_kill(database.url(), &smtp).await;

    eprintln!("PostgreSQL: every email out {:.1} s after the restart", took.as_secs_f64());
}

/// Invites `{prefix}{n}@example.com` for `n` in `0..count`, `clients` at a time, on `port`;
/// returns the addresses that were answered 200. Requests cut off by a kill count as unanswered.
async fn invite_burst(
    port: u16,
    (app_id, api_key): (&str, &str),
    prefix: &'static str,
    count: usize,
    clients: usize,
) -> Vec<String> {
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
                let email = format!("{prefix}{n}@example.com");
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
    let mut server = serve(&database, port, &mail, Some(LEASE));
    wait_healthy(port).await;
    let pid = server.id();

    let burst = invite_burst(port, (&app_id, &api_key), "burst", 3_000, 32);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill -9");
    };
    let (answered, ()) = tokio::join!(burst, killer);
    server.wait().expect("reaped");
    let port = free_port();
    let mut restarted = serve(&database, port, &mail, Some(LEASE));
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

/// A number from the clock's nanoseconds: enough to vary when a kill lands.
fn varying(below: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % below
}

/// A setting of the fault suite from the environment, or its bounded default.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The fault suite on SQLite: cycles of a burst of concurrent invites, `kill -9` in the middle
/// of it, a restart on the same data, and the wait for every email. Bounded here (2 cycles of
/// 1,000 invites); `USHER_FAULT_CYCLES=10` runs the long form. Prints one line of figures per
/// cycle (docs/reliability.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invite_answered_200_is_delivered_within_30_s_through_repeated_kills_on_sqlite() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let (cycles, invites) = (setting("USHER_FAULT_CYCLES", 2), setting("USHER_FAULT_INVITES", 1_000));
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&database);
    let mut port = free_port();
    let mut server = serve(&database, port, &smtp.url(), None);
    wait_healthy(port).await;
    const PREFIXES: [&str; 10] = ["c0-", "c1-", "c2-", "c3-", "c4-", "c5-", "c6-", "c7-", "c8-", "c9-"];

    for cycle in 0..cycles {
        let prefix = PREFIXES[cycle % PREFIXES.len()];
        let pid = server.id();
        let burst = invite_burst(port, (&app_id, &api_key), prefix, invites, 32);
        let killer = async {
            tokio::time::sleep(Duration::from_millis(200 + varying(400))).await;
            Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill -9");
        };
        let (answered, ()) = tokio::join!(burst, killer);
        server.wait().expect("reaped");
        let restarted_at = Instant::now();
        port = free_port();
        server = serve(&database, port, &smtp.url(), None);
        wait_healthy(port).await;
        let mut stored = std::collections::HashSet::new();
        let mut cursor = None;
        let listing = client(port, &app_id, &api_key);
        loop {
            let mut filter = base44::InvitationFilter::new().limit(200);
            if let Some(cursor) = &cursor {
                filter = filter.after(cursor);
            }
            let page = listing.invitations().list(&filter).await.expect("list");
            stored.extend(page.items.into_iter().map(|invitation| invitation.email).filter(|e| e.starts_with(prefix)));
            if !page.has_more {
                break;
            }
            cursor = page.next_cursor;
        }
        let per_address = loop {
            let mut per_address: HashMap<String, usize> = HashMap::new();
            for mail in smtp.mail.all().iter().filter(|mail| mail.to().starts_with(prefix)) {
                *per_address.entry(mail.to()).or_default() += 1;
            }
            let done = answered.iter().all(|email| per_address.contains_key(email));
            if done || restarted_at.elapsed() > RESTART_BOUND {
                break per_address;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let took = restarted_at.elapsed();
        let lost: Vec<_> = answered.iter().filter(|email| !stored.contains(*email)).collect();
        let undelivered: Vec<_> = answered.iter().filter(|email| !per_address.contains_key(*email)).collect();
        let duplicates = per_address.values().filter(|&&count| count > 1).count();
        eprintln!(
            "SQLite cycle {cycle}: {} of {invites} answered 200, {} stored, {} addresses emailed, last answered one \
             delivered {:.1} s after the restart, {duplicates} duplicates",
            answered.len(),
            stored.len(),
            per_address.len(),
            took.as_secs_f64()
        );
        assert!(lost.is_empty(), "cycle {cycle}: answered 200 but not stored: {lost:?}");
        assert!(undelivered.is_empty(), "cycle {cycle}: not delivered within {RESTART_BOUND:?}: {undelivered:?}");
        // Only a message holding one of the 16 delivery slots at the kill (inside an SMTP
        // conversation, or sent and waiting for the commit that records it) may go out twice;
        // the claim's other messages are not sent again.
        assert!(duplicates <= 16, "cycle {cycle}: {duplicates} duplicates");
    }
    server.kill().expect("stop");
    server.wait().expect("reaped");
}
