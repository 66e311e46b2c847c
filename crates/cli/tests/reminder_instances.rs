//! One reminder per invitation with several instances: three `usher serve` processes on one
//! PostgreSQL database, each with its delivery worker claiming due mail; every invitee gets
//! exactly one reminder, with the link of their invitation email.
//!
//! The servers run on the system clock and a reminder falls due hours before expiry (the
//! setting is in hours), so the test moves the reminders' due time to now in the database:
//! the stand-in for those hours passing. Everything after that is the servers' own work.

#[expect(dead_code, reason = "this suite starts its servers with ThreeInstances, not serve")]
mod support;
#[path = "support/three_instances.rs"]
mod three_instances;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use three_instances::ThreeInstances;
use usher_store::testing::{execute_sql, query_text};
use usher_testkit::{MailDir, PATIENCE, PgDatabase};

/// Invitations, each reminded once.
const INVITES: usize = 12;

#[tokio::test]
async fn three_instances_on_postgres_send_each_reminder_once() {
    let Some(database) = PgDatabase::create().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let mail = MailDir::new(dir.path().to_owned());
    let mail_url = format!("file://{}", dir.path().display());
    // One public address for all, as behind a load balancer: it goes into the links.
    let public = [("USHER_PUBLIC_URL", "http://usher.example.test/")];
    let mut instances = ThreeInstances::start(database.url(), &mail_url, &public).await;
    instances.set(json!({ "invitation_ttl_seconds": 7200, "reminder_before_expiry_hours": 1 })).await;
    let address = |n: usize| format!("remind{n:02}@example.com");
    instances.invite_each((0..INVITES).map(address)).await;
    let mut links = Vec::new();
    for n in 0..INVITES {
        links.push(mail.wait_for(&address(n)).await.join_link());
    }

    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis();
    execute_sql(
        database.url(),
        &format!("UPDATE outbox_messages SET next_attempt_at = {now}, created_at = {now} WHERE kind = 'reminder'"),
    )
    .await;
    // Done when no reminder is left to send: then no instance can send one again.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let statuses = query_text(database.url(), "SELECT status FROM outbox_messages WHERE kind = 'reminder'").await;
        if statuses.len() == INVITES && statuses.iter().all(|status| status == "sent") {
            break;
        }
        assert!(Instant::now() < deadline, "reminders not all sent: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    instances.stop();

    for (n, link) in links.iter().enumerate() {
        let mails = mail.to(&address(n));
        let reminders: Vec<_> =
            mails.iter().filter(|m| m.header("X-Usher-Kind").as_deref() == Some("reminder")).collect();
        assert_eq!((mails.len(), reminders.len()), (2, 1), "{}: one invitation, one reminder", address(n));
        assert_eq!(&reminders[0].join_link(), link, "the same link");
    }
}
