//! `Idempotency-Key` claims on each backend: the decision is `rules::idempotency::claim_key`;
//! these show that each store reads, writes and expires keys as it says.

use std::time::Duration;

use usher_core::Store;
use usher_core::idempotency::{Claimed, KeyClaim};
use usher_core::rules::idempotency::{KEEP_FOR, LOCK_FOR, StoredResponse};
use usher_core::{AppId, Timestamp};

use crate::support::{T0, app, join_all};

on_both_backends!(
    a_key_is_claimed_once_then_in_use_then_replayed,
    a_key_with_another_fingerprint_is_refused_as_reused,
    a_claim_left_without_response_is_taken_over_after_its_lock,
    a_released_claim_runs_again,
    an_expired_key_is_forgotten_and_claimed_anew,
    keys_are_per_app,
    one_of_racing_claims_wins,
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
