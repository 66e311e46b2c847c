//! PostgreSQL stopped under a steady invite load, on a private cluster (initdb and pg_ctl in a
//! temporary directory, on a port of its own; the shared server is never touched): requests
//! during the outage are answered 503 `DATABASE_UNAVAILABLE` with `Retry-After` within a
//! bounded time, `/healthz` reports the outage, Usher recovers by itself within 5 s of the
//! database's return, and every invite answered 200 is delivered.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{create_app, serve, wait_healthy};
use usher_testkit::{PrivateCluster, SmtpServer, free_port};

/// How long the database stays down (issue 15's figure).
const OUTAGE: Duration = Duration::from_secs(20);

/// The longest any request may take, outage or not: the pool's 5 s wait for a connection and
/// a margin.
const LONGEST_ANSWER: Duration = Duration::from_secs(8);

/// How soon after the database is back invites must succeed again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// One invite's answer: status, code, whether `Retry-After` came, how long it took.
#[derive(Debug, Clone)]
struct Answer {
    at: Instant,
    email: String,
    status: Option<u16>,
    code: String,
    has_retry_after: bool,
    took: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_are_answered_503_during_a_postgres_outage_and_recover_within_5_s_of_its_end() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let Some(cluster) = PrivateCluster::start() else { return };
    let database = cluster.url();
    let (app_id, api_key) = create_app(&database);
    let port = free_port();
    let mut server = serve(&database, port, &smtp.url(), None);
    wait_healthy(port).await;
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load = {
        let (answers, running) = (answers.clone(), running.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
            let url = format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user");
            let mut n = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let email = format!("steady{n}@example.com");
                n += 1;
                let body = serde_json::json!({ "user_email": email, "role": "user" });
                let started = Instant::now();
                let response = http.post(&url).bearer_auth(&api_key).json(&body).send().await;
                let took = started.elapsed();
                let (status, code, has_retry_after) = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let has_retry_after = response.headers().contains_key("retry-after");
                        let body: serde_json::Value = response.json().await.unwrap_or_default();
                        (Some(status), body["code"].as_str().unwrap_or_default().to_owned(), has_retry_after)
                    }
                    Err(_) => (None, String::new(), false),
                };
                answers.lock().expect("lock").push(Answer { at: started, email, status, code, has_retry_after, took });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.ctl("stop");
    let down_at = Instant::now();
    tokio::time::sleep(OUTAGE / 2).await;
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.expect("healthz").status().as_u16();
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.expect("readyz").status().as_u16();
    tokio::time::sleep(OUTAGE / 2).await;
    // `pg_ctl start -w` returns some time after the server accepts connections: the outage
    // ends when the start begins, the recovery is timed from when it has surely ended.
    let restart_at = Instant::now();
    cluster.ctl("start");
    let back_at = Instant::now();
    tokio::time::sleep(RECOVERY_BOUND + Duration::from_secs(2)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    load.await.expect("the load runs to the end");
    let answers = answers.lock().expect("lock").clone();
    let answered_200: HashSet<String> =
        answers.iter().filter(|a| a.status == Some(200)).map(|a| a.email.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let delivered: HashSet<String> = smtp.mail.all().iter().map(usher_testkit::Email::to).collect();
        if answered_200.is_subset(&delivered) || Instant::now() > deadline {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.kill().expect("stop");
    server.wait().expect("reaped");
    drop(cluster);

    let during: Vec<&Answer> = answers.iter().filter(|a| a.at > down_at && a.at + a.took < restart_at).collect();
    assert!(!during.is_empty(), "requests were made during the outage");
    for answer in &during {
        assert_eq!(
            (answer.status, answer.code.as_str(), answer.has_retry_after),
            (Some(503), "DATABASE_UNAVAILABLE", true),
            "{answer:?}"
        );
    }
    let slowest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    assert!(slowest <= LONGEST_ANSWER, "the slowest answer took {slowest:?}");
    assert_ne!(health, 200, "/healthz reports the outage");
    assert_eq!(ready, 503, "/readyz reports the outage");
    let first_success_after = answers.iter().filter(|a| a.at >= back_at && a.status == Some(200)).map(|a| a.at).min();
    let recovered_in = first_success_after.map(|at| at - back_at);
    assert!(recovered_in.is_some_and(|d| d <= RECOVERY_BOUND), "recovered in {recovered_in:?}");
    let undelivered: Vec<_> = answered_200.difference(&delivered).collect();
    assert!(undelivered.is_empty(), "answered 200 but never emailed: {undelivered:?}");
    eprintln!(
        "outage {OUTAGE:?}: {} requests during it, all 503; slowest answer {slowest:?}; recovered {recovered_in:?} after the \
         database returned; {} answered 200, all delivered",
        during.len(),
        answered_200.len()
    );
}
