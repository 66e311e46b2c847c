//! `Idempotency-Key` claims on each backend: the decision is `rules::idempotency::claim_key`;
//! these show that each store reads, writes and expires keys as it says.

use std::time::Duration;

use usher_core::Store;
use usher_core::idempotency::{Claimed, KeyClaim, KeyedWrite};
use usher_core::model::{Actor, Invitation, InvitationStatus};
use usher_core::rules::idempotency::{KEEP_FOR, LOCK_FOR, StoredResponse};
use usher_core::store::{InvitationQuery, Invited};
use usher_core::{ApiKeyId, AppId, Role, Timestamp};

use crate::support::{T0, app, invite, join_all};

on_both_backends!(
    a_key_is_claimed_once_then_in_use_then_replayed,
    a_key_with_another_fingerprint_is_refused_as_reused,
    a_claim_left_without_response_is_taken_over_after_its_lock,
    a_released_claim_runs_again,
    an_expired_key_is_forgotten_and_claimed_anew,
    keys_are_per_app,
    one_of_racing_claims_wins,
    expired_keys_are_deleted_by_the_next_claim_of_any_key,
    a_keyed_invite_stores_its_response_in_the_invitations_transaction,
    a_keyed_bulk_invite_stores_one_response_for_the_batch,
    a_keyed_revoke_stores_its_response_in_the_revocations_transaction,
    a_throttle_or_failure_is_not_kept_the_claim_is_released,
    a_response_stored_with_the_work_is_not_overwritten_afterwards,
);

fn claim(app_id: &AppId, key: &str, fingerprint: &str, now: Timestamp) -> KeyClaim {
    KeyClaim { app_id: app_id.clone(), key: key.into(), fingerprint: fingerprint.into(), now }
}

fn response(status: u16) -> StoredResponse {
    StoredResponse { status, body: format!("{{\"status\":{status}}}") }
}

async fn a_key_is_claimed_once_then_in_use_then_replayed(store: &dyn Store) {
    let app = app(store).await;

    assert_eq!(store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim"), Claimed::Fresh);
    assert_eq!(store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim"), Claimed::InUse);
    store.complete_key(&app.id, "k1", response(201)).await.expect("complete");

    let later = T0.plus(Duration::from_secs(3600));
    assert_eq!(store.claim_key(claim(&app.id, "k1", "f", later)).await.expect("claim"), Claimed::Replay(response(201)));
}

async fn a_key_with_another_fingerprint_is_refused_as_reused(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim");

    assert_eq!(store.claim_key(claim(&app.id, "k1", "g", T0)).await.expect("claim"), Claimed::Reused);
    store.complete_key(&app.id, "k1", response(200)).await.expect("complete");
    assert_eq!(store.claim_key(claim(&app.id, "k1", "g", T0)).await.expect("claim"), Claimed::Reused);
}

async fn a_claim_left_without_response_is_taken_over_after_its_lock(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim");

    // The process holding it stopped: no response ever comes.
    let after_lock = T0.plus(LOCK_FOR);
    assert_eq!(store.claim_key(claim(&app.id, "k1", "f", after_lock)).await.expect("claim"), Claimed::Fresh);
    assert_eq!(store.claim_key(claim(&app.id, "k1", "f", after_lock)).await.expect("claim"), Claimed::InUse);
}

async fn a_released_claim_runs_again(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim");

    store.release_key(&app.id, "k1").await.expect("release");

    assert_eq!(store.claim_key(claim(&app.id, "k1", "g", T0)).await.expect("claim"), Claimed::Fresh);
}

async fn an_expired_key_is_forgotten_and_claimed_anew(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k1", "f", T0)).await.expect("claim");
    store.complete_key(&app.id, "k1", response(200)).await.expect("complete");

    let expired = T0.plus(KEEP_FOR);
    assert_eq!(store.claim_key(claim(&app.id, "k1", "g", expired)).await.expect("claim"), Claimed::Fresh);
}

async fn keys_are_per_app(store: &dyn Store) {
    let (one, other) = (app(store).await, app(store).await);
    store.claim_key(claim(&one.id, "k1", "f", T0)).await.expect("claim");

    assert_eq!(store.claim_key(claim(&other.id, "k1", "g", T0)).await.expect("claim"), Claimed::Fresh);
}

async fn one_of_racing_claims_wins(store: &dyn Store) {
    let app = app(store).await;

    let outcomes = join_all((0..8).map(|_| store.claim_key(claim(&app.id, "race", "f", T0)))).await;

    let fresh = outcomes.iter().filter(|o| matches!(o, Ok(Claimed::Fresh))).count();
    let in_use = outcomes.iter().filter(|o| matches!(o, Ok(Claimed::InUse))).count();
    assert_eq!((fresh, in_use), (1, 7), "{outcomes:?}");
}

async fn expired_keys_are_deleted_by_the_next_claim_of_any_key(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "old", "f", T0)).await.expect("claim");
    store.complete_key(&app.id, "old", response(200)).await.expect("complete");

    // Another key's claim a day later deletes "old" (cleanup on the way, no sweeper needed).
    store.claim_key(claim(&app.id, "new", "f", T0.plus(KEEP_FOR))).await.expect("claim");

    // Seen from a clock that lags (still within the day): "old" is gone, not replayed or reused.
    let lagging = T0.plus(Duration::from_secs(1));
    assert_eq!(store.claim_key(claim(&app.id, "old", "g", lagging)).await.expect("claim"), Claimed::Fresh);
}

/// A key whose response says how many outcomes its transaction had, and which.
fn invite_key(app_id: &AppId, key: &str, status: u16) -> KeyedWrite<[Invited]> {
    KeyedWrite::new(app_id.clone(), key.into(), move |done: &[Invited]| {
        let outcomes: Vec<&str> = done
            .iter()
            .map(|invited| match invited {
                Invited::Created(_) => "created",
                Invited::Resent(_) => "resent",
                _ => "other",
            })
            .collect();
        StoredResponse { status, body: outcomes.join(",") }
    })
}

async fn invitations(store: &dyn Store, app_id: &AppId) -> Vec<Invitation> {
    store
        .list_invitations(app_id, InvitationQuery { limit: 100, ..InvitationQuery::default() }, T0)
        .await
        .expect("list")
}

async fn a_keyed_invite_stores_its_response_in_the_invitations_transaction(store: &dyn Store) {
    let app = app(store).await;
    assert_eq!(store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim"), Claimed::Fresh);

    let done = store
        .invite_keyed(vec![invite(&app, "ada@example.com", Role::User, T0)], invite_key(&app.id, "k", 200))
        .await
        .expect("invite");

    assert!(matches!(done.as_slice(), [Invited::Created(_)]), "{done:?}");
    assert_eq!(invitations(store, &app.id).await.len(), 1);
    // No complete_key: the invitation's transaction stored the response.
    let replay = StoredResponse { status: 200, body: "created".into() };
    assert_eq!(store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim"), Claimed::Replay(replay));
}

async fn a_keyed_bulk_invite_stores_one_response_for_the_batch(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim");
    let cmds = vec![invite(&app, "ada@example.com", Role::User, T0), invite(&app, "bob@example.com", Role::User, T0)];

    store.invite_keyed(cmds, invite_key(&app.id, "k", 200)).await.expect("invite");

    assert_eq!(invitations(store, &app.id).await.len(), 2);
    let replay = StoredResponse { status: 200, body: "created,created".into() };
    assert_eq!(store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim"), Claimed::Replay(replay));
}

async fn a_keyed_revoke_stores_its_response_in_the_revocations_transaction(store: &dyn Store) {
    let app = app(store).await;
    let Invited::Created(invitation) =
        store.invite(invite(&app, "ada@example.com", Role::User, T0)).await.expect("invite")
    else {
        panic!("a new address is invited")
    };
    store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim");
    let key = KeyedWrite::new(app.id.clone(), "k".into(), |after: &Option<Invitation>| StoredResponse {
        status: 200,
        body: format!("{:?}", after.as_ref().map(|i| i.status)),
    });

    let after = store
        .revoke_keyed(&app.id, &invitation.id, &Actor::ApiKey(ApiKeyId::generate()), T0, key)
        .await
        .expect("revoke")
        .expect("found");

    assert_eq!(after.status, InvitationStatus::Revoked);
    let replay = StoredResponse { status: 200, body: "Some(Revoked)".into() };
    assert_eq!(store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim"), Claimed::Replay(replay));
}

async fn a_throttle_or_failure_is_not_kept_the_claim_is_released(store: &dyn Store) {
    let app = app(store).await;
    for (key, status) in [("throttled", 429), ("failed", 500)] {
        store.claim_key(claim(&app.id, key, "f", T0)).await.expect("claim");

        store
            .invite_keyed(vec![invite(&app, "ada@example.com", Role::User, T0)], invite_key(&app.id, key, status))
            .await
            .expect("invite");

        assert_eq!(store.claim_key(claim(&app.id, key, "f", T0)).await.expect("claim"), Claimed::Fresh, "{status}");
    }
}

async fn a_response_stored_with_the_work_is_not_overwritten_afterwards(store: &dyn Store) {
    let app = app(store).await;
    store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim");
    store
        .invite_keyed(vec![invite(&app, "ada@example.com", Role::User, T0)], invite_key(&app.id, "k", 200))
        .await
        .expect("invite");

    store.complete_key(&app.id, "k", response(400)).await.expect("complete");

    let replay = StoredResponse { status: 200, body: "created".into() };
    assert_eq!(store.claim_key(claim(&app.id, "k", "f", T0)).await.expect("claim"), Claimed::Replay(replay));
}
