//! Webhook endpoints and deliveries on each backend: endpoints are kept per app; an event is
//! written by the change that causes it, in its transaction, for the endpoints subscribed to
//! its type; a claim leases a delivery to one worker until the lease runs out; an attempt is
//! recorded as `rules::webhooks::after_attempt` decides, under the same `webhook-id` every time.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use usher_core::model::{Actor, App};
use usher_core::rules::webhooks::{AttemptPlan, AttemptResult, MAX_ATTEMPTS, after_attempt, attempt_error};
use usher_core::store::{AcceptOutcome, Invited, WebhookAttempt};
use usher_core::webhooks::{
    DeliveryStatus, DueDelivery, EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret,
};
use usher_core::{ApiKeyId, InstanceId, Role, Store, Timestamp, WebhookId};

use crate::cases::accept;
use crate::support::{INTERVAL, T0, TTL, app, invite, join_all, sent};

on_both_backends!(
    endpoints_are_listed_rotated_and_deleted_only_within_their_app,
    each_change_writes_its_event_for_the_subscribed_endpoints_and_a_refused_one_writes_none,
    racing_invites_write_one_event_per_outcome,
    a_claim_leases_each_delivery_to_one_claimer_until_the_lease_runs_out,
    a_failing_delivery_backs_off_then_gives_up_under_one_webhook_id,
    a_delivery_retried_by_hand_gets_a_fresh_round_under_its_webhook_id,
    rotating_the_secret_signs_deliveries_not_yet_made_with_the_new_one,
    an_expired_invitation_is_announced_once_per_expiry_when_sweeps_race,
    a_batch_over_several_apps_writes_events_only_for_the_apps_subscribed_to_them,
    an_email_sent_or_given_up_writes_its_event_and_one_to_be_retried_writes_none,
);

/// How long a claim lasts in these cases.
const LEASE: Duration = Duration::from_secs(60);

/// An endpoint of `app` for `events`, added at `T0`, with its secret.
async fn endpoint(store: &dyn Store, app: &App, events: &[EventType]) -> (Webhook, WebhookSecret) {
    let secret = WebhookSecret::generate();
    let new = NewWebhook {
        id: WebhookId::generate(),
        app_id: app.id.clone(),
        url: "https://hooks.example.com/usher".into(),
        events: events.to_vec(),
        secret: secret.clone(),
        now: T0,
    };
    (store.create_webhook(new).await.expect("webhook is created"), secret)
}

/// An endpoint's deliveries, newest first.
async fn deliveries(store: &dyn Store, hook: &Webhook) -> Vec<WebhookDelivery> {
    store.webhook_deliveries(&hook.app_id, &hook.id, 100).await.expect("deliveries").expect("endpoint exists")
}

/// The event types of an endpoint's deliveries, oldest first.
async fn event_types(store: &dyn Store, hook: &Webhook) -> Vec<String> {
    deliveries(store, hook).await.into_iter().rev().map(|delivery| delivery.event_type).collect()
}

/// Claims what is due at `now`, leased for [`LEASE`].
async fn claim(store: &dyn Store, now: Timestamp, limit: u32) -> Vec<DueDelivery> {
    store.claim_webhook_deliveries(now, now.plus(LEASE), limit).await.expect("claim")
}

/// Records that `delivery`, claimed at `now`, ended with `result`, as the worker does.
async fn record(store: &dyn Store, delivery: &DueDelivery, result: AttemptResult, now: Timestamp) -> AttemptPlan {
    let plan = after_attempt(delivery.attempts, &result, now);
    let status_code = match result {
        AttemptResult::Answered(code) => Some(code),
        AttemptResult::NoAnswer(_) => None,
    };
    let attempt = WebhookAttempt {
        delivery_id: delivery.id.clone(),
        status_code,
        error: attempt_error(&result),
        plan: plan.clone(),
        now,
    };
    store.record_webhook_attempt(attempt).await.expect("record");
    plan
}

pub async fn endpoints_are_listed_rotated_and_deleted_only_within_their_app(store: &dyn Store) {
    let acme = app(store).await;
    let other = app(store).await;
    let (first, _) = endpoint(store, &acme, &[EventType::MemberJoined, EventType::InvitationCreated]).await;
    let (second, _) = endpoint(store, &acme, &[EventType::EmailFailed]).await;
    let (theirs, _) = endpoint(store, &other, &[EventType::EmailFailed]).await;

    let listed = store.webhooks(&acme.id).await.expect("list");
    let rotated_elsewhere =
        store.rotate_webhook_secret(&other.id, &first.id, &WebhookSecret::generate()).await.expect("rotate");
    let rotated = store.rotate_webhook_secret(&acme.id, &first.id, &WebhookSecret::generate()).await.expect("rotate");
    let deleted_elsewhere = store.delete_webhook(&other.id, &first.id).await.expect("delete");
    let deleted = store.delete_webhook(&acme.id, &first.id).await.expect("delete");
    let deleted_again = store.delete_webhook(&acme.id, &first.id).await.expect("delete");

    assert_eq!(first.events, [EventType::InvitationCreated, EventType::MemberJoined], "kept in the docs' order");
    assert_eq!((first.url.as_str(), first.created_at), ("https://hooks.example.com/usher", T0));
    assert_eq!(listed, [first.clone(), second.clone()], "the app's own, oldest first");
    assert_eq!(rotated_elsewhere, None);
    assert_eq!(rotated, Some(first.clone()), "rotating changes only the secret");
    assert_eq!((deleted_elsewhere, deleted, deleted_again), (false, true, false));
    assert_eq!(store.webhooks(&acme.id).await.expect("list"), [second]);
    assert_eq!(store.webhooks(&other.id).await.expect("list"), [theirs]);
    assert_eq!(store.webhook_deliveries(&acme.id, &first.id, 10).await.expect("deliveries"), None);
    assert_eq!(store.rotate_webhook_secret(&acme.id, &first.id, &WebhookSecret::generate()).await.expect("r"), None);
}

pub async fn each_change_writes_its_event_for_the_subscribed_endpoints_and_a_refused_one_writes_none(
    store: &dyn Store,
) {
    let acme = app(store).await;
    let other = app(store).await;
    let life = [
        EventType::InvitationCreated,
        EventType::InvitationResent,
        EventType::InvitationAccepted,
        EventType::MemberJoined,
        EventType::MemberRemoved,
    ];
    let (lifecycle, _) = endpoint(store, &acme, &life).await;
    let (revocations, _) = endpoint(store, &acme, &[EventType::InvitationRevoked]).await;
    let (elsewhere, _) = endpoint(store, &other, &EventType::ALL).await;
    let by = Actor::ApiKey(ApiKeyId::generate());

    store.invite(invite(&acme, "ada@example.org", Role::User, T0)).await.expect("invite");
    let throttled = store.invite(invite(&acme, "ada@example.org", Role::User, T0.plus(INTERVAL / 2))).await;
    let resend = invite(&acme, "ada@example.org", Role::User, T0.plus(INTERVAL));
    let token = resend.token.hash();
    store.invite(resend).await.expect("resend");
    let joined_at = T0.plus(INTERVAL * 2);
    let joined = store.accept_invitation(accept(&token, "Ada", joined_at)).await.expect("accept");
    let used_again = store.accept_invitation(accept(&token, "Ada", joined_at)).await.expect("accept");
    let bob = invite(&acme, "bob@example.org", Role::User, joined_at);
    let bob_id = bob.invitation_id.clone();
    store.invite(bob).await.expect("invite");
    store.revoke_invitation(&acme.id, &bob_id, &by, joined_at).await.expect("revoke");
    store.revoke_invitation(&acme.id, &bob_id, &by, joined_at).await.expect("revoke again");
    let AcceptOutcome::Joined { user: ada, .. } = joined else { panic!("expected Joined, got {joined:?}") };
    let removed_at = joined_at.plus(INTERVAL);
    store.delete_user(&acme.id, &ada.id, removed_at).await.expect("remove");

    assert!(matches!(throttled, Ok(Invited::Throttled { .. })), "{throttled:?}");
    assert!(matches!(used_again, AcceptOutcome::Refused(_)), "{used_again:?}");
    assert_eq!(
        event_types(store, &lifecycle).await,
        [
            "invitation.created",
            "invitation.resent",
            "invitation.accepted",
            "member.joined",
            "invitation.created",
            "member.removed"
        ],
        "one event per change that happened; none for the throttled invite or the used link"
    );
    assert_eq!(event_types(store, &revocations).await, ["invitation.revoked"], "a second revocation changes nothing");
    assert!(deliveries(store, &elsewhere).await.is_empty(), "another app's endpoint hears nothing");
    for delivery in deliveries(store, &lifecycle).await {
        assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Pending, 0));
        assert_eq!(delivery.next_attempt_at, Some(delivery.created_at), "due at once");
        assert!(delivery.id.starts_with("msg_"), "{}", delivery.id);
    }
    let removal = deliveries(store, &lifecycle).await.into_iter().find(|d| d.event_type == "member.removed");
    assert_eq!(removal.map(|d| d.created_at), Some(removed_at), "stamped with the time given, not the wall clock");
    let due = claim(store, removed_at, 100).await;
    assert_eq!(due.len(), 7);
    for delivery in &due {
        let payload: Value = serde_json::from_str(&delivery.payload).expect("JSON");
        let email = payload["data"]["email"].as_str().expect("an address");
        assert!(["ada@example.org", "bob@example.org"].contains(&email), "{payload}");
        assert_eq!(payload["data"]["app_id"], acme.id.as_str());
        assert!(payload["type"].is_string() && payload["timestamp"].is_string(), "{payload}");
        assert!(!delivery.payload.contains("token"), "no token in {payload}");
    }
}

pub async fn racing_invites_write_one_event_per_outcome(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::InvitationCreated, EventType::InvitationResent]).await;
    let cmds = (0..8).map(|_| {
        let mut cmd = invite(&acme, "ada@example.org", Role::User, T0);
        cmd.resend_interval = Duration::ZERO;
        cmd
    });

    let outcomes = join_all(cmds.map(|cmd| store.invite(cmd))).await;

    let mut expected = HashMap::new();
    for outcome in outcomes {
        let kind = match outcome.expect("no invite fails") {
            Invited::Created(_) => "invitation.created",
            Invited::Resent(_) => "invitation.resent",
            other => panic!("expected Created or Resent, got {other:?}"),
        };
        *expected.entry(kind.to_owned()).or_insert(0) += 1;
    }
    let mut written = HashMap::new();
    for kind in event_types(store, &hook).await {
        *written.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(written, expected, "the events are those of the invites that committed");
    assert_eq!(written.get("invitation.created"), Some(&1));
}

pub async fn a_claim_leases_each_delivery_to_one_claimer_until_the_lease_runs_out(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::InvitationCreated]).await;
    for n in 0..5 {
        store.invite(invite(&acme, &format!("user{n}@example.org"), Role::User, T0)).await.expect("invite");
    }
    let now = T0.plus(Duration::from_secs(1));

    let claims = join_all((0..4).map(|_| claim(store, now, 2))).await;

    let mut claimed = HashSet::new();
    for delivery in claims.iter().flatten() {
        assert!(claimed.insert(delivery.id.clone()), "{} was claimed twice", delivery.id);
        assert_eq!(delivery.attempts, 1);
        assert_eq!(delivery.url, hook.url);
    }
    assert_eq!(claimed.len(), 5, "four claims of two cover all five");
    assert!(deliveries(store, &hook).await.iter().all(|delivery| delivery.status == DeliveryStatus::Sending));
    assert!(claim(store, now.plus(LEASE / 2), 10).await.is_empty(), "leased deliveries are not claimed again");
    let lease_end = now.plus(LEASE);
    assert!(claim(store, lease_end.minus(Duration::from_millis(1)), 10).await.is_empty());
    let reclaimed = claim(store, lease_end, 10).await;
    let ids: HashSet<String> = reclaimed.iter().map(|delivery| delivery.id.clone()).collect();
    assert_eq!(ids, claimed, "a claimer that died leaves its deliveries to the next, under the same ids");
    assert!(reclaimed.iter().all(|delivery| delivery.attempts == 2), "the lost attempt counts");
}

pub async fn a_failing_delivery_backs_off_then_gives_up_under_one_webhook_id(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::InvitationCreated]).await;
    store.invite(invite(&acme, "ada@example.org", Role::User, T0)).await.expect("invite");
    let mut now = T0;
    let mut webhook_ids = HashSet::new();

    for attempt in 1..=MAX_ATTEMPTS {
        let due = claim(store, now, 10).await;
        assert_eq!(due.len(), 1, "attempt {attempt} is due at {now:?}");
        assert_eq!(due[0].attempts, attempt);
        webhook_ids.insert(due[0].id.clone());
        let result =
            if attempt % 2 == 0 { AttemptResult::Answered(503) } else { AttemptResult::NoAnswer("timed out".into()) };
        let plan = record(store, &due[0], result, now).await;
        let shown = deliveries(store, &hook).await.remove(0);
        assert_eq!(shown.attempts, attempt);
        match plan {
            AttemptPlan::RetryAt(at) => {
                assert!(at > now, "attempt {attempt} backs off");
                assert_eq!((shown.status, shown.next_attempt_at), (DeliveryStatus::Pending, Some(at)));
                assert!(claim(store, at.minus(Duration::from_millis(1)), 10).await.is_empty(), "not before {at:?}");
                now = at;
            }
            AttemptPlan::GiveUp => assert_eq!(attempt, MAX_ATTEMPTS, "given up only after the last attempt"),
            AttemptPlan::Delivered => panic!("a failure is not delivered"),
        }
    }

    let failed = deliveries(store, &hook).await.remove(0);
    assert_eq!((failed.status, failed.next_attempt_at), (DeliveryStatus::Failed, None));
    assert_eq!(failed.last_status_code, Some(503), "the last answer is kept");
    assert_eq!(failed.last_error.as_deref(), Some("the endpoint answered 503"));
    assert!(claim(store, now.plus(Duration::from_secs(86_400 * 30)), 10).await.is_empty(), "a failed one is done");
    assert_eq!(webhook_ids.len(), 1, "every attempt carries the same webhook-id: {webhook_ids:?}");
    assert!(webhook_ids.contains(&failed.id));
}

pub async fn a_delivery_retried_by_hand_gets_a_fresh_round_under_its_webhook_id(store: &dyn Store) {
    let acme = app(store).await;
    let other = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::InvitationCreated]).await;
    store.invite(invite(&acme, "ada@example.org", Role::User, T0)).await.expect("invite");
    let first = claim(store, T0, 10).await.remove(0);
    record(store, &first, AttemptResult::Answered(204), T0).await;
    let later = T0.plus(Duration::from_secs(3600));

    let delivered = deliveries(store, &hook).await.remove(0);
    let nothing_due = claim(store, later, 10).await;
    let elsewhere = store.retry_webhook_delivery(&other.id, &hook.id, &first.id, later).await.expect("retry");
    let unknown = store.retry_webhook_delivery(&acme.id, &hook.id, "msg_unknown", later).await.expect("retry");
    let retried = store.retry_webhook_delivery(&acme.id, &hook.id, &first.id, later).await.expect("retry");

    assert_eq!((delivered.status, delivered.last_status_code), (DeliveryStatus::Delivered, Some(204)));
    assert_eq!(delivered.last_error, None);
    assert!(nothing_due.is_empty(), "a delivered one is not claimed again by itself");
    assert_eq!((elsewhere, unknown), (None, None));
    let retried = retried.expect("the delivery exists");
    assert_eq!((retried.status, retried.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(retried.next_attempt_at, Some(later));
    assert_eq!(retried.id, first.id);
    let again = claim(store, later, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].attempts), (first.id.as_str(), 1), "same webhook-id, first attempt");
}

pub async fn rotating_the_secret_signs_deliveries_not_yet_made_with_the_new_one(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, old) = endpoint(store, &acme, &[EventType::InvitationCreated]).await;
    store.invite(invite(&acme, "ada@example.org", Role::User, T0)).await.expect("invite");
    let new = WebhookSecret::generate();

    store.rotate_webhook_secret(&acme.id, &hook.id, &new).await.expect("rotate").expect("endpoint exists");

    let due = claim(store, T0, 10).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].secret.expose(), new.expose());
    assert_ne!(due[0].secret.expose(), old.expose());
}

pub async fn an_expired_invitation_is_announced_once_per_expiry_when_sweeps_race(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::InvitationExpired]).await;
    let pending = invite(&acme, "ada@example.org", Role::User, T0);
    let accepted = invite(&acme, "bob@example.org", Role::User, T0);
    let revoked = invite(&acme, "cy@example.org", Role::User, T0);
    let (accepted_token, revoked_id) = (accepted.token.hash(), revoked.invitation_id.clone());
    for cmd in [pending, accepted, revoked] {
        store.invite(cmd).await.expect("invite");
    }
    store.accept_invitation(accept(&accepted_token, "Bob", T0)).await.expect("accept");
    store.revoke_invitation(&acme.id, &revoked_id, &Actor::ApiKey(ApiKeyId::generate()), T0).await.expect("revoke");
    let expiry = T0.plus(TTL);

    let before = store.announce_expired_invitations(expiry.minus(Duration::from_millis(1)), 100).await.expect("sweep");
    let racing = join_all((0..4).map(|_| store.announce_expired_invitations(expiry, 100))).await;
    let later = store.announce_expired_invitations(expiry.plus(TTL), 100).await.expect("sweep");

    let announced: u64 = racing.into_iter().map(|swept| swept.expect("sweep")).sum();
    assert_eq!((before, announced, later), (0, 1, 0), "the pending one, once");
    assert_eq!(event_types(store, &hook).await, ["invitation.expired"]);
    let payload: Value = serde_json::from_str(&claim(store, expiry, 10).await[0].payload).expect("JSON");
    assert_eq!(
        (payload["data"]["email"].as_str(), payload["data"]["status"].as_str()),
        (Some("ada@example.org"), Some("expired"))
    );

    let resent_at = expiry.plus(TTL);
    store.invite(invite(&acme, "ada@example.org", Role::User, resent_at)).await.expect("resend after expiry");
    let second_expiry = resent_at.plus(TTL);
    assert_eq!(store.announce_expired_invitations(second_expiry, 100).await.expect("sweep"), 1, "a new expiry");
    assert_eq!(event_types(store, &hook).await, ["invitation.expired", "invitation.expired"]);
}

/// Invites and sent mail are written in batches (the invite group, the mail worker), and an
/// app's subscriptions are looked up once per batch: each app's endpoints hear exactly their
/// own subscribed events, whatever else shares the batch.
pub async fn a_batch_over_several_apps_writes_events_only_for_the_apps_subscribed_to_them(store: &dyn Store) {
    let heard = app(store).await;
    let quiet = app(store).await;
    let bare = app(store).await;
    let (hook, _) = endpoint(store, &heard, &[EventType::InvitationCreated, EventType::EmailSent]).await;
    let (other_kinds, _) = endpoint(store, &quiet, &[EventType::MemberJoined, EventType::EmailFailed]).await;

    let cmds = vec![
        invite(&heard, "ada@example.org", Role::User, T0),
        invite(&quiet, "bob@example.org", Role::User, T0),
        invite(&bare, "cy@example.org", Role::User, T0),
        invite(&heard, "dee@example.org", Role::Admin, T0),
    ];
    let outcomes = store.invite_batch(cmds).await.expect("batch");
    let worker = InstanceId::generate();
    store.register_instance(&worker, T0).await.expect("register");
    let claimed = store.claim_outbox(&worker, T0, 10).await.expect("claim");
    let sent_now: Vec<_> = claimed.iter().map(|message| sent(&message.id)).collect();
    store.mark_sent(&sent_now, T0).await.expect("sent");

    assert!(outcomes.iter().all(|outcome| matches!(outcome, Invited::Created(_))), "{outcomes:?}");
    assert_eq!(claimed.len(), 4, "every invitation's email");
    // Only `heard`'s endpoint has anything due: every claimed delivery is one of its events.
    let mut heard_events: Vec<(String, String)> = claim(store, T0, 100)
        .await
        .into_iter()
        .map(|delivery| {
            let payload: Value = serde_json::from_str(&delivery.payload).expect("JSON");
            assert_eq!(payload["data"]["app_id"], heard.id.as_str(), "{payload}");
            let email = payload["data"]["email"].as_str().expect("an address");
            (payload["type"].as_str().expect("a type").to_owned(), email.to_owned())
        })
        .collect();
    heard_events.sort();
    let expected = [
        ("email.sent", "ada@example.org"),
        ("email.sent", "dee@example.org"),
        ("invitation.created", "ada@example.org"),
        ("invitation.created", "dee@example.org"),
    ];
    assert_eq!(heard_events, expected.map(|(kind, email)| (kind.to_owned(), email.to_owned())));
    assert_eq!(deliveries(store, &hook).await.len(), 4);
    assert!(deliveries(store, &other_kinds).await.is_empty(), "subscribed to other events only");
}

pub async fn an_email_sent_or_given_up_writes_its_event_and_one_to_be_retried_writes_none(store: &dyn Store) {
    let acme = app(store).await;
    let (hook, _) = endpoint(store, &acme, &[EventType::EmailSent, EventType::EmailFailed]).await;
    for to in ["ada@example.org", "bob@example.org", "carol@example.org"] {
        store.invite(invite(&acme, to, Role::User, T0)).await.expect("invite");
    }
    let me = InstanceId::generate();
    store.register_instance(&me, T0).await.expect("register");
    let claimed = store.claim_outbox(&me, T0, 10).await.expect("claim");
    let message = |to: &str| claimed.iter().find(|m| m.to.as_str() == to).expect("claimed").id.clone();

    store.mark_sent(&[sent(&message("ada@example.org"))], T0).await.expect("sent");
    store.mark_failed(&me, &message("bob@example.org"), "451 try later", Some(T0.plus(INTERVAL))).await.expect("retry");
    store.mark_failed(&me, &message("carol@example.org"), "550 no such user", None).await.expect("give up");

    // Far ahead: `mark_failed` stamps its event with the wall clock, not a given time.
    let due = claim(store, T0.plus(Duration::from_secs(100 * 365 * 86_400)), 100).await;
    let mut events: Vec<(String, String, Value)> = due
        .iter()
        .map(|delivery| {
            let payload: Value = serde_json::from_str(&delivery.payload).expect("JSON");
            let data = &payload["data"];
            (
                payload["type"].as_str().expect("type").to_owned(),
                data["email"].as_str().expect("email").to_owned(),
                data["error"].clone(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        events,
        [
            ("email.failed".to_owned(), "carol@example.org".to_owned(), Value::from("550 no such user")),
            ("email.sent".to_owned(), "ada@example.org".to_owned(), Value::Null),
        ],
        "one event per email sent or given up; none for the one to be retried"
    );
    assert!(due.iter().all(|delivery| delivery.id.ends_with(hook.id.as_str())));
}
