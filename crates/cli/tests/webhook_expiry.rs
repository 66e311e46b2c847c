//! `invitation.expired` exactly once with several instances: three `usher serve` processes on
//! one PostgreSQL database each sweep for expired invitations every few seconds; the real
//! receiver (verifying with `standardwebhooks`) gets one event per invitation, not one per
//! instance.

#[expect(dead_code, reason = "this suite starts its servers with ThreeInstances, not serve")]
mod support;
#[path = "support/three_instances.rs"]
mod three_instances;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use three_instances::ThreeInstances;
use usher_testkit::{PgDatabase, WebhookReceiver};

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
    let allow_private = [("USHER_WEBHOOK_ALLOW_PRIVATE", "true")];
    let mut instances = ThreeInstances::start(database.url(), &mail_url, &allow_private).await;
    instances.set(json!({ "invitation_ttl_seconds": TTL_SECS })).await;
    let (app_id, api_key) = (&instances.app_id, &instances.api_key);
    receiver.subscribe(&instances.base(1), app_id, api_key, &["invitation.expired"]).await;
    instances.invite_each((0..INVITES).map(|n| format!("expiring{n}@example.com"))).await;

    // The lifetime, then the first sweep after it (each instance sweeps every 5 s), with room
    // for a loaded machine.
    let patience = Duration::from_secs(TTL_SECS + 120);
    receiver.wait_at_most(patience, |received| received.len() >= INVITES).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let received = receiver.received().await;
    instances.stop();

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
