//! `Idempotency-Key` claims on each backend: the decision is `rules::idempotency::claim_key`;
//! these show that each store reads, writes and expires keys as it says.

use std::time::Duration;

use usher_core::Store;
use usher_core::idempotency::{Claimed, KeyClaim, KeyedRows, KeyedWrite, RowDone, RowKey};
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
    row_keys_fresh_rows_run_and_their_results_are_stored_with_the_invitations,
    row_keys_a_mixed_batch_replays_refuses_and_runs_row_by_row,
    row_keys_a_key_twice_in_one_batch_runs_once,
    row_keys_a_throttled_row_keeps_no_key_and_runs_again,
    row_keys_expire_after_a_day,
    row_keys_racing_batches_invite_a_keyed_row_once,
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

/// Keys per row: `rows[i]` is the key and fingerprint of command `i`; each row's stored result
/// names what the store did for it, with `status`.
fn row_keys(app_id: &AppId, now: Timestamp, rows: &[Option<(&str, &str)>], status: u16) -> KeyedRows {
    let keys = rows
        .iter()
        .map(|row| row.map(|(key, fingerprint)| RowKey { key: key.into(), fingerprint: fingerprint.into() }))
        .collect();
    KeyedRows::new(app_id.clone(), now, keys, move |_, invited: &Invited| {
        let body = match invited {
            Invited::Created(invitation) => format!("created {}", invitation.email),
            Invited::Resent(invitation) => format!("resent {}", invitation.email),
            _ => "other".into(),
        };
        StoredResponse { status, body }
    })
}

/// What each row got, in short: `created x`, `replayed <stored body>`, `reused`, `in use`.
fn done_rows(done: &[RowDone]) -> Vec<String> {
    done.iter()
        .map(|row| match row {
            RowDone::Invited(Invited::Created(invitation)) => format!("created {}", invitation.email),
            RowDone::Invited(Invited::Resent(invitation)) => format!("resent {}", invitation.email),
            RowDone::Invited(other) => format!("{other:?}"),
            RowDone::Replayed(stored) => format!("replayed {}", stored.body),
            RowDone::Reused => "reused".into(),
            RowDone::InUse => "in use".into(),
        })
        .collect()
}

async fn row_keys_fresh_rows_run_and_their_results_are_stored_with_the_invitations(store: &dyn Store) {
    let app = app(store).await;
    let cmds = vec![invite(&app, "ada@example.com", Role::User, T0), invite(&app, "bob@example.com", Role::User, T0)];

    let done =
        store.invite_rows_keyed(cmds, row_keys(&app.id, T0, &[Some(("a", "fa")), None], 200)).await.expect("invite");

    assert_eq!(done_rows(&done), ["created ada@example.com", "created bob@example.com"]);
    assert_eq!(invitations(store, &app.id).await.len(), 2);
    // Written by the batch's transaction, finished (not locked): the same row replays it, with
    // no claim or completion of its own.
    let replay = StoredResponse { status: 200, body: "created ada@example.com".into() };
    assert_eq!(store.claim_key(claim(&app.id, "a", "fa", T0)).await.expect("claim"), Claimed::Replay(replay));
    // The row without a key left none.
    assert_eq!(store.claim_key(claim(&app.id, "bob@example.com", "fb", T0)).await.expect("claim"), Claimed::Fresh);
}

async fn row_keys_a_mixed_batch_replays_refuses_and_runs_row_by_row(store: &dyn Store) {
    let app = app(store).await;
    let first = vec![invite(&app, "ada@example.com", Role::User, T0)];
    store.invite_rows_keyed(first, row_keys(&app.id, T0, &[Some(("a", "fa"))], 200)).await.expect("first");
    let later = T0.plus(Duration::from_secs(3600));
    // A single invite's header key, still in flight, with the fingerprint the row will carry.
    assert_eq!(store.claim_key(claim(&app.id, "running", "fr", later)).await.expect("claim"), Claimed::Fresh);
    let cmds = vec![
        invite(&app, "ada@example.com", Role::User, later),
        invite(&app, "ada@example.com", Role::Admin, later),
        invite(&app, "cy@example.com", Role::User, later),
        invite(&app, "dan@example.com", Role::User, later),
        invite(&app, "eve@example.com", Role::User, later),
    ];
    let rows = [Some(("a", "fa")), Some(("a2", "fa2")), Some(("running", "fr")), Some(("a", "another row")), None];

    let done = store.invite_rows_keyed(cmds, row_keys(&app.id, later, &rows, 200)).await.expect("invite");

    assert_eq!(
        done_rows(&done),
        ["replayed created ada@example.com", "resent ada@example.com", "in use", "reused", "created eve@example.com"]
    );
    let emails: Vec<String> = invitations(store, &app.id).await.iter().map(|i| i.email.to_string()).collect();
    assert_eq!(emails, ["ada@example.com", "eve@example.com"], "cy and dan were not invited");
    // The key in flight is untouched: its own request still completes it.
    assert_eq!(store.claim_key(claim(&app.id, "running", "fr", later)).await.expect("claim"), Claimed::InUse);
}

async fn row_keys_a_key_twice_in_one_batch_runs_once(store: &dyn Store) {
    let app = app(store).await;
    let cmds = vec![
        invite(&app, "ada@example.com", Role::User, T0),
        invite(&app, "ada@example.com", Role::User, T0),
        invite(&app, "bob@example.com", Role::User, T0),
    ];
    let rows = [Some(("d", "fd")), Some(("d", "fd")), Some(("d", "fb"))];

    let done = store.invite_rows_keyed(cmds, row_keys(&app.id, T0, &rows, 200)).await.expect("invite");

    assert_eq!(done_rows(&done), ["created ada@example.com", "in use", "reused"]);
    assert_eq!(invitations(store, &app.id).await.len(), 1);
}

async fn row_keys_a_throttled_row_keeps_no_key_and_runs_again(store: &dyn Store) {
    let app = app(store).await;
    let cmds = || vec![invite(&app, "ada@example.com", Role::User, T0)];

    store.invite_rows_keyed(cmds(), row_keys(&app.id, T0, &[Some(("t", "ft"))], 429)).await.expect("first");
    let again = store.invite_rows_keyed(cmds(), row_keys(&app.id, T0, &[Some(("t", "ft"))], 200)).await.expect("again");

    // Not replayed: the row ran again (the store's own throttle answers it this time).
    assert!(matches!(again.as_slice(), [RowDone::Invited(_)]), "{again:?}");
}

async fn row_keys_expire_after_a_day(store: &dyn Store) {
    let app = app(store).await;
    let first = vec![invite(&app, "ada@example.com", Role::User, T0)];
    store.invite_rows_keyed(first, row_keys(&app.id, T0, &[Some(("a", "fa"))], 200)).await.expect("first");

    let a_day_later = T0.plus(KEEP_FOR);
    let cmds = vec![invite(&app, "bob@example.com", Role::User, a_day_later)];
    let done =
        store.invite_rows_keyed(cmds, row_keys(&app.id, a_day_later, &[Some(("a", "fb"))], 200)).await.expect("later");

    assert_eq!(done_rows(&done), ["created bob@example.com"], "the expired key is as good as none");
}

async fn row_keys_racing_batches_invite_a_keyed_row_once(store: &dyn Store) {
    let app = app(store).await;

    let outcomes = join_all((0..6).map(|i| {
        let cmds = vec![
            invite(&app, "ada@example.com", Role::User, T0),
            invite(&app, &format!("other{i}@example.com"), Role::User, T0),
        ];
        store.invite_rows_keyed(cmds, row_keys(&app.id, T0, &[Some(("shared", "f")), None], 200))
    }))
    .await;

    let rows: Vec<Vec<String>> = outcomes.into_iter().map(|done| done_rows(&done.expect("invite"))).collect();
    let ran = rows.iter().filter(|done| done[0] == "created ada@example.com").count();
    let replayed = rows.iter().filter(|done| done[0] == "replayed created ada@example.com").count();
    assert_eq!((ran, replayed), (1, 5), "{rows:?}");
    assert_eq!(invitations(store, &app.id).await.len(), 7, "ada once, and each batch's other row");
}
