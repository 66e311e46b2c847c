//! The behaviours every `Store` must have, each written once against `&dyn Store`.

use std::time::Duration;

use usher_core::model::{
    App, AppSettings, Delivery, DeliveryStatus, InvitationStatus, InvitePolicy, LinkState, MailKind, User,
};
use usher_core::password::PasswordHash;
use usher_core::secret::{ApiKey, InvitationToken, TokenHash};
use usher_core::store::{AcceptCommand, AcceptRecord, InviteRecord, NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, MessageId, Role, Store, StoreError, Timestamp, UserId};

use crate::support::{INTERVAL, T0, TTL, app, app_with_key, email, invite};

/// How long a claimed message stays leased in these cases.
const LEASE: Duration = Duration::from_secs(300);

/// An acceptance of the invitation behind `token` at `now`.
fn accept(token: &TokenHash, full_name: &str, now: Timestamp) -> AcceptCommand {
    AcceptCommand {
        token_hash: token.clone(),
        full_name: full_name.into(),
        password_hash: PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        user_id: UserId::generate(),
        now,
    }
}

/// A member of `app` with `role`, who joined through an invitation queued at `T0`.
async fn member(store: &dyn Store, app: &App, to: &str, role: Role) -> User {
    let cmd = invite(app, to, role, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    match store.accept_invitation(accept(&token, "Ada", T0.plus(Duration::from_secs(1)))).await {
        Ok(AcceptRecord::Joined { user, .. }) => user,
        other => panic!("expected Joined, got {other:?}"),
    }
}

/// Claims and marks sent everything due at `now`, so a case starts with an empty outbox.
async fn drain(store: &dyn Store, now: Timestamp) {
    for message in store.claim_outbox(now, LEASE, 100).await.expect("claim") {
        store.mark_sent(std::slice::from_ref(&message.id), now).await.expect("mark sent");
    }
}

/// The delivery of the invitation behind `token`.
async fn delivery(store: &dyn Store, token: &TokenHash) -> Delivery {
    store.invitation_by_token(token).await.expect("lookup").expect("token is known").invitation.delivery
}

pub async fn app_roundtrips_settings_when_created(store: &dyn Store) {
    let settings = AppSettings {
        invitation_ttl: Duration::from_secs(3 * 24 * 60 * 60),
        invite_policy: InvitePolicy::Members,
        is_signup_open: true,
        sender_name: Some("Acme Team".into()),
        sender_email: Some(email("team@acme.example")),
        cors_origins: vec!["https://admin.acme.example".into(), "http://localhost:5173".into()],
    };
    let id = AppId::generate();
    let new = NewApp {
        id: id.clone(),
        name: "Acme".into(),
        app_url: "https://acme.example/app".into(),
        settings: settings.clone(),
        api_key: NewApiKey { id: ApiKeyId::generate(), name: "ci".into(), hash: ApiKey::generate().hash() },
        now: T0,
    };

    let created = store.create_app(new).await.expect("app is created");
    let loaded = store.app(&id).await.expect("lookup").expect("app exists");

    let expected =
        App { id, name: "Acme".into(), app_url: "https://acme.example/app".into(), settings, created_at: T0 };
    assert_eq!(created, expected);
    assert_eq!(loaded, expected);
    assert_eq!(store.app(&AppId::generate()).await.expect("lookup"), None);
}

pub async fn has_apps_turns_true_when_an_app_is_created(store: &dyn Store) {
    let before = store.has_apps().await.expect("has_apps");

    app(store).await;

    assert!(!before);
    assert!(store.has_apps().await.expect("has_apps"));
}

pub async fn api_key_is_found_only_when_hash_matches(store: &dyn Store) {
    let (app, key) = app_with_key(store).await;

    let found = store.api_key(&key.hash()).await.expect("lookup").expect("key exists");
    let wrong = store.api_key(&ApiKey::generate().hash()).await.expect("lookup");

    assert_eq!(found.app_id, app.id);
    assert_eq!(found.name, "first");
    assert_eq!(found.created_at, T0);
    assert_eq!(wrong, None);
}

pub async fn invite_creates_pending_invitation_when_address_is_new(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "  Ada@Example.ORG", Role::Admin, T0);
    let (id, token) = (cmd.invitation_id.clone(), cmd.token.hash());

    let record = store.invite(cmd).await.expect("invite");

    let InviteRecord::Created(invitation) = record else { panic!("expected Created, got {record:?}") };
    assert_eq!(invitation.id, id);
    assert_eq!(invitation.app_id, app.id);
    assert_eq!(invitation.email.as_str(), "ada@example.org");
    assert_eq!(invitation.role, Role::Admin);
    assert_eq!(invitation.status, InvitationStatus::Pending);
    assert_eq!(invitation.invited_by.display_name, "Acme");
    assert_eq!(invitation.expires_at, T0.plus(TTL));
    assert_eq!((invitation.times_sent, invitation.last_sent_at), (1, T0));
    assert_eq!((invitation.created_at, invitation.updated_at), (T0, T0));
    assert_eq!(invitation.delivery, Delivery::queued());
    let lookup = store.invitation_by_token(&token).await.expect("lookup").expect("token is stored");
    assert!(lookup.is_current);
    assert_eq!(lookup.invitation, invitation);
    assert_eq!(lookup.app, app);
    assert_eq!(lookup.state_at(T0), LinkState::Valid);
}

pub async fn invite_resends_with_rotated_token_when_invitation_is_pending(store: &dyn Store) {
    let app = app(store).await;
    let first = invite(&app, "ada@example.org", Role::User, T0);
    let (id, old_token) = (first.invitation_id.clone(), first.token.hash());
    store.invite(first).await.expect("first invite");
    let later = T0.plus(INTERVAL);
    let second = invite(&app, "ADA@example.org", Role::Admin, later);
    let new_token = second.token.hash();

    let record = store.invite(second).await.expect("second invite");

    let InviteRecord::Resent(invitation) = record else { panic!("expected Resent, got {record:?}") };
    assert_eq!(invitation.id, id);
    assert_eq!(invitation.role, Role::Admin);
    assert_eq!(invitation.times_sent, 2);
    assert_eq!(invitation.expires_at, later.plus(TTL));
    assert_eq!((invitation.last_sent_at, invitation.updated_at, invitation.created_at), (later, later, T0));
    assert_eq!(invitation.delivery, Delivery::queued());
    let old = store.invitation_by_token(&old_token).await.expect("lookup").expect("old token is kept");
    let new = store.invitation_by_token(&new_token).await.expect("lookup").expect("new token is stored");
    assert!(!old.is_current);
    assert_eq!(old.state_at(later), LinkState::Replaced);
    assert!(new.is_current);
    assert_eq!(new.state_at(later), LinkState::Valid);
    assert_eq!((old.invitation.id, new.invitation.id), (id.clone(), id));
}

pub async fn invite_resends_when_pending_invitation_has_expired(store: &dyn Store) {
    let app = app(store).await;
    let first = invite(&app, "ada@example.org", Role::User, T0);
    let id = first.invitation_id.clone();
    store.invite(first).await.expect("first invite");
    let later = T0.plus(TTL).plus(Duration::from_secs(1));
    let second = invite(&app, "ada@example.org", Role::User, later);
    let new_token = second.token.hash();

    let record = store.invite(second).await.expect("second invite");

    let InviteRecord::Resent(invitation) = record else { panic!("expected Resent, got {record:?}") };
    assert_eq!(invitation.id, id);
    assert_eq!(invitation.expires_at, later.plus(TTL));
    let lookup = store.invitation_by_token(&new_token).await.expect("lookup").expect("token is stored");
    assert_eq!(lookup.state_at(later), LinkState::Valid);
}

pub async fn invite_refuses_and_writes_nothing_when_within_resend_interval(store: &dyn Store) {
    let app = app(store).await;
    let first = invite(&app, "ada@example.org", Role::User, T0);
    let first_token = first.token.hash();
    store.invite(first).await.expect("first invite");
    let soon = T0.plus(Duration::from_secs(20));
    let second = invite(&app, "ada@example.org", Role::Admin, soon);
    let second_token = second.token.hash();

    let record = store.invite(second).await.expect("second invite");

    let InviteRecord::Throttled { retry_after } = record else { panic!("expected Throttled, got {record:?}") };
    assert_eq!(retry_after, Duration::from_secs(40));
    assert!(store.invitation_by_token(&second_token).await.expect("lookup").is_none());
    let unchanged = store.invitation_by_token(&first_token).await.expect("lookup").expect("first token");
    assert!(unchanged.is_current);
    assert_eq!((unchanged.invitation.role, unchanged.invitation.times_sent), (Role::User, 1));
    let queued = store.claim_outbox(soon, LEASE, 10).await.expect("claim");
    assert_eq!(queued.len(), 1, "only the first email is queued");
}

pub async fn invite_queues_again_when_resend_interval_has_passed(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("first invite");
    let throttled_at = T0.plus(INTERVAL).minus(Duration::from_millis(1));
    let allowed_at = T0.plus(INTERVAL);

    let throttled = store.invite(invite(&app, "ada@example.org", Role::User, throttled_at)).await.expect("invite");
    let allowed = store.invite(invite(&app, "ada@example.org", Role::User, allowed_at)).await.expect("invite");

    assert!(
        matches!(throttled, InviteRecord::Throttled { retry_after } if retry_after == Duration::from_millis(1)),
        "{throttled:?}"
    );
    assert!(matches!(&allowed, InviteRecord::Resent(invitation) if invitation.times_sent == 2), "{allowed:?}");
}

pub async fn invite_reminds_without_changing_role_when_address_is_member(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let later = T0.plus(INTERVAL * 2);
    let cmd = invite(&app, "ada@example.org", Role::Admin, later);
    let token = cmd.token.hash();

    let record = store.invite(cmd).await.expect("invite");

    let InviteRecord::AlreadyMember(user) = record else { panic!("expected AlreadyMember, got {record:?}") };
    assert_eq!(user, ada);
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup"), Some(ada));
    assert!(store.invitation_by_token(&token).await.expect("lookup").is_none(), "no new invitation");
}

pub async fn invite_creates_one_invitation_when_two_invites_race(store: &dyn Store) {
    let app = app(store).await;
    let mut a = invite(&app, "ada@example.org", Role::User, T0);
    let mut b = invite(&app, "ada@example.org", Role::Admin, T0);
    (a.resend_interval, b.resend_interval) = (Duration::ZERO, Duration::ZERO);

    let (a, b) = tokio::join!(store.invite(a), store.invite(b));

    let ids: Vec<_> = [a, b]
        .into_iter()
        .map(|record| match record.expect("invite") {
            InviteRecord::Created(invitation) => ("created", invitation.id),
            InviteRecord::Resent(invitation) => ("resent", invitation.id),
            other => panic!("expected Created or Resent, got {other:?}"),
        })
        .collect();
    let mut kinds: Vec<_> = ids.iter().map(|(kind, _)| *kind).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["created", "resent"]);
    assert_eq!(ids[0].1, ids[1].1, "both name one invitation");
}

pub async fn invite_returns_not_found_when_app_does_not_exist(store: &dyn Store) {
    let missing = App {
        id: AppId::generate(),
        name: "Gone".into(),
        app_url: "https://gone.example".into(),
        settings: AppSettings::default(),
        created_at: T0,
    };

    let record = store.invite(invite(&missing, "ada@example.org", Role::User, T0)).await;

    assert!(matches!(record, Err(StoreError::NotFound)), "{record:?}");
}

pub async fn invitation_by_token_returns_none_when_token_is_unknown(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");

    let lookup = store.invitation_by_token(&InvitationToken::generate().hash()).await.expect("lookup");

    assert!(lookup.is_none());
}

pub async fn accept_creates_verified_user_with_invitation_role_when_link_is_valid(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::Admin, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let at = T0.plus(Duration::from_secs(3600));
    let acceptance = accept(&token, "Ada Lovelace", at);
    let user_id = acceptance.user_id.clone();

    let record = store.accept_invitation(acceptance).await.expect("accept");

    let AcceptRecord::Joined { user, app: joined } = record else { panic!("expected Joined, got {record:?}") };
    assert_eq!(joined, app);
    assert_eq!(user.id, user_id);
    assert_eq!(user.app_id, app.id);
    assert_eq!(user.email.as_str(), "ada@example.org");
    assert_eq!(user.full_name, "Ada Lovelace");
    assert_eq!(user.role, Role::Admin);
    assert!(user.is_verified && !user.is_disabled);
    assert!(user.custom.is_empty());
    assert_eq!((user.created_at, user.updated_at), (at, at));
    assert_eq!(store.user(&app.id, &user_id).await.expect("lookup"), Some(user));
    let lookup = store.invitation_by_token(&token).await.expect("lookup").expect("token is kept");
    assert_eq!(lookup.invitation.status, InvitationStatus::Accepted);
    assert_eq!(lookup.state_at(at), LinkState::Used);
}

pub async fn accept_refuses_as_used_when_token_was_already_accepted(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let first = store.accept_invitation(accept(&token, "Ada", T0)).await.expect("first accept");
    let AcceptRecord::Joined { user, .. } = first else { panic!("expected Joined, got {first:?}") };
    let second = accept(&token, "Mallory", T0.plus(Duration::from_secs(1)));
    let second_id = second.user_id.clone();

    let record = store.accept_invitation(second).await.expect("second accept");

    assert!(matches!(record, AcceptRecord::Refused(LinkState::Used)), "{record:?}");
    assert_eq!(store.user(&app.id, &user.id).await.expect("lookup"), Some(user));
    assert_eq!(store.user(&app.id, &second_id).await.expect("lookup"), None);
}

pub async fn accept_refuses_as_expired_and_creates_nothing_when_link_has_expired(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let acceptance = accept(&token, "Ada", T0.plus(TTL));
    let user_id = acceptance.user_id.clone();

    let record = store.accept_invitation(acceptance).await.expect("accept");

    assert!(matches!(record, AcceptRecord::Refused(LinkState::Expired)), "{record:?}");
    assert_eq!(store.user(&app.id, &user_id).await.expect("lookup"), None);
    let lookup = store.invitation_by_token(&token).await.expect("lookup").expect("token is kept");
    assert_eq!(lookup.invitation.status, InvitationStatus::Pending);
}

pub async fn accept_refuses_as_replaced_when_invitation_was_resent(store: &dyn Store) {
    let app = app(store).await;
    let first = invite(&app, "ada@example.org", Role::User, T0);
    let old_token = first.token.hash();
    store.invite(first).await.expect("first invite");
    store.invite(invite(&app, "ada@example.org", Role::User, T0.plus(INTERVAL))).await.expect("second invite");
    let acceptance = accept(&old_token, "Ada", T0.plus(INTERVAL));
    let user_id = acceptance.user_id.clone();

    let record = store.accept_invitation(acceptance).await.expect("accept");

    assert!(matches!(record, AcceptRecord::Refused(LinkState::Replaced)), "{record:?}");
    assert_eq!(store.user(&app.id, &user_id).await.expect("lookup"), None);
}

pub async fn accept_refuses_as_unknown_when_token_never_existed(store: &dyn Store) {
    app(store).await;

    let record = store.accept_invitation(accept(&InvitationToken::generate().hash(), "Ada", T0)).await.expect("accept");

    assert!(matches!(record, AcceptRecord::Refused(LinkState::Unknown)), "{record:?}");
}

pub async fn user_is_found_only_in_its_own_app_when_looked_up(store: &dyn Store) {
    let home = app(store).await;
    let other = app(store).await;
    let ada = member(store, &home, "ada@example.org", Role::User).await;

    let in_home = store.user(&home.id, &ada.id).await.expect("lookup");
    let in_other = store.user(&other.id, &ada.id).await.expect("lookup");

    assert_eq!(in_home, Some(ada));
    assert_eq!(in_other, None);
}

pub async fn claim_outbox_returns_everything_to_send_when_invitation_is_queued(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::Admin, T0);
    let (message_id, token) = (cmd.message_id.clone(), cmd.token.hash());
    store.invite(cmd).await.expect("invite");

    let claimed = store.claim_outbox(T0, LEASE, 10).await.expect("claim");

    let [message] = claimed.as_slice() else { panic!("expected one message, got {claimed:?}") };
    assert_eq!(message.id, message_id);
    assert_eq!(message.kind, MailKind::Invitation);
    assert_eq!(message.to.as_str(), "ada@example.org");
    assert_eq!(message.app, app);
    assert_eq!(message.role, Role::Admin);
    assert_eq!(message.inviter_name, "Acme");
    assert_eq!((message.attempts, message.created_at), (0, T0));
    let link = message.invitation.as_ref().expect("an invitation carries its link");
    assert_eq!(link.token.hash(), token);
    assert_eq!(link.expires_at, T0.plus(TTL));
}

pub async fn claim_outbox_returns_sign_in_without_link_when_member_was_reminded(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::User).await;
    drain(store, T0.plus(Duration::from_secs(1))).await;
    let later = T0.plus(INTERVAL * 2);
    let cmd = invite(&app, "ada@example.org", Role::Admin, later);
    let message_id = cmd.message_id.clone();
    store.invite(cmd).await.expect("invite");

    let claimed = store.claim_outbox(later, LEASE, 10).await.expect("claim");

    let [message] = claimed.as_slice() else { panic!("expected one message, got {claimed:?}") };
    assert_eq!(message.id, message_id);
    assert_eq!(message.kind, MailKind::SignIn);
    assert_eq!(message.role, Role::User, "the member's role, not the one offered");
    assert!(message.invitation.is_none());
}

pub async fn claim_outbox_claims_each_message_once_when_lease_is_running(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");

    let first = store.claim_outbox(T0, LEASE, 10).await.expect("first claim");
    let second = store.claim_outbox(T0.plus(LEASE).minus(Duration::from_millis(1)), LEASE, 10).await.expect("claim");

    assert_eq!(first.len(), 1);
    assert!(second.is_empty(), "{second:?}");
}

pub async fn claim_outbox_claims_again_with_attempts_counted_when_lease_ran_out(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let first = store.claim_outbox(T0, LEASE, 10).await.expect("first claim");

    let again = store.claim_outbox(T0.plus(LEASE), LEASE, 10).await.expect("second claim");

    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!((first[0].attempts, again[0].attempts), (0, 1));
    let delivery = delivery(store, &token).await;
    assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Queued, 2));
}

pub async fn claim_outbox_respects_limit_when_more_messages_are_due(store: &dyn Store) {
    let app = app(store).await;
    for to in ["a@example.org", "b@example.org", "c@example.org"] {
        store.invite(invite(&app, to, Role::User, T0)).await.expect("invite");
    }

    let first = store.claim_outbox(T0, LEASE, 2).await.expect("first claim");
    let rest = store.claim_outbox(T0, LEASE, 2).await.expect("second claim");

    assert_eq!((first.len(), rest.len()), (2, 1));
    assert!(first.iter().all(|m| m.id != rest[0].id));
}

pub async fn mark_sent_shows_sent_and_stops_claims_when_transport_accepted(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let claimed = store.claim_outbox(T0, LEASE, 10).await.expect("claim");
    let sent_at = T0.plus(Duration::from_secs(2));

    store.mark_sent(&[claimed[0].id.clone()], sent_at).await.expect("mark sent");

    let delivery = delivery(store, &token).await;
    assert_eq!(
        delivery,
        Delivery { status: DeliveryStatus::Sent, attempts: 1, last_error: None, sent_at: Some(sent_at) }
    );
    let later = store.claim_outbox(T0.plus(TTL), LEASE, 10).await.expect("claim");
    assert!(later.is_empty(), "{later:?}");
}

pub async fn mark_failed_queues_for_later_when_retry_is_given(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let claimed = store.claim_outbox(T0, LEASE, 10).await.expect("claim");
    let retry_at = T0.plus(Duration::from_secs(30));

    store.mark_failed(&claimed[0].id, "451 try again later", Some(retry_at)).await.expect("mark failed");

    let early = store.claim_outbox(retry_at.minus(Duration::from_millis(1)), LEASE, 10).await.expect("claim");
    let due = store.claim_outbox(retry_at, LEASE, 10).await.expect("claim");
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.clone(), due[0].attempts), (claimed[0].id.clone(), 1));
    assert!(due[0].invitation.is_some(), "the link is kept for the retry");
    let delivery = delivery(store, &token).await;
    assert_eq!(
        (delivery.status, delivery.last_error.as_deref()),
        (DeliveryStatus::Queued, Some("451 try again later"))
    );
}

pub async fn mark_failed_shows_failed_delivery_when_given_up(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let claimed = store.claim_outbox(T0, LEASE, 10).await.expect("claim");

    store.mark_failed(&claimed[0].id, "550 no such user", None).await.expect("mark failed");

    let delivery = delivery(store, &token).await;
    assert_eq!(
        delivery,
        Delivery {
            status: DeliveryStatus::Failed,
            attempts: 1,
            last_error: Some("550 no such user".into()),
            sent_at: None
        }
    );
    let later = store.claim_outbox(T0.plus(TTL), LEASE, 10).await.expect("claim");
    assert!(later.is_empty(), "{later:?}");
}

pub async fn mark_failed_cancels_instead_of_retrying_when_invitation_was_resent(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("first invite");
    let in_flight = store.claim_outbox(T0, LEASE, 10).await.expect("claim");
    let resent_at = T0.plus(INTERVAL);
    let second = invite(&app, "ada@example.org", Role::User, resent_at);
    let (newest, token) = (second.message_id.clone(), second.token.hash());
    store.invite(second).await.expect("second invite");

    store.mark_failed(&in_flight[0].id, "timeout", Some(resent_at)).await.expect("mark failed");

    let claimed = store.claim_outbox(resent_at.plus(LEASE), LEASE, 10).await.expect("claim");
    let ids: Vec<MessageId> = claimed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, [newest], "the replaced link is not retried");
    assert_eq!(delivery(store, &token).await.status, DeliveryStatus::Queued);
}

pub async fn mark_sent_returns_not_found_when_message_is_unknown(store: &dyn Store) {
    app(store).await;

    let sent = store.mark_sent(&[MessageId::generate()], T0).await;
    let failed = store.mark_failed(&MessageId::generate(), "boom", None).await;

    assert!(matches!(sent, Err(StoreError::NotFound)), "{sent:?}");
    assert!(matches!(failed, Err(StoreError::NotFound)), "{failed:?}");
}

pub async fn invite_cancels_older_queued_message_when_invitation_is_resent(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("first invite");
    let resent_at = T0.plus(INTERVAL);
    let second = invite(&app, "ada@example.org", Role::Admin, resent_at);
    let (newest, token) = (second.message_id.clone(), second.token.hash());
    store.invite(second).await.expect("second invite");

    let claimed = store.claim_outbox(resent_at, LEASE, 10).await.expect("claim");

    let [message] = claimed.as_slice() else { panic!("expected only the newest message, got {claimed:?}") };
    assert_eq!(message.id, newest);
    assert_eq!(message.role, Role::Admin);
    assert_eq!(message.invitation.as_ref().map(|link| link.token.hash()), Some(token));
}

pub async fn server_secret_keeps_first_candidate_when_asked_again(store: &dyn Store) {
    let first = store.server_secret("jwt", "first".into()).await.expect("secret");

    let again = store.server_secret("jwt", "second".into()).await.expect("secret");
    let other = store.server_secret("other", "third".into()).await.expect("secret");

    assert_eq!((first.as_str(), again.as_str(), other.as_str()), ("first", "first", "third"));
}
