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
    assert_eq!(versions, [(1,), (2,), (3,), (4,), (5,), (6,), (9,)]);
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

    assert!(matches!(error, OpenError::SchemaTooNew { found: 99, known: 9 }), "{error}");
}
