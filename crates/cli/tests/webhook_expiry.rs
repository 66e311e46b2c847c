//! `invitation.expired` exactly once with several instances: three `usher serve` processes on
//! one PostgreSQL database each sweep for expired invitations every few seconds; the real
//! receiver (verifying with `standardwebhooks`) gets one event per invitation, not one per
//! instance.

#[expect(dead_code, reason = "this suite starts its servers with serve_with, not serve")]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{PgDatabase, WebhookReceiver, free_port};

/// Invitations that expire.
const INVITES: usize = 12;

/// The shortest invitation lifetime an app may set.
const TTL_SECS: u64 = 60;

#[tokio::test]
async fn three_instances_on_postgres_announce_each_expired_invitation_once() {
    let Some(receiver) = WebhookReceiver::start().await else { return };
    let Some(database) = PgDatabase::create().await else { return };
    let mail = tempfile::tempdir().expect("temp dir");
    let mail_url = format!("file://{}", mail.path().display());
    let (app_id, api_key) = create_app(database.url());
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut servers: Vec<_> = ports
        .iter()
        .map(|&port| serve_with(database.url(), port, &mail_url, &[("USHER_WEBHOOK_ALLOW_PRIVATE", "true")]))
        .collect();
    for &port in &ports {
        wait_healthy(port).await;
    }
    let http = reqwest::Client::new();
    let api = |n: usize, path: &str| format!("http://127.0.0.1:{}/api/apps/{app_id}/{path}", ports[n % 3]);
    let settings = http
        .patch(api(0, "settings"))
        .bearer_auth(&api_key)
        .json(&json!({ "invitation_ttl_seconds": TTL_SECS }))
        .send()
        .await
        .expect("settings");
    assert_eq!(settings.status(), 200);
    receiver.subscribe(&format!("http://127.0.0.1:{}", ports[1]), &app_id, &api_key, &["invitation.expired"]).await;
    for n in 0..INVITES {
        let body = json!({ "user_email": format!("expiring{n}@example.com"), "role": "user" });
        let response = http
            .post(api(n, "runtime/users/invite-user"))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
            .await
            .expect("invite");
        assert_eq!(response.status(), 200, "invite {n}");
    }

    // The lifetime, then the first sweep after it (each instance sweeps every 5 s), with room
    // for a loaded machine.
    let patience = Duration::from_secs(TTL_SECS + 120);
    receiver.wait_at_most(patience, |received| received.len() >= INVITES).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let received = receiver.received().await;
    for server in &mut servers {
        server.kill().expect("stop");
        server.wait().expect("reaped");
    }

    let mut per_invitation: HashMap<&str, usize> = HashMap::new();
    for delivery in &received {
        assert_eq!(delivery["verified"], true, "{delivery:#?}");
        assert_eq!(delivery["type"], "invitation.expired");
        assert_eq!(delivery["payload"]["data"]["status"], "expired");
        *per_invitation.entry(delivery["payload"]["data"]["invitation_id"].as_str().expect("id")).or_default() += 1;
    }
    assert_eq!(per_invitation.len(), INVITES, "every invitation's expiry is announced");
    assert!(per_invitation.values().all(|&count| count == 1), "announced more than once: {per_invitation:?}");
}
