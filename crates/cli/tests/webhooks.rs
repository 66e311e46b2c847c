//! `usher webhooks …` against a real server and the real webhook receiver, which verifies
//! every delivery with the independent `standardwebhooks` library.

use std::process::Output;
use std::time::Duration;

use base44::Role;
use serde_json::Value;
use usher_testkit::{TestApp, WebhookReceiver};

/// Runs the built `usher` with `args` against `app`, off the async runtime.
async fn usher(app: &TestApp, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env = [
        ("USHER_SERVER", app.base.to_string()),
        ("USHER_APP_ID", app.app_id.clone()),
        ("USHER_API_KEY", app.api_key.clone()),
    ];
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_usher")).args(args).envs(env).output().expect("run usher")
    })
    .await
    .expect("join")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// `usher webhooks deliveries ID --json` once `done` holds for it (the receiver has its
/// answer a moment before the attempt is recorded).
async fn deliveries_when(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut deliveries = Vec::new();
    for _ in 0..300 {
        deliveries =
            json(&usher(app, &["webhooks", "deliveries", id, "--json"]).await).as_array().cloned().expect("a list");
        if done(&deliveries) {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deliveries did not come to the expected state: {deliveries:#?}");
}

#[tokio::test]
async fn a_webhook_added_from_the_command_line_gets_signed_events_until_it_is_removed() {
    let Some(receiver) = WebhookReceiver::start().await else { return };
    let app = TestApp::spawn().await;
    let url = receiver.url("/hook");

    let added = stdout(
        &usher(&app, &["webhooks", "add", &url, "--event", "invitation.created", "--event", "email.sent"]).await,
    );
    let secret = added.split_whitespace().find(|word| word.starts_with("whsec_")).expect("the secret is shown");
    receiver.configure(secret, 0).await;
    let listed = json(&usher(&app, &["webhooks", "ls", "--json"]).await);
    let table = stdout(&usher(&app, &["webhooks", "ls"]).await);
    let id = listed[0]["id"].as_str().expect("id").to_owned();
    assert!(added.contains(&id) && added.contains(&url), "{added}");
    assert_eq!(listed[0]["events"], serde_json::json!(["invitation.created", "email.sent"]));
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert!(table.contains(&id) && table.contains(&url) && !table.contains("whsec_"), "shown only once: {table}");

    // Someone invited: the receiver gets the signed events, and `deliveries` says so.
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let received = receiver
        .wait_until(|r| ["invitation.created", "email.sent"].iter().all(|kind| r.iter().any(|d| d["type"] == *kind)))
        .await;
    assert!(received.iter().all(|d| d["verified"] == true && d["payload"]["data"]["email"] == "ada@example.com"));
    let deliveries = deliveries_when(&app, &id, |d| d.len() == 2 && d.iter().all(|d| d["status"] == "delivered")).await;
    let created = deliveries.iter().find(|d| d["event_type"] == "invitation.created").expect("invitation.created");
    assert_eq!((&created["attempts"], &created["last_status_code"]), (&1.into(), &204.into()));
    assert!(received.iter().any(|d| d["id"] == created["id"]), "a delivery's id is its webhook-id");
    let table = stdout(&usher(&app, &["webhooks", "deliveries", &id]).await);
    assert!(table.contains("invitation.created") && table.contains("delivered") && table.contains("204"), "{table}");

    // Removed: the next invitation writes nothing for it, while another endpoint still hears.
    let removed = stdout(&usher(&app, &["webhooks", "rm", &id]).await);
    assert!(removed.contains(&id), "{removed}");
    let other = receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &["invitation.created"]).await;
    app.client().users().invite_user("bob@example.com", Role::User).await.expect("invite");
    let received = receiver.wait_until(|r| r.iter().any(|d| d["payload"]["data"]["email"] == "bob@example.com")).await;
    let to_bob: Vec<&Value> = received.iter().filter(|d| d["payload"]["data"]["email"] == "bob@example.com").collect();
    assert_eq!(to_bob.len(), 1, "only the remaining endpoint: {to_bob:#?}");
    assert!(to_bob[0]["id"].as_str().is_some_and(|webhook_id| webhook_id.ends_with(&other.id)), "{to_bob:#?}");
    let left = app
        .query_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE webhook_id = '{id}'"))
        .await;
    assert_eq!(left, ["0"], "nothing is left to deliver to the removed endpoint");
    let gone = usher(&app, &["webhooks", "deliveries", &id]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("WEBHOOK_NOT_FOUND"), "{gone:?}");
}

#[tokio::test]
async fn a_rotated_secret_signs_what_follows_and_a_delivery_is_retried_by_hand() {
    let Some(receiver) = WebhookReceiver::start().await else { return };
    let app = TestApp::spawn().await;

    let added = json(
        &usher(&app, &["webhooks", "add", &receiver.url("/hook"), "--event", "invitation.created", "--json"]).await,
    );
    let id = added["id"].as_str().expect("id");
    let rotated = json(&usher(&app, &["webhooks", "rotate-secret", id, "--json"]).await);
    let secret = rotated["secret"].as_str().expect("the new secret");
    assert!(secret.starts_with("whsec_") && rotated["secret"] != added["secret"], "{rotated}");
    receiver.configure(secret, 0).await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    receiver.wait_until(|r| r.len() == 1).await;
    let delivered = deliveries_when(&app, id, |d| d.first().is_some_and(|d| d["status"] == "delivered")).await;
    let delivery_id = delivered[0]["id"].as_str().expect("delivery id");

    let retried = stdout(&usher(&app, &["webhooks", "retry", id, delivery_id]).await);
    let received = receiver.wait_until(|r| r.len() == 2).await;

    assert!(retried.contains(delivery_id), "{retried}");
    assert!(received.iter().all(|d| d["verified"] == true && d["id"] == delivery_id), "{received:#?}");
}

#[tokio::test]
async fn refusals_name_their_code_and_usage_errors_exit_2() {
    let app = TestApp::spawn().await;

    let bad_url = usher(&app, &["webhooks", "add", "ftp://example.com/", "--event", "invitation.created"]).await;
    let bad_event =
        usher(&app, &["webhooks", "add", "https://example.com/", "--event", "user.created", "--json"]).await;
    let no_event = usher(&app, &["webhooks", "add", "https://example.com/"]).await;
    let unknown = usher(&app, &["webhooks", "rm", "0123456789abcdef01234567", "--json"]).await;

    assert_eq!(bad_url.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_url.stderr).contains("http:// or https:// (INVALID_WEBHOOK)"), "{bad_url:?}");
    assert_eq!(bad_event.status.code(), Some(1));
    let bad_event: Value = serde_json::from_slice(&bad_event.stderr).expect("one JSON object on stderr");
    assert_eq!(bad_event["code"], "INVALID_WEBHOOK");
    assert_eq!(no_event.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_event.stderr).contains("--event <TYPE>"), "{no_event:?}");
    assert_eq!(unknown.status.code(), Some(1));
    let unknown: Value = serde_json::from_slice(&unknown.stderr).expect("one JSON object on stderr");
    assert_eq!(unknown["code"], "WEBHOOK_NOT_FOUND");
}

#[test]
fn add_help_names_every_event_type() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["webhooks", "add", "--help"])
        .output()
        .expect("run usher");
    let help = String::from_utf8_lossy(&help.stdout);

    for kind in usher_core::webhooks::EventType::ALL {
        assert!(help.contains(kind.as_str()), "{} is missing from:\n{help}", kind.as_str());
    }
}
