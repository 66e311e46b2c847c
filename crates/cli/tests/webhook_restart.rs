//! A hard kill loses no webhook event. The server is killed with SIGKILL while some of an
//! app's events are in flight (posted to a receiver that holds them unanswered) and the rest
//! are waiting their turn; started again on the same database, it delivers every event at
//! least once to the real receiver, which verifies each with the independent
//! `standardwebhooks` library. What was in flight comes again under the same `webhook-id`, once
//! its claim's lease (60 s) has run out.

#[expect(dead_code, reason = "this suite starts its server with serve_with, not serve")]
mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{PgDatabase, WebhookReceiver, free_port};

/// Invitations made before the kill: more than the worker posts at once (16), so some events
/// are in flight and some still pending when it dies.
const INVITES: usize = 30;

/// How long after the restart every event must have arrived: the lease of what the killed
/// server had claimed (60 s), and room to spare.
const RESTART_BOUND: Duration = Duration::from_secs(100);

/// `usher serve` for `database` on `port`, allowed to post to the receiver on loopback.
fn serve(database: &str, port: u16, mail_dir: &str) -> std::process::Child {
    serve_with(database, port, &format!("file://{mail_dir}"), &[("USHER_WEBHOOK_ALLOW_PRIVATE", "true")])
}

/// The addresses of the `invitation.created` events answered 2xx, and how many times each.
fn delivered(received: &[Value]) -> HashMap<String, usize> {
    let mut per_address = HashMap::new();
    for delivery in received.iter().filter(|r| r["answered"].as_u64().is_some_and(|code| (200..300).contains(&code))) {
        let email = delivery["payload"]["data"]["email"].as_str().unwrap_or_default().to_owned();
        *per_address.entry(email).or_insert(0) += 1;
    }
    per_address
}

async fn every_event_arrives_after_a_kill_during_delivery(database: &str) {
    let Some(receiver) = WebhookReceiver::start().await else { return };
    let mail = tempfile::tempdir().expect("temp dir");
    let mail_dir = mail.path().display().to_string();
    let (app_id, api_key) = create_app(database);
    let port = free_port();
    let mut first = serve(database, port, &mail_dir);
    wait_healthy(port).await;
    let http = reqwest::Client::new();
    receiver.subscribe(&format!("http://127.0.0.1:{port}"), &app_id, &api_key, &["invitation.created"]).await;
    receiver.hold(true).await;
    let invite_url = format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user");
    let mut invited = HashSet::new();
    for n in 0..INVITES {
        let email = format!("restart{n}@example.com");
        let body = json!({ "user_email": email, "role": "user" });
        let status = http.post(&invite_url).bearer_auth(&api_key).json(&body).send().await.expect("invite").status();
        assert_eq!(status, 200, "invite {n}");
        invited.insert(email);
    }
    let in_flight = receiver.wait_until(|r| !r.is_empty()).await;

    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    receiver.hold(false).await;
    let held: HashSet<String> =
        receiver.received().await.iter().map(|r| r["id"].as_str().expect("webhook-id").to_owned()).collect();
    let restarted_at = Instant::now();
    let port = free_port();
    let mut second = serve(database, port, &mail_dir);
    let received = receiver
        .wait_at_most(RESTART_BOUND, |received| invited.iter().all(|email| delivered(received).contains_key(email)))
        .await;
    let took = restarted_at.elapsed();
    second.kill().expect("stop");
    second.wait().expect("reaped");

    assert!(!in_flight.is_empty() && held.len() < INVITES, "the kill came with {} of {INVITES} in flight", held.len());
    assert!(received.iter().all(|r| r["verified"] == true), "every delivery verifies: {received:#?}");
    assert!(received.iter().all(|r| r["type"] == "invitation.created"));
    let answered: HashSet<&str> = received
        .iter()
        .filter(|r| r["answered"].as_u64().is_some_and(|code| (200..300).contains(&code)))
        .map(|r| r["id"].as_str().expect("webhook-id"))
        .collect();
    assert_eq!(answered.len(), INVITES, "one webhook-id per event");
    for id in &held {
        assert!(answered.contains(id.as_str()), "{id}, in flight at the kill, came again under the same webhook-id");
    }
    eprintln!(
        "{} in flight and {} pending at the kill; all {INVITES} delivered {:.1} s after the restart",
        held.len(),
        INVITES - held.len(),
        took.as_secs_f64()
    );
}

#[tokio::test]
async fn no_webhook_event_is_lost_when_the_server_is_killed_during_delivery_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    every_event_arrives_after_a_kill_during_delivery(&database).await;
}

#[tokio::test]
async fn no_webhook_event_is_lost_when_the_server_is_killed_during_delivery_on_postgres() {
    let Some(database) = PgDatabase::create().await else { return };

    every_event_arrives_after_a_kill_during_delivery(database.url()).await;
}
