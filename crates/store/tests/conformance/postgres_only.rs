//! What only PostgreSQL has: several instances on one database. Each case opens more than one
//! [`PgStore`] (a pool of its own, as a separate `usher serve` process has) on one fresh
//! database.

use std::collections::HashSet;
use std::time::Duration;

use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_postgres::PgConnection;
use usher_core::InstanceId;
use usher_core::Role;
use usher_core::Store;
use usher_core::store::{InvitationStore, Invited, OutboxStore};
use usher_store::{OpenError, PgStore};

use crate::support::{PgDatabase, T0, app, invite, join_all};

/// How long an instance may go without a heartbeat before it is presumed dead, in these cases.
const WINDOW: Duration = Duration::from_secs(15);

/// A newly registered instance on `store`.
async fn instance(store: &dyn Store) -> InstanceId {
    let id = InstanceId::generate();
    store.register_instance(&id, T0).await.expect("register");
    id
}

#[tokio::test]
async fn connect_migrates_once_when_three_instances_start_at_once() {
    let Some(db) = PgDatabase::create().await else { return };

    let opened = join_all((0..3).map(|_| PgStore::connect(db.url()))).await;

    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
    }
    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    let versions: Vec<(i64,)> = sqlx_core::query_as::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("migrations table");
    assert_eq!(
        versions,
        [(1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (12,), (13,), (14,), (15,), (16,)]
    );
}

#[tokio::test]
async fn invite_of_one_address_on_two_instances_leaves_one_pending_invitation() {
    let Some(db) = PgDatabase::create().await else { return };
    let first = PgStore::connect(db.url()).await.expect("first instance");
    let second = PgStore::connect(db.url()).await.expect("second instance");
    let app = app(&first).await;
    let instances: [&dyn Store; 2] = [&first, &second];

    let records = join_all((0..10).map(|n| {
        let mut cmd = invite(&app, "ada@example.org", Role::User, T0);
        cmd.resend_interval = Duration::ZERO;
        instances[n % 2].invite(cmd)
    }))
    .await;

    let mut created = 0;
    let mut ids = HashSet::new();
    for record in records {
        match record.expect("no invite fails") {
            Invited::Created(invitation) => {
                created += 1;
                ids.insert(invitation.id);
            }
            Invited::Resent(invitation) => {
                ids.insert(invitation.id);
            }
            other => panic!("expected Created or Resent, got {other:?}"),
        }
    }
    assert_eq!((created, ids.len()), (1, 1), "one invitation, created once, re-sent by the rest");
}

#[tokio::test]
async fn claim_outbox_on_two_instances_hands_each_message_to_one_of_them() {
    let Some(db) = PgDatabase::create().await else { return };
    let first = PgStore::connect(db.url()).await.expect("first instance");
    let second = PgStore::connect(db.url()).await.expect("second instance");
    let app = app(&first).await;
    for n in 0..40 {
        first.invite(invite(&app, &format!("user{n}@example.org"), Role::User, T0)).await.expect("invite");
    }
    let stores: [&dyn Store; 2] = [&first, &second];
    let mut claimers = Vec::new();
    for n in 0..8 {
        claimers.push(instance(stores[n % 2]).await);
    }

    let claims = join_all((0..8).map(|n| stores[n % 2].claim_outbox(&claimers[n], T0, 7))).await;

    let mut claimed = HashSet::new();
    for batch in claims {
        for message in batch.expect("claim") {
            assert!(claimed.insert(message.id.clone()), "{} was claimed twice", message.id);
        }
    }
    assert_eq!(claimed.len(), 40, "eight claims of seven cover all forty messages");
    let survivor = instance(&second).await;
    let mut at = T0;
    while at <= T0.plus(WINDOW) {
        at = at.plus(WINDOW / 4);
        second.renew_instance(&survivor, at, WINDOW).await.expect("renew");
    }
    let reclaimed = second.claim_outbox(&survivor, at, 100).await.expect("claim after the others went silent");
    assert_eq!(reclaimed.len(), 40, "instances that claimed and vanished leave their messages to the others");
}

#[tokio::test]
async fn connect_refuses_a_database_migrated_by_a_newer_build() {
    let Some(db) = PgDatabase::create().await else { return };
    drop(PgStore::connect(db.url()).await.expect("first start migrates"));
    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("a newer migration is recorded");

    let error = PgStore::connect(db.url()).await.expect_err("a newer schema is refused");

    assert!(matches!(error, OpenError::SchemaTooNew { found: 99, known: 16 }), "{error}");
}

#[tokio::test]
async fn expired_invitations_are_announced_once_when_three_instances_sweep_at_once() {
    use usher_core::store::WebhookStore;
    use usher_core::webhooks::{EventType, NewWebhook, WebhookSecret};

    let Some(db) = PgDatabase::create().await else { return };
    let instances = [
        PgStore::connect(db.url()).await.expect("first instance"),
        PgStore::connect(db.url()).await.expect("second instance"),
        PgStore::connect(db.url()).await.expect("third instance"),
    ];
    let app = app(&instances[0]).await;
    let hook = NewWebhook {
        id: usher_core::WebhookId::generate(),
        app_id: app.id.clone(),
        url: "https://hooks.example.com/usher".into(),
        events: vec![EventType::InvitationExpired],
        secret: WebhookSecret::generate(),
        now: T0,
    };
    let hook = instances[0].create_webhook(hook).await.expect("webhook");
    for n in 0..60 {
        instances[0].invite(invite(&app, &format!("user{n}@example.org"), Role::User, T0)).await.expect("invite");
    }
    let expiry = T0.plus(crate::support::TTL);

    // Each instance sweeps in batches smaller than the whole, as the worker does, all at once.
    let sweeps = join_all((0..9).map(|n| instances[n % 3].announce_expired_invitations(expiry, 25))).await;

    let announced: u64 = sweeps.into_iter().map(|swept| swept.expect("sweep")).sum();
    let rest = instances[1].announce_expired_invitations(expiry, 100).await.expect("sweep");
    assert_eq!(announced + rest, 60, "every expired invitation is announced");
    let deliveries = instances[2].webhook_deliveries(&app.id, &hook.id, 200).await.expect("list").expect("hook");
    let mut per_invitation = std::collections::HashMap::new();
    for delivery in instances[2].claim_webhook_deliveries(expiry, expiry.plus(WINDOW), 200).await.expect("claim") {
        let payload: serde_json::Value = serde_json::from_str(&delivery.payload).expect("JSON");
        *per_invitation.entry(payload["data"]["invitation_id"].as_str().expect("id").to_owned()).or_insert(0) += 1;
    }
    assert_eq!(deliveries.len(), 60, "one invitation.expired per invitation, not one per instance");
    assert_eq!(per_invitation.len(), 60);
    assert!(per_invitation.values().all(|&count| count == 1), "{per_invitation:?}");
    assert_eq!(instances[0].announce_expired_invitations(expiry.plus(WINDOW), 100).await.expect("sweep"), 0);
}
