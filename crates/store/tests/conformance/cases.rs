//! The behaviours every `Store` must have, each written once against `&dyn Store`.

use std::time::Duration;

use std::collections::HashSet;

use usher_core::model::{
    Actor, App, AppSettings, AttemptOutcome, AuditAction, Delivery, DeliveryStatus, Invitation, InvitationStatus,
    InvitePolicy, Inviter, LinkState, MailKind, MailTemplate, OutboxMessage, User,
};
use usher_core::password::PasswordHash;
use usher_core::secret::{ApiKey, CodeKey, ConsoleLinkToken, InvitationToken, OneTimeCode, ResetToken, TokenHash};
use usher_core::store::{
    AcceptCommand, AcceptOutcome, AuditQuery, ConsoleLinkUse, InvitationQuery, InviteCommand, Invited, JoinCredential,
    KeyRevocation, MemberRemoval, MemberUpdate, NewApiKey, NewApp, Renewal, ResetOutcome, ResetRequest, SentMessage,
    SignupCommand, SignupOutcome, UserPatch, VerifyCommand, VerifyOutcome,
};
use usher_core::{
    ApiKeyId, AppId, EmailAddress, InstanceId, InvitationId, Locale, MessageId, Role, Store, StoreError, Timestamp,
    UserId,
};

use crate::support::{INTERVAL, T0, TTL, app, app_with_key, email, invite, join_all, new_app, operator, sent};

/// How long an instance may go without a heartbeat before it is presumed dead, in these cases.
const WINDOW: Duration = Duration::from_secs(15);

/// A newly registered instance, as a server starting at `now` registers itself.
async fn instance(store: &dyn Store, now: Timestamp) -> InstanceId {
    let id = InstanceId::generate();
    store.register_instance(&id, now).await.expect("register");
    id
}

/// Claims up to `limit` messages due at `now` for a newly registered instance.
async fn claim(store: &dyn Store, now: Timestamp, limit: u32) -> Vec<OutboxMessage> {
    store.claim_outbox(&instance(store, now).await, now, limit).await.expect("claim")
}

/// Renews `id`'s heartbeat every quarter window from `from` up to and including `until`;
/// returns how many messages the renewals released.
async fn keep_alive(store: &dyn Store, id: &InstanceId, from: Timestamp, until: Timestamp) -> u64 {
    keep_all_alive(store, std::slice::from_ref(id), from, until).await
}

/// [`keep_alive`] for several instances renewing side by side.
async fn keep_all_alive(store: &dyn Store, ids: &[InstanceId], from: Timestamp, until: Timestamp) -> u64 {
    let mut released = 0;
    let mut at = from;
    loop {
        for id in ids {
            let renewal = store.renew_instance(id, at, WINDOW).await.expect("renew");
            assert!(renewal.is_registered, "{id} stays registered while it renews");
            released += renewal.released;
        }
        if at == until {
            return released;
        }
        at = at.plus(WINDOW / 4).min(until);
    }
}

/// The password hash [`accept`] sets.
const JOIN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// An acceptance of the invitation behind `token` at `now`.
pub fn accept(token: &TokenHash, full_name: &str, now: Timestamp) -> AcceptCommand {
    AcceptCommand {
        token_hash: token.clone(),
        full_name: full_name.into(),
        credential: JoinCredential::NewPassword(PasswordHash::from_stored(JOIN_HASH.into())),
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
        Ok(AcceptOutcome::Joined { user, .. }) => user,
        other => panic!("expected Joined, got {other:?}"),
    }
}

/// Claims and marks sent everything due at `now`, so a case starts with an empty outbox.
async fn drain(store: &dyn Store, now: Timestamp) {
    for message in claim(store, now, 100).await {
        store.mark_sent(&[sent(&message.id)], now).await.expect("mark sent");
    }
}

/// The delivery of the invitation behind `token`.
async fn delivery(store: &dyn Store, token: &TokenHash) -> Delivery {
    store.invitation_by_token(token).await.expect("lookup").expect("token is known").invitation.delivery
}

pub async fn schema_version_is_the_expected_one_when_opened(store: &dyn Store) {
    let schema = store.schema_version().await.expect("schema version");

    assert_eq!(schema.applied, schema.expected);
    assert!(schema.expected >= 4, "{schema:?}");
}

pub async fn app_roundtrips_settings_when_created(store: &dyn Store) {
    let settings = AppSettings {
        invitation_ttl: Duration::from_secs(3 * 24 * 60 * 60),
        invite_policy: InvitePolicy::Members,
        is_signup_open: true,
        sender_name: Some("Acme Team".into()),
        sender_email: Some(email("team@acme.example")),
        cors_origins: vec!["https://admin.acme.example".into(), "http://localhost:5173".into()],
        allowed_email_domains: domains(&["acme.example", "*.acme.example"]),
        blocked_email_domains: domains(&["rival.example"]),
        max_invites_per_day: Some(250),
        reminder_before_expiry_hours: Some(24),
        locale: Locale::Fr,
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

pub async fn create_first_app_creates_one_app_when_four_race_on_an_empty_database(store: &dyn Store) {
    let keys: Vec<ApiKey> = (0..4).map(|_| ApiKey::generate()).collect();

    let created = join_all(keys.iter().map(|key| store.create_first_app(new_app(key)))).await;

    let created: Vec<App> = created.into_iter().filter_map(|app| app.expect("no start fails")).collect();
    assert_eq!(created.len(), 1, "exactly one first app");
    assert_eq!(store.apps().await.expect("apps"), created);
    let again = store.create_first_app(new_app(&ApiKey::generate())).await.expect("later start");
    assert_eq!(again, None, "a database with an app gets no other first app");
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

    let Invited::Created(invitation) = record else { panic!("expected Created, got {record:?}") };
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

    let Invited::Resent(invitation) = record else { panic!("expected Resent, got {record:?}") };
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

    let Invited::Resent(invitation) = record else { panic!("expected Resent, got {record:?}") };
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

    let Invited::Throttled { retry_after } = record else { panic!("expected Throttled, got {record:?}") };
    assert_eq!(retry_after, Duration::from_secs(40));
    assert!(store.invitation_by_token(&second_token).await.expect("lookup").is_none());
    let unchanged = store.invitation_by_token(&first_token).await.expect("lookup").expect("first token");
    assert!(unchanged.is_current);
    assert_eq!((unchanged.invitation.role, unchanged.invitation.times_sent), (Role::User, 1));
    let queued = claim(store, soon, 10).await;
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
        matches!(throttled, Invited::Throttled { retry_after } if retry_after == Duration::from_millis(1)),
        "{throttled:?}"
    );
    assert!(matches!(&allowed, Invited::Resent(invitation) if invitation.times_sent == 2), "{allowed:?}");
}

pub async fn invite_refuses_and_writes_nothing_when_a_member_reinvites_an_admin_invitation(store: &dyn Store) {
    let app = app(store).await;
    let first = invite(&app, "ada@example.org", Role::Admin, T0);
    let first_token = first.token.hash();
    store.invite(first).await.expect("admin invite");
    let by_member = |now| {
        let mut cmd = invite(&app, "ada@example.org", Role::User, now);
        cmd.inviter = Inviter { actor: Actor::User(UserId::generate()), display_name: "Bob".into() };
        cmd.may_invite_admins = false;
        cmd
    };
    let user_invite = invite(&app, "bob@example.org", Role::User, T0);
    store.invite(user_invite).await.expect("user invite");

    let soon = store.invite(by_member(T0.plus(Duration::from_secs(1)))).await.expect("invite");
    let later = store.invite(by_member(T0.plus(INTERVAL * 2))).await.expect("invite");
    let mut batch_cmd = by_member(T0.plus(INTERVAL * 2));
    batch_cmd.may_invite_admins = false;
    let batch = store.invite_batch(vec![batch_cmd]).await.expect("batch");
    let mut of_user = invite(&app, "bob@example.org", Role::User, T0.plus(INTERVAL * 2));
    of_user.may_invite_admins = false;
    let resent = store.invite(of_user).await.expect("invite");

    assert!(matches!(soon, Invited::NotAllowed), "refused, not throttled: {soon:?}");
    assert!(matches!(later, Invited::NotAllowed), "{later:?}");
    assert!(matches!(batch.as_slice(), [Invited::NotAllowed]), "{batch:?}");
    assert!(matches!(resent, Invited::Resent(_)), "a user invitation is the member's to re-send: {resent:?}");
    let unchanged = store.invitation_by_token(&first_token).await.expect("lookup").expect("first token");
    assert!(unchanged.is_current, "the admin's link still works");
    assert_eq!((unchanged.invitation.role, unchanged.invitation.times_sent), (Role::Admin, 1));
    assert_eq!(unchanged.invitation.invited_by.display_name, "Acme");
}

pub async fn invite_reminds_without_changing_role_when_address_is_member(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let later = T0.plus(INTERVAL * 2);
    let cmd = invite(&app, "ada@example.org", Role::Admin, later);
    let token = cmd.token.hash();

    let record = store.invite(cmd).await.expect("invite");

    let Invited::AlreadyMember(user) = record else { panic!("expected AlreadyMember, got {record:?}") };
    assert_eq!(user, ada);
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup"), Some(ada));
    assert!(store.invitation_by_token(&token).await.expect("lookup").is_none(), "no new invitation");
}

pub async fn invite_refuses_and_writes_nothing_when_the_domain_is_refused_unless_a_member(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::User).await;
    let later = T0.plus(INTERVAL * 2);
    let refused = |to| InviteCommand { email_domain_allowed: false, ..invite(&app, to, Role::User, later) };
    let new = refused("eve@example.org");
    let new_token = new.token.hash();

    let single = store.invite(new).await.expect("invite");
    let batch = store.invite_batch(vec![refused("bob@example.org"), refused("ada@example.org")]).await.expect("batch");

    assert!(matches!(single, Invited::DomainNotAllowed), "{single:?}");
    assert!(matches!(batch.as_slice(), [Invited::DomainNotAllowed, Invited::AlreadyMember(_)]), "{batch:?}");
    assert!(store.invitation_by_token(&new_token).await.expect("lookup").is_none(), "no invitation");
    for to in ["eve@example.org", "bob@example.org"] {
        let query = InvitationQuery { email: Some(email(to)), limit: 10, ..InvitationQuery::default() };
        assert!(store.list_invitations(&app.id, query, later).await.expect("list").is_empty(), "{to}");
    }
}

pub async fn invite_dry_run_answers_what_the_batch_then_does_and_keeps_nothing(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::User).await;
    let pending = invite(&app, "bob@example.org", Role::User, T0);
    store.invite(pending).await.expect("invite");
    drain(store, T0).await;
    let later = T0.plus(INTERVAL * 2);
    let cmds = || {
        vec![
            invite(&app, "cy@example.org", Role::User, later),
            invite(&app, "cy@example.org", Role::User, later),
            invite(&app, "bob@example.org", Role::Admin, later),
            invite(&app, "ada@example.org", Role::User, later),
        ]
    };
    let kind = |invited: &Invited| match invited {
        Invited::Created(_) => "created",
        Invited::Resent(_) => "resent",
        Invited::AlreadyMember(_) => "already_member",
        Invited::Throttled { .. } => "throttled",
        Invited::NotAllowed => "not_allowed",
        Invited::DomainNotAllowed => "domain_not_allowed",
        Invited::DailyLimit { .. } => "daily_limit",
    };
    let dry_cmds = cmds();
    let dry_token = dry_cmds[0].token.hash();

    let dry = store.invite_dry_run(dry_cmds).await.expect("dry run");
    let queued_after_dry_run = claim(store, later, 100).await;
    let token_after_dry_run = store.invitation_by_token(&dry_token).await.expect("lookup");
    let bob_after_dry_run = store
        .list_invitations(
            &app.id,
            InvitationQuery { email: Some(email("bob@example.org")), limit: 10, ..InvitationQuery::default() },
            later,
        )
        .await
        .expect("list");
    let real = store.invite_batch(cmds()).await.expect("batch");

    let dry: Vec<_> = dry.iter().map(kind).collect();
    assert_eq!(dry, ["created", "throttled", "resent", "already_member"]);
    assert_eq!(real.iter().map(kind).collect::<Vec<_>>(), dry);
    assert!(queued_after_dry_run.is_empty(), "no email queued: {queued_after_dry_run:?}");
    assert!(token_after_dry_run.is_none(), "no invitation kept");
    assert_eq!(
        (bob_after_dry_run[0].times_sent, bob_after_dry_run[0].role),
        (1, Role::User),
        "the pending one is untouched"
    );
    assert_eq!(claim(store, later, 100).await.len(), 3, "the real run queued its three emails");
}

pub async fn invite_keeps_the_daily_allowance_when_invites_of_different_addresses_race(store: &dyn Store) {
    let app = app(store).await;
    let first = InviteCommand { daily_allowance: Some(2), ..invite(&app, "ada@example.org", Role::User, T0) };
    store.invite(first).await.expect("first invite");
    let later = T0.plus(INTERVAL);
    let racing: Vec<_> = ["bob", "cy", "dan", "eve"]
        .iter()
        .map(|name| InviteCommand {
            daily_allowance: Some(2),
            ..invite(&app, &format!("{name}@example.org"), Role::User, later)
        })
        .collect();

    let outcomes = join_all(racing.into_iter().map(|cmd| store.invite(cmd))).await;

    let created = outcomes.iter().filter(|o| matches!(o, Ok(Invited::Created(_)))).count();
    let refused: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(Invited::DailyLimit { retry_after }) => Some(*retry_after),
            _ => None,
        })
        .collect();
    assert_eq!((created, refused.len()), (1, 3), "{outcomes:?}");
    // The first invitation, queued at T0, leaves the 24-hour window first.
    assert!(refused.iter().all(|r| *r == Duration::from_secs(24 * 3600) - INTERVAL), "{refused:?}");
    assert_eq!(store.invitation_emails_since(&app.id, T0.minus(INTERVAL)).await.expect("count"), 2);
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
            Invited::Created(invitation) => ("created", invitation.id),
            Invited::Resent(invitation) => ("resent", invitation.id),
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

    let AcceptOutcome::Joined { user, app: joined } = record else { panic!("expected Joined, got {record:?}") };
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
    let AcceptOutcome::Joined { user, .. } = first else { panic!("expected Joined, got {first:?}") };
    let second = accept(&token, "Mallory", T0.plus(Duration::from_secs(1)));
    let second_id = second.user_id.clone();

    let record = store.accept_invitation(second).await.expect("second accept");

    assert!(matches!(record, AcceptOutcome::Refused(LinkState::Used)), "{record:?}");
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

    assert!(matches!(record, AcceptOutcome::Refused(LinkState::Expired)), "{record:?}");
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

    assert!(matches!(record, AcceptOutcome::Refused(LinkState::Replaced)), "{record:?}");
    assert_eq!(store.user(&app.id, &user_id).await.expect("lookup"), None);
}

pub async fn accept_refuses_as_unknown_when_token_never_existed(store: &dyn Store) {
    app(store).await;

    let record = store.accept_invitation(accept(&InvitationToken::generate().hash(), "Ada", T0)).await.expect("accept");

    assert!(matches!(record, AcceptOutcome::Refused(LinkState::Unknown)), "{record:?}");
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

    let claimed = claim(store, T0, 10).await;

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

    let claimed = claim(store, later, 10).await;

    let [message] = claimed.as_slice() else { panic!("expected one message, got {claimed:?}") };
    assert_eq!(message.id, message_id);
    assert_eq!(message.kind, MailKind::SignIn);
    assert_eq!(message.role, Role::User, "the member's role, not the one offered");
    assert!(message.invitation.is_none());
}

/// An app's own template of `kind` in `locale`.
fn own_template(kind: MailKind, locale: Locale, subject: &str) -> MailTemplate {
    MailTemplate {
        kind,
        locale,
        subject: subject.into(),
        text: "{{ link }}".into(),
        html: "<a href=\"{{ link }}\">join</a>".into(),
        updated_at: T0,
    }
}

pub async fn claimed_messages_carry_their_locale_and_the_apps_own_template(store: &dyn Store) {
    let app = app(store).await;
    let app = App { settings: AppSettings { locale: Locale::Fr, ..app.settings.clone() }, ..app };
    store.update_app(&app, &operator(), T0).await.expect("update").expect("app exists");
    let own = own_template(MailKind::Invitation, Locale::De, "Willkommen");
    store.put_mail_template(&app.id, &own, &operator()).await.expect("template");
    store
        .put_mail_template(&app.id, &own_template(MailKind::SignIn, Locale::En, "Hi"), &operator())
        .await
        .expect("template");
    member(store, &app, "cy@example.org", Role::User).await;
    drain(store, T0).await;
    let later = T0.plus(INTERVAL * 2);
    let german = InviteCommand { locale: Some(Locale::De), ..invite(&app, "ada@example.org", Role::User, later) };
    let default = invite(&app, "bob@example.org", Role::User, later);
    let reminded = InviteCommand { locale: Some(Locale::Es), ..invite(&app, "cy@example.org", Role::User, later) };
    let (german_id, default_id, reminded_id) =
        (german.message_id.clone(), default.message_id.clone(), reminded.message_id.clone());
    let Invited::Created(created) = store.invite(german).await.expect("invite") else { panic!("created") };
    store.invite(default).await.expect("invite");
    store.invite(reminded).await.expect("invite");

    let claimed = claim(store, later, 10).await;
    let find = |id: &MessageId| claimed.iter().find(|m| &m.id == id).expect("claimed");

    assert_eq!(created.locale, Some(Locale::De));
    assert_eq!((find(&german_id).locale, find(&german_id).template.as_ref()), (Locale::De, Some(&own)));
    assert_eq!((find(&default_id).locale, find(&default_id).template.as_ref()), (Locale::Fr, None));
    assert_eq!((find(&reminded_id).locale, find(&reminded_id).template.as_ref()), (Locale::Es, None));
    let stored = store.invitation(&app.id, &created.id).await.expect("lookup").expect("exists");
    assert_eq!(stored.locale, Some(Locale::De));

    // A re-send that names no locale keeps the invitation's; one that names one changes it.
    store.mark_sent(&[sent(&german_id), sent(&default_id), sent(&reminded_id)], later).await.expect("sent");
    let again = later.plus(INTERVAL * 2);
    let resend = invite(&app, "ada@example.org", Role::User, again);
    let resend_id = resend.message_id.clone();
    store.invite(resend).await.expect("re-send");
    let claimed = claim(store, again, 10).await;
    let [message] = claimed.as_slice() else { panic!("expected one message, got {claimed:?}") };
    assert_eq!((&message.id, message.locale), (&resend_id, Locale::De));
    store.mark_sent(&[sent(&resend_id)], again).await.expect("sent");
    let third = again.plus(INTERVAL * 2);
    store
        .invite(InviteCommand { locale: Some(Locale::Es), ..invite(&app, "ada@example.org", Role::User, third) })
        .await
        .expect("re-send");
    let claimed = claim(store, third, 10).await;
    assert_eq!(claimed.iter().map(|m| m.locale).collect::<Vec<_>>(), [Locale::Es]);
    let stored = store.invitation(&app.id, &created.id).await.expect("lookup").expect("exists");
    assert_eq!(stored.locale, Some(Locale::Es));
}

pub async fn mail_templates_are_stored_replaced_listed_and_deleted_per_app(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    let first = own_template(MailKind::Invitation, Locale::De, "Eins");
    let replaced = MailTemplate { subject: "Zwei".into(), updated_at: T0.plus(INTERVAL), ..first.clone() };
    let french = own_template(MailKind::PasswordReset, Locale::Fr, "Réinitialiser");

    store.put_mail_template(&app.id, &first, &operator()).await.expect("put");
    store.put_mail_template(&app.id, &replaced, &operator()).await.expect("replace");
    store.put_mail_template(&app.id, &french, &operator()).await.expect("put");

    assert_eq!(store.mail_templates(&app.id).await.expect("list"), [replaced.clone(), french.clone()]);
    assert_eq!(store.mail_templates(&other.id).await.expect("list"), []);
    let by = operator();
    let removed_at = T0.plus(INTERVAL * 2);
    assert!(!store.delete_mail_template(&other.id, MailKind::Invitation, Locale::De, &by, T0).await.expect("delete"));
    assert!(
        store.delete_mail_template(&app.id, MailKind::Invitation, Locale::De, &by, removed_at).await.expect("delete")
    );
    assert!(!store.delete_mail_template(&app.id, MailKind::Invitation, Locale::De, &by, T0).await.expect("delete"));
    assert_eq!(store.mail_templates(&app.id).await.expect("list"), [french]);

    // Each save and the one removal are audited with the kind and locale; nothing else is.
    let log = store.audit_events(&app.id, &AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("audit");
    let logged: Vec<_> = log
        .iter()
        .filter(|e| e.action.starts_with("template."))
        .map(|e| (e.action.as_str(), e.detail.clone(), e.created_at))
        .collect();
    let detail = |kind: &str, locale: &str| Some(serde_json::json!({ "kind": kind, "locale": locale }));
    assert_eq!(
        logged,
        [
            ("template.removed", detail("invitation", "de"), removed_at),
            ("template.saved", detail("password_reset", "fr"), T0),
            ("template.saved", detail("invitation", "de"), T0.plus(INTERVAL)),
            ("template.saved", detail("invitation", "de"), T0),
        ]
    );
    assert_eq!(log[0].actor, by);
    let others =
        store.audit_events(&other.id, &AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("audit");
    assert!(others.iter().all(|e| !e.action.starts_with("template.")), "{others:?}");
}

pub async fn outbox_backlog_counts_queued_and_sending_but_not_sent_messages(store: &dyn Store) {
    let app = app(store).await;
    for address in ["ada@example.org", "bob@example.org", "cy@example.org"] {
        store.invite(invite(&app, address, Role::User, T0)).await.expect("invite");
    }
    let queued = store.outbox_backlog().await.expect("backlog");
    let claimed = claim(store, T0, 2).await;
    let claiming = store.outbox_backlog().await.expect("backlog");

    store.mark_sent(&[sent(&claimed[0].id)], T0).await.expect("mark sent");

    let after = store.outbox_backlog().await.expect("backlog");
    assert_eq!((queued.queued, queued.sending), (3, 0));
    assert_eq!((claiming.queued, claiming.sending), (1, 2));
    assert_eq!((after.queued, after.sending), (1, 1));
}

pub async fn claim_outbox_claims_each_message_once_while_its_instance_renews(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    let (sender, other) = (instance(store, T0).await, instance(store, T0).await);
    let first = store.claim_outbox(&sender, T0, 10).await.expect("first claim");
    let an_hour_later = T0.plus(Duration::from_secs(3600));

    // However long the send takes, the sender keeps renewing, and so does the other instance.
    keep_all_alive(store, &[sender.clone(), other.clone()], T0, an_hour_later).await;
    let second = store.claim_outbox(&other, an_hour_later, 10).await.expect("claim");

    assert_eq!(first.len(), 1);
    assert!(second.is_empty(), "{second:?}");
}

pub async fn claim_outbox_claims_again_with_attempts_counted_when_its_instance_was_presumed_dead(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let (dead, survivor) = (instance(store, T0).await, instance(store, T0).await);
    let first = store.claim_outbox(&dead, T0, 10).await.expect("first claim");
    let just_alive = keep_alive(store, &survivor, T0, T0.plus(WINDOW)).await;

    let released = keep_alive(store, &survivor, T0.plus(WINDOW), T0.plus(WINDOW + Duration::from_millis(1))).await;

    let again = store.claim_outbox(&survivor, T0.plus(WINDOW), 10).await.expect("second claim");
    assert_eq!((just_alive, released), (0, 1), "presumed dead once its heartbeat is older than the window");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!((first[0].attempts, again[0].attempts), (0, 1));
    let delivery = delivery(store, &token).await;
    assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Queued, 2));
    assert_eq!(delivery.last_error.as_deref(), Some("the instance sending it stopped before recording the result"));
}

pub async fn renew_instance_presumes_no_one_dead_when_the_judge_was_not_alive_for_a_whole_window(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    let (silent, judge) = (instance(store, T0).await, instance(store, T0).await);
    store.claim_outbox(&silent, T0, 10).await.expect("claim");
    // The database was out of reach for everyone for two windows; the judge's heartbeat gets
    // through first, before the silent instance had a chance to renew.
    let back = T0.plus(WINDOW * 2);

    let released = keep_alive(store, &judge, back, back.plus(WINDOW / 2)).await;

    assert_eq!(released, 0);
    assert!(store.claim_outbox(&judge, back.plus(WINDOW / 2), 10).await.expect("claim").is_empty());
    let renewal = store.renew_instance(&silent, back.plus(WINDOW / 2), WINDOW).await.expect("renew");
    assert!(renewal.is_registered, "still registered: it renews in time and keeps its claim");
}

pub async fn renew_instance_tells_an_instance_presumed_dead_to_register_again(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    let (stalled, survivor) = (instance(store, T0).await, instance(store, T0).await);
    store.claim_outbox(&stalled, T0, 10).await.expect("claim");
    let late = T0.plus(WINDOW * 2);
    keep_alive(store, &survivor, T0, late).await;

    let renewal = store.renew_instance(&stalled, late, WINDOW).await.expect("renew");
    let unregistered_claim = store.claim_outbox(&stalled, late, 10).await;
    store.register_instance(&stalled, late).await.expect("register again");
    let claimed = store.claim_outbox(&stalled, late, 10).await.expect("claim");

    assert_eq!(renewal, Renewal { is_registered: false, released: 0 });
    assert!(matches!(unregistered_claim, Err(StoreError::NotFound)), "{unregistered_claim:?}");
    assert_eq!(claimed.len(), 1, "its released message, claimed again now that it is registered");
}

pub async fn deregister_instance_releases_its_claims_at_once(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    let (stopping, other) = (instance(store, T0).await, instance(store, T0).await);
    store.claim_outbox(&stopping, T0, 10).await.expect("claim");

    store.deregister_instance(&stopping).await.expect("deregister");

    let claimed = store.claim_outbox(&other, T0, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
}

pub async fn claim_outbox_releases_what_the_same_instance_left_unrecorded(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    let me = instance(store, T0).await;
    let first = store.claim_outbox(&me, T0, 10).await.expect("claim");

    let again = store.claim_outbox(&me, T0.plus(Duration::from_secs(1)), 10).await.expect("claim");

    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.clone(), again[0].attempts), (first[0].id.clone(), 1));
}

pub async fn released_message_is_cancelled_when_its_invitation_was_resent_meanwhile(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("first invite");
    let (dead, survivor) = (instance(store, T0).await, instance(store, T0).await);
    store.claim_outbox(&dead, T0, 10).await.expect("claim");
    let resent_at = T0.plus(INTERVAL);
    let second = invite(&app, "ada@example.org", Role::User, resent_at);
    let newest = second.message_id.clone();
    store.invite(second).await.expect("second invite");
    let late = resent_at.max(T0.plus(WINDOW)).plus(WINDOW);

    let released = keep_alive(store, &survivor, T0, late).await;

    let claimed = store.claim_outbox(&survivor, late, 10).await.expect("claim");
    let ids: Vec<MessageId> = claimed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(released, 1);
    assert_eq!(ids, [newest], "the replaced link is not sent");
}

pub async fn mark_failed_does_nothing_when_the_claim_went_to_another_instance(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let (stalled, survivor) = (instance(store, T0).await, instance(store, T0).await);
    let claimed = store.claim_outbox(&stalled, T0, 10).await.expect("claim");
    let late = T0.plus(WINDOW * 2);
    keep_alive(store, &survivor, T0, late).await;
    let taken_over = store.claim_outbox(&survivor, late, 10).await.expect("claim");

    store.mark_failed(&stalled, &claimed[0].id, "451 busy", Some(late)).await.expect("mark failed");
    store.mark_sent(&[sent(&taken_over[0].id)], late).await.expect("mark sent");

    assert_eq!(delivery(store, &token).await.status, DeliveryStatus::Sent);
    assert!(claim(store, late.plus(TTL), 10).await.is_empty(), "not queued again by the stalled instance");
}

pub async fn claim_outbox_respects_limit_when_more_messages_are_due(store: &dyn Store) {
    let app = app(store).await;
    for to in ["a@example.org", "b@example.org", "c@example.org"] {
        store.invite(invite(&app, to, Role::User, T0)).await.expect("invite");
    }

    let first = claim(store, T0, 2).await;
    let rest = claim(store, T0, 2).await;

    assert_eq!((first.len(), rest.len()), (2, 1));
    assert!(first.iter().all(|m| m.id != rest[0].id));
}

pub async fn mark_sent_shows_sent_and_stops_claims_when_transport_accepted(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let claimed = claim(store, T0, 10).await;
    let sent_at = T0.plus(Duration::from_secs(2));

    store.mark_sent(&[sent(&claimed[0].id)], sent_at).await.expect("mark sent");

    let delivery = delivery(store, &token).await;
    assert_eq!(
        delivery,
        Delivery {
            status: DeliveryStatus::Sent,
            attempts: 1,
            last_error: None,
            sent_at: Some(sent_at),
            next_attempt_at: None
        }
    );
    let later = claim(store, T0.plus(TTL), 10).await;
    assert!(later.is_empty(), "{later:?}");
}

pub async fn delivery_attempts_list_each_ended_attempt_of_an_invitations_emails(store: &dyn Store) {
    let other = app(store).await;
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let id = cmd.invitation_id.clone();
    store.invite(cmd).await.expect("invite");
    let me = instance(store, T0).await;
    let first = store.claim_outbox(&me, T0, 10).await.expect("claim");
    let retry_at = T0.plus(Duration::from_secs(30));
    store.mark_failed(&me, &first[0].id, "451 4.7.1 try again later", Some(retry_at)).await.expect("mark failed");
    let untouched = store.delivery_attempts(&app.id, &id).await.expect("attempts");
    let second = store.claim_outbox(&me, retry_at, 10).await.expect("claim");
    let reply = SentMessage { id: second[0].id.clone(), reply: "250 2.0.0 Ok: queued as 4Z1kQm".into() };
    store.mark_sent(&[reply], retry_at).await.expect("mark sent");

    let attempts = store.delivery_attempts(&app.id, &id).await.expect("attempts");
    let elsewhere = store.delivery_attempts(&other.id, &id).await.expect("attempts");

    assert_eq!(untouched.len(), 1);
    let summary: Vec<(u32, AttemptOutcome, Option<&str>)> =
        attempts.iter().map(|a| (a.attempt, a.outcome, a.reply.as_deref())).collect();
    assert_eq!(
        summary,
        [
            (2, AttemptOutcome::Sent, Some("250 2.0.0 Ok: queued as 4Z1kQm")),
            (1, AttemptOutcome::Retry, Some("451 4.7.1 try again later"))
        ],
        "newest first, each with the server's reply"
    );
    assert_eq!(attempts[0].at, retry_at);
    assert!(attempts.iter().all(|a| a.message_id == first[0].id));
    assert!(elsewhere.is_empty(), "another app sees nothing");
}

pub async fn mark_failed_queues_for_later_when_retry_is_given(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let me = instance(store, T0).await;
    let claimed = store.claim_outbox(&me, T0, 10).await.expect("claim");
    let retry_at = T0.plus(Duration::from_secs(30));

    store.mark_failed(&me, &claimed[0].id, "451 try again later", Some(retry_at)).await.expect("mark failed");

    let waiting = delivery(store, &token).await;
    let early = claim(store, retry_at.minus(Duration::from_millis(1)), 10).await;
    let due = claim(store, retry_at, 10).await;
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.clone(), due[0].attempts), (claimed[0].id.clone(), 1));
    assert!(due[0].invitation.is_some(), "the link is kept for the retry");
    assert_eq!(
        (waiting.status, waiting.last_error.as_deref(), waiting.next_attempt_at),
        (DeliveryStatus::Queued, Some("451 try again later"), Some(retry_at)),
        "the backoff shows"
    );
    let trying = delivery(store, &token).await;
    assert_eq!((trying.status, trying.attempts, trying.next_attempt_at), (DeliveryStatus::Queued, 2, None));
}

pub async fn mark_failed_shows_failed_delivery_when_given_up(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let me = instance(store, T0).await;
    let claimed = store.claim_outbox(&me, T0, 10).await.expect("claim");

    store.mark_failed(&me, &claimed[0].id, "550 no such user", None).await.expect("mark failed");

    let delivery = delivery(store, &token).await;
    assert_eq!(
        delivery,
        Delivery {
            status: DeliveryStatus::Failed,
            attempts: 1,
            last_error: Some("550 no such user".into()),
            sent_at: None,
            next_attempt_at: None
        }
    );
    let later = claim(store, T0.plus(TTL), 10).await;
    assert!(later.is_empty(), "{later:?}");
}

pub async fn mark_failed_cancels_instead_of_retrying_when_invitation_was_resent(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("first invite");
    let me = instance(store, T0).await;
    let in_flight = store.claim_outbox(&me, T0, 10).await.expect("claim");
    let resent_at = T0.plus(INTERVAL);
    let second = invite(&app, "ada@example.org", Role::User, resent_at);
    let (newest, token) = (second.message_id.clone(), second.token.hash());
    store.invite(second).await.expect("second invite");

    store.mark_failed(&me, &in_flight[0].id, "timeout", Some(resent_at)).await.expect("mark failed");

    let claimed = claim(store, resent_at.plus(WINDOW), 10).await;
    let ids: Vec<MessageId> = claimed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, [newest], "the replaced link is not retried");
    assert_eq!(delivery(store, &token).await.status, DeliveryStatus::Queued);
}

pub async fn mark_sent_returns_not_found_when_message_is_unknown(store: &dyn Store) {
    app(store).await;

    let sent = store.mark_sent(&[sent(&MessageId::generate())], T0).await;
    let failed = store.mark_failed(&instance(store, T0).await, &MessageId::generate(), "boom", None).await;

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

    let claimed = claim(store, resent_at, 10).await;

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

pub async fn invite_answers_each_of_a_concurrent_burst_alone_when_some_are_refused(store: &dyn Store) {
    let app = app(store).await;
    store.invite(invite(&app, "recent@example.org", Role::User, T0)).await.expect("first invite");
    let ghost = App { id: AppId::generate(), ..app.clone() };
    let mut cmds = vec![invite(&ghost, "ghost@example.org", Role::User, T0)];
    cmds.extend((0..6).map(|n| invite(&app, &format!("new{n}@example.org"), Role::User, T0)));
    cmds.push(invite(&app, "recent@example.org", Role::Admin, T0));

    let records = join_all(cmds.into_iter().map(|cmd| store.invite(cmd))).await;

    let mut records = records.into_iter();
    let ghost = records.next().expect("ghost answer");
    assert!(matches!(ghost, Err(StoreError::NotFound)), "an invite into no app fails alone: {ghost:?}");
    let throttled = records.next_back().expect("recent answer").expect("a throttled invite is an outcome");
    assert!(matches!(throttled, Invited::Throttled { .. }), "{throttled:?}");
    for record in records {
        assert!(matches!(record, Ok(Invited::Created(_))), "{record:?}");
    }
    let pending = InvitationQuery { status: Some(InvitationStatus::Pending), limit: 20, ..InvitationQuery::default() };
    assert_eq!(store.list_invitations(&app.id, pending, T0).await.expect("list").len(), 7, "six new and the first");
}

pub async fn invite_settles_as_one_created_and_seven_resent_when_eight_invites_race(store: &dyn Store) {
    let app = app(store).await;
    let cmds: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = invite(&app, "ada@example.org", Role::User, T0);
            cmd.resend_interval = Duration::ZERO;
            cmd
        })
        .collect();
    let tokens: Vec<TokenHash> = cmds.iter().map(|cmd| cmd.token.hash()).collect();

    let records = join_all(cmds.into_iter().map(|cmd| store.invite(cmd))).await;

    let (mut created, mut resent, mut ids) = (0, 0, HashSet::new());
    for record in records {
        match record.expect("no invite fails") {
            Invited::Created(invitation) => {
                (created, ids) = (created + 1, ids.into_iter().chain([invitation.id]).collect())
            }
            Invited::Resent(invitation) => {
                (resent, ids) = (resent + 1, ids.into_iter().chain([invitation.id]).collect())
            }
            other => panic!("expected Created or Resent, got {other:?}"),
        }
    }
    assert_eq!((created, resent), (1, 7));
    assert_eq!(ids.len(), 1, "all name one invitation");
    let pending = InvitationQuery { status: Some(InvitationStatus::Pending), limit: 10, ..InvitationQuery::default() };
    let pending = store.list_invitations(&app.id, pending, T0).await.expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].times_sent, 8);
    let mut current = Vec::new();
    for token in &tokens {
        let lookup = store.invitation_by_token(token).await.expect("lookup").expect("every token is kept");
        if lookup.is_current {
            current.push(token.clone());
        }
    }
    assert_eq!(current.len(), 1, "exactly one link works");
    let queued = claim(store, T0, 20).await;
    let [message] = queued.as_slice() else { panic!("expected only the latest email, got {queued:?}") };
    assert_eq!(message.invitation.as_ref().map(|link| link.token.hash()), current.pop());
}

pub async fn claim_outbox_gives_two_claimers_disjoint_messages_when_they_claim_at_once(store: &dyn Store) {
    let app = app(store).await;
    for n in 0..6 {
        store.invite(invite(&app, &format!("user{n}@example.org"), Role::User, T0)).await.expect("invite");
    }

    let (first, second) = (instance(store, T0).await, instance(store, T0).await);

    let claims = join_all([store.claim_outbox(&first, T0, 3), store.claim_outbox(&second, T0, 3)]).await;

    let ids: Vec<HashSet<MessageId>> =
        claims.into_iter().map(|claim| claim.expect("claim").into_iter().map(|message| message.id).collect()).collect();
    assert!(ids[0].is_disjoint(&ids[1]), "{ids:?}");
    assert_eq!(ids[0].len() + ids[1].len(), 6, "{ids:?}");
    assert!(claim(store, T0, 10).await.is_empty());
}

pub async fn accept_joins_once_when_one_link_is_used_twice_at_once(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let at = T0.plus(Duration::from_secs(1));

    let records = join_all([
        store.accept_invitation(accept(&token, "Ada", at)),
        store.accept_invitation(accept(&token, "Eve", at)),
    ])
    .await;

    let records: Vec<AcceptOutcome> = records.into_iter().map(|record| record.expect("accept")).collect();
    let joined = records.iter().filter(|record| matches!(record, AcceptOutcome::Joined { .. })).count();
    let used = records.iter().filter(|record| matches!(record, AcceptOutcome::Refused(LinkState::Used))).count();
    assert_eq!((joined, used), (1, 1), "{records:?}");
    assert_eq!(store.users(&app.id).await.expect("users").len(), 1);
}

pub async fn update_app_stores_name_url_and_settings_when_app_exists(store: &dyn Store) {
    let app = app(store).await;
    let changed = App {
        name: "Acme Two".into(),
        app_url: "https://two.acme.example".into(),
        settings: AppSettings {
            invitation_ttl: Duration::from_secs(3600),
            invite_policy: InvitePolicy::Members,
            is_signup_open: true,
            sender_name: Some("Acme".into()),
            sender_email: Some(email("hello@acme.example")),
            cors_origins: vec!["https://admin.acme.example".into()],
            allowed_email_domains: domains(&["*.acme.example"]),
            blocked_email_domains: domains(&["gmail.com", "*.rival.example"]),
            max_invites_per_day: Some(1),
            reminder_before_expiry_hours: Some(2),
            locale: Locale::Es,
        },
        ..app.clone()
    };
    let missing = App { id: AppId::generate(), ..changed.clone() };

    let by = operator();
    let later = T0.plus(INTERVAL);

    let updated = store.update_app(&changed, &by, later).await.expect("update");
    let unknown = store.update_app(&missing, &by, later).await.expect("update");
    let unchanged = store.update_app(&changed, &by, later.plus(INTERVAL)).await.expect("update");

    assert_eq!(updated.as_ref(), Some(&changed));
    assert_eq!(unchanged.as_ref(), Some(&changed));
    assert_eq!(store.app(&app.id).await.expect("lookup"), Some(changed));
    assert_eq!(unknown, None);
    assert_eq!(store.apps().await.expect("apps").len(), 1, "nothing was created");
    // One entry: the change, with every field that changed; the save that changed nothing
    // and the unknown app wrote none.
    let query = AuditQuery { action: Some(AuditAction::SettingsChanged), limit: 10, ..AuditQuery::default() };
    let log = store.audit_events(&app.id, &query).await.expect("audit");
    let [entry] = log.as_slice() else { panic!("one settings change, got {log:?}") };
    assert_eq!((&entry.actor, entry.created_at), (&by, later));
    assert_eq!(
        entry.detail,
        Some(serde_json::json!({ "settings": {
            "name": "Acme Two", "app_url": "https://two.acme.example", "invitation_ttl_seconds": 3600,
            "invite_policy": "members", "is_signup_open": true, "sender_name": "Acme",
            "sender_email": "hello@acme.example", "cors_origins": ["https://admin.acme.example"],
            "allowed_email_domains": ["*.acme.example"], "blocked_email_domains": ["gmail.com", "*.rival.example"],
            "max_invites_per_day": 1, "reminder_before_expiry_hours": 2, "locale": "es"
        } }))
    );
}

pub async fn api_keys_lists_live_keys_oldest_first_when_one_is_revoked(store: &dyn Store) {
    let (app, first_key) = app_with_key(store).await;
    let first = store.api_key(&first_key.hash()).await.expect("lookup").expect("first key");
    let by = Actor::ApiKey(first.id.clone());
    let (second_key, third_key) = (ApiKey::generate(), ApiKey::generate());
    let second = NewApiKey { id: ApiKeyId::generate(), name: "second".into(), hash: second_key.hash() };
    let second = store.create_api_key(&app.id, second, &by, T0.plus(INTERVAL)).await.expect("second key");
    let third = NewApiKey { id: ApiKeyId::generate(), name: "third".into(), hash: third_key.hash() };
    let third = store.create_api_key(&app.id, third, &by, T0.plus(INTERVAL * 2)).await.expect("third key");

    let revoked = store.revoke_api_key(&app.id, &second.id, &by, T0.plus(INTERVAL * 3)).await.expect("revoke");
    let again = store.revoke_api_key(&app.id, &second.id, &by, T0.plus(INTERVAL * 3)).await.expect("revoke");
    let unknown = store.revoke_api_key(&app.id, &ApiKeyId::generate(), &by, T0).await.expect("revoke");

    assert_eq!((revoked, again, unknown), (KeyRevocation::Revoked, KeyRevocation::NotFound, KeyRevocation::NotFound));
    assert_eq!(store.api_keys(&app.id).await.expect("keys"), [first.clone(), third.clone()]);
    assert_eq!(store.api_key(&second_key.hash()).await.expect("lookup"), None, "a revoked key stops working");
    assert_eq!(store.api_key(&third_key.hash()).await.expect("lookup"), Some(third.clone()));
    assert_eq!(store.revoke_api_key(&app.id, &third.id, &by, T0).await.expect("revoke"), KeyRevocation::Revoked);
    assert_eq!(store.revoke_api_key(&app.id, &first.id, &by, T0).await.expect("revoke"), KeyRevocation::LastKey);
    let other = app_with_key(store).await.0;
    assert_eq!(store.revoke_api_key(&other.id, &first.id, &by, T0).await.expect("revoke"), KeyRevocation::NotFound);
}

pub async fn revoke_api_key_keeps_one_key_when_the_last_two_are_revoked_at_once(store: &dyn Store) {
    let (app, first_key) = app_with_key(store).await;
    let first = store.api_key(&first_key.hash()).await.expect("lookup").expect("first key");
    let by = Actor::ApiKey(first.id.clone());
    let second = NewApiKey { id: ApiKeyId::generate(), name: "second".into(), hash: ApiKey::generate().hash() };
    let second = store.create_api_key(&app.id, second, &by, T0).await.expect("second key");

    let outcomes = join_all([
        store.revoke_api_key(&app.id, &first.id, &by, T0),
        store.revoke_api_key(&app.id, &second.id, &by, T0),
    ])
    .await;

    let outcomes: Vec<KeyRevocation> = outcomes.into_iter().map(|outcome| outcome.expect("revoke")).collect();
    assert!(outcomes.contains(&KeyRevocation::Revoked) && outcomes.contains(&KeyRevocation::LastKey), "{outcomes:?}");
    assert_eq!(store.api_keys(&app.id).await.expect("keys").len(), 1);
}

pub async fn console_link_signs_in_once_before_it_expires_with_a_new_key(store: &dyn Store) {
    let app = app(store).await;
    let (fresh, stale) = (ConsoleLinkToken::generate(), ConsoleLinkToken::generate());
    store.create_console_link(&app.id, &fresh.hash(), T0, T0.plus(INTERVAL)).await.expect("link");
    store.create_console_link(&app.id, &stale.hash(), T0, T0.plus(INTERVAL)).await.expect("link");
    let key =
        || NewApiKey { id: ApiKeyId::generate(), name: "console sign-in link".into(), hash: ApiKey::generate().hash() };

    let signed_in = store.use_console_link(&fresh.hash(), key(), T0.plus(Duration::from_secs(1))).await.expect("use");
    let again = store.use_console_link(&fresh.hash(), key(), T0.plus(Duration::from_secs(2))).await.expect("use");
    let expired = store.use_console_link(&stale.hash(), key(), T0.plus(INTERVAL)).await.expect("use");
    let unknown = store.use_console_link(&ConsoleLinkToken::generate().hash(), key(), T0).await.expect("use");

    let ConsoleLinkUse::SignedIn(record) = signed_in else { panic!("expected SignedIn, got {signed_in:?}") };
    assert_eq!((record.app_id.clone(), record.name.as_str()), (app.id.clone(), "console sign-in link"));
    assert_eq!((again, expired, unknown), (ConsoleLinkUse::Used, ConsoleLinkUse::Expired, ConsoleLinkUse::Unknown));
    let keys = store.api_keys(&app.id).await.expect("keys");
    assert_eq!(keys.len(), 2, "the app's first key and the operator's: {keys:?}");
    assert!(keys.contains(&record));
    let audit = store.audit_events(&app.id, &AuditQuery { limit: 1, ..AuditQuery::default() }).await.expect("audit");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.clone()),
        (AuditAction::ApiKeyCreated.as_str(), Actor::ApiKey(record.id))
    );
}

pub async fn audit_events_lists_newest_first_and_pages_before_a_cursor(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite");
    store.invite(invite(&other, "eve@example.org", Role::User, T0)).await.expect("invite");
    let later = T0.plus(Duration::from_secs(1));
    store.invite(invite(&app, "bob@example.org", Role::User, later)).await.expect("invite");

    let newest = store.audit_events(&app.id, &AuditQuery { limit: 2, ..AuditQuery::default() }).await.expect("audit");
    let cursor = newest.last().map(|event| event.id);
    let rest = store
        .audit_events(&app.id, &AuditQuery { before: cursor, limit: 10, ..AuditQuery::default() })
        .await
        .expect("audit");

    let summary = |events: &[usher_core::model::AuditEvent]| -> Vec<(String, Option<String>)> {
        events.iter().map(|event| (event.action.clone(), event.subject_email.clone())).collect()
    };
    assert_eq!(
        summary(&newest),
        [
            ("invitation.created".to_owned(), Some("bob@example.org".to_owned())),
            ("invitation.created".to_owned(), Some("ada@example.org".to_owned())),
        ]
    );
    assert_eq!(summary(&rest), [("app.created".to_owned(), None)]);
    assert!(newest[0].id > newest[1].id && newest[1].id > rest[0].id);
    assert_eq!((newest[0].created_at, rest[0].created_at), (later, T0));
    assert!(newest[0].invitation_id.is_some());
}

pub async fn invite_batch_returns_one_outcome_per_command_in_order(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::User).await;
    let at = T0.plus(INTERVAL * 2);
    let cmds = vec![
        invite(&app, "bob@example.org", Role::Admin, at),
        invite(&app, "ada@example.org", Role::Admin, at),
        invite(&app, "bob@example.org", Role::User, at),
    ];
    let bob = cmds[0].invitation_id.clone();

    let records = store.invite_batch(cmds).await.expect("batch");

    let [Invited::Created(created), Invited::AlreadyMember(ada), Invited::Throttled { retry_after }] =
        records.as_slice()
    else {
        panic!("expected Created, AlreadyMember, Throttled, got {records:?}")
    };
    assert_eq!((created.id.clone(), created.role), (bob, Role::Admin));
    assert_eq!((ada.email.as_str(), ada.role), ("ada@example.org", Role::User));
    assert_eq!(*retry_after, INTERVAL);
    assert!(store.invite_batch(Vec::new()).await.expect("empty batch").is_empty());
}

pub async fn user_credentials_returns_the_password_hash_when_member_has_joined(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let cmd = invite(&app, "bob@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let AcceptOutcome::Joined { user: bob, .. } =
        store.accept_invitation(accept(&token, "Bob", T0.plus(INTERVAL))).await.expect("accept")
    else {
        panic!("expected Joined")
    };

    let found = store.user_credentials(&app.id, &email("ADA@example.org")).await.expect("credentials");
    let stranger = store.user_credentials(&app.id, &email("eve@example.org")).await.expect("credentials");

    let (user, hash) = found.expect("ada is a member");
    assert_eq!(user, ada);
    assert_eq!(hash.as_ref().map(PasswordHash::as_str), Some(JOIN_HASH));
    assert!(stranger.is_none());
    assert_eq!(store.users(&app.id).await.expect("users"), [ada, bob], "oldest first");
    assert!(store.users(&other.id).await.expect("users").is_empty());
    assert!(store.user_credentials(&other.id, &email("ada@example.org")).await.expect("credentials").is_none());
}

pub async fn update_user_changes_only_the_given_fields_when_patched(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let custom: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"plan": "pro", "seats": 3, "tags": ["a", "b"], "nested": {"x": null}}"#)
            .expect("a JSON object");
    let (t1, t2) = (T0.plus(INTERVAL), T0.plus(INTERVAL * 2));
    let first = UserPatch { full_name: Some("Ada L.".into()), custom: Some(custom.clone()), ..UserPatch::default() };
    let second = UserPatch { role: Some(Role::Admin), is_disabled: Some(true), ..UserPatch::default() };

    let MemberUpdate::Updated(named) = store.update_user(&app.id, &ada.id, first, t1).await.expect("update") else {
        panic!("expected Updated")
    };
    let MemberUpdate::Updated(promoted) = store.update_user(&app.id, &ada.id, second, t2).await.expect("update") else {
        panic!("expected Updated")
    };
    let unknown = store.update_user(&app.id, &UserId::generate(), UserPatch::default(), t2).await.expect("update");

    let expected_named = User { full_name: "Ada L.".into(), custom: custom.clone(), updated_at: t1, ..ada.clone() };
    assert_eq!(named, expected_named);
    let expected = User { role: Role::Admin, is_disabled: true, updated_at: t2, ..expected_named };
    assert_eq!(promoted, expected);
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup"), Some(expected));
    assert_eq!(unknown, MemberUpdate::NotFound);
}

pub async fn the_last_active_admin_is_neither_demoted_disabled_nor_removed(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::Admin).await;
    let bob = member(store, &app, "bob@example.org", Role::User).await;
    let demote = UserPatch { role: Some(Role::User), ..UserPatch::default() };
    let disable = UserPatch { is_disabled: Some(true), ..UserPatch::default() };
    let promote = UserPatch { role: Some(Role::Admin), ..UserPatch::default() };
    let at = T0.plus(INTERVAL);

    let demoted = store.update_user(&app.id, &ada.id, demote.clone(), at).await.expect("update");
    let disabled = store.update_user(&app.id, &ada.id, disable.clone(), at).await.expect("update");
    let removed = store.delete_user(&app.id, &ada.id, T0.plus(INTERVAL)).await.expect("delete");
    let plain_disabled = store.update_user(&app.id, &bob.id, disable.clone(), at).await.expect("update");

    assert_eq!(
        (demoted, disabled, removed),
        (MemberUpdate::LastAdmin, MemberUpdate::LastAdmin, MemberRemoval::LastAdmin)
    );
    assert!(matches!(plain_disabled, MemberUpdate::Updated(_)), "a plain member is not counted");
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup"), Some(ada.clone()), "nothing written");
    // A disabled admin does not count: enabling Bob as an admin makes Ada removable.
    let enable_as_admin = UserPatch { role: Some(Role::Admin), is_disabled: Some(false), ..UserPatch::default() };
    assert!(matches!(
        store.update_user(&app.id, &bob.id, promote, at).await.expect("update"),
        MemberUpdate::Updated(_)
    ));
    assert_eq!(store.delete_user(&app.id, &ada.id, T0.plus(INTERVAL)).await.expect("delete"), MemberRemoval::LastAdmin);
    assert!(matches!(
        store.update_user(&app.id, &bob.id, enable_as_admin, at).await.expect("update"),
        MemberUpdate::Updated(_)
    ));
    assert_eq!(store.delete_user(&app.id, &ada.id, T0.plus(INTERVAL)).await.expect("delete"), MemberRemoval::Removed);
    assert_eq!(store.update_user(&app.id, &bob.id, demote, at).await.expect("update"), MemberUpdate::LastAdmin);
}

pub async fn demoting_the_last_two_admins_at_once_keeps_one(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::Admin).await;
    let bob = member(store, &app, "bob@example.org", Role::Admin).await;
    let demote = UserPatch { role: Some(Role::User), ..UserPatch::default() };

    let outcomes = join_all([
        store.update_user(&app.id, &ada.id, demote.clone(), T0),
        store.update_user(&app.id, &bob.id, demote.clone(), T0),
    ])
    .await;

    let refused = outcomes.into_iter().filter(|outcome| matches!(outcome, Ok(MemberUpdate::LastAdmin))).count();
    assert_eq!(refused, 1);
    let admins = store.users(&app.id).await.expect("users").into_iter().filter(|u| u.role == Role::Admin).count();
    assert_eq!(admins, 1);
}

pub async fn set_password_replaces_the_hash_when_member_exists(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let new_hash = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into());
    let at = T0.plus(INTERVAL);

    let changed = store.set_password(&app.id, &ada.id, new_hash.clone(), at).await.expect("set");
    let unknown = store.set_password(&app.id, &UserId::generate(), new_hash.clone(), at).await.expect("set");

    let changed = changed.expect("the member");
    assert_eq!(unknown, None);
    let (user, hash) = store.user_credentials(&app.id, &ada.email).await.expect("credentials").expect("member");
    assert_eq!(hash, Some(new_hash));
    assert_eq!(user.updated_at, at);
    assert_eq!(changed, user);
}

pub async fn password_changes_move_the_session_epoch_on_when_set_or_reset(store: &dyn Store) {
    let app = app(store).await;
    let ada = member(store, &app, "ada@example.org", Role::User).await;
    let hash = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into());
    let at = T0.plus(INTERVAL);

    let changed = store.set_password(&app.id, &ada.id, hash.clone(), at).await.expect("set").expect("member");
    let request = reset_request(&app, "ada@example.org", at.plus(INTERVAL));
    let token = request.token.hash();
    store.request_password_reset(request).await.expect("request");
    let reset = store.reset_password(&app.id, &token, hash.clone(), at.plus(INTERVAL)).await.expect("reset");
    let renamed = UserPatch { full_name: Some("Ada".into()), ..UserPatch::default() };
    let updated = store.update_user(&app.id, &ada.id, renamed, at.plus(INTERVAL)).await.expect("update");

    assert_eq!(ada.session_epoch, 0);
    assert_eq!(changed.session_epoch, 1);
    let ResetOutcome::Done(reset) = reset else { panic!("expected Done, got {reset:?}") };
    assert_eq!(reset.session_epoch, 2);
    let MemberUpdate::Updated(updated) = updated else { panic!("expected Updated, got {updated:?}") };
    assert_eq!(updated.session_epoch, 2, "other changes leave sessions alone");
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup").expect("member").session_epoch, 2);
}

pub async fn delete_user_removes_the_member_and_keeps_the_invitation(store: &dyn Store) {
    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let AcceptOutcome::Joined { user: ada, .. } =
        store.accept_invitation(accept(&token, "Ada", T0)).await.expect("accept")
    else {
        panic!("expected Joined")
    };

    let deleted = store.delete_user(&app.id, &ada.id, T0.plus(INTERVAL)).await.expect("delete");
    let again = store.delete_user(&app.id, &ada.id, T0.plus(INTERVAL)).await.expect("delete");

    assert_eq!((deleted, again), (MemberRemoval::Removed, MemberRemoval::NotFound));
    assert_eq!(store.user(&app.id, &ada.id).await.expect("lookup"), None);
    let kept = store.invitation_by_token(&token).await.expect("lookup").expect("the invitation stays");
    assert_eq!(kept.invitation.status, InvitationStatus::Accepted);
    let reinvited = store.invite(invite(&app, "ada@example.org", Role::User, T0.plus(INTERVAL))).await.expect("invite");
    assert!(matches!(reinvited, Invited::Created(_)), "{reinvited:?}");
}

pub async fn invitation_is_found_only_in_its_own_app_when_looked_up(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    let Invited::Created(created) =
        store.invite(invite(&app, "ada@example.org", Role::User, T0)).await.expect("invite")
    else {
        panic!("expected Created")
    };

    let found = store.invitation(&app.id, &created.id).await.expect("lookup");
    let elsewhere = store.invitation(&other.id, &created.id).await.expect("lookup");
    let unknown = store.invitation(&app.id, &InvitationId::generate()).await.expect("lookup");

    assert_eq!(found, Some(created));
    assert_eq!((elsewhere, unknown), (None, None));
}

pub async fn list_invitations_filters_by_status_and_email_and_pages_after_a_cursor(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    let second = |n: u64| T0.plus(Duration::from_secs(n));
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for (n, to) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let mut cmd = invite(&app, &format!("{to}@example.org"), Role::User, second(n as u64));
        if to == "d" {
            cmd.expires_at = second(10);
        }
        ids.push(cmd.invitation_id.clone());
        tokens.push(cmd.token.hash());
        store.invite(cmd).await.expect("invite");
    }
    let twins: Vec<_> =
        ["e", "f"].into_iter().map(|to| invite(&app, &format!("{to}@example.org"), Role::User, second(4))).collect();
    let mut twin_ids: Vec<InvitationId> = twins.iter().map(|cmd| cmd.invitation_id.clone()).collect();
    twin_ids.sort();
    for cmd in twins {
        store.invite(cmd).await.expect("invite");
    }
    store.invite(invite(&other, "a@example.org", Role::User, T0)).await.expect("invite elsewhere");
    let by = Actor::ApiKey(ApiKeyId::generate());
    store.revoke_invitation(&app.id, &ids[1], &by, second(5)).await.expect("revoke").expect("b exists");
    store.accept_invitation(accept(&tokens[2], "C", second(5))).await.expect("accept");
    let now = second(20);
    let app_id = &app.id;
    let list = |status: Option<InvitationStatus>, to: Option<&str>, after: Option<(Timestamp, InvitationId)>, limit| {
        let query =
            InvitationQuery { status, email: to.map(email), after, limit, delivery: None, opened_by_person: None };
        async move {
            let found = store.list_invitations(app_id, query, now).await.expect("list");
            found.into_iter().map(|invitation| invitation.id).collect::<Vec<_>>()
        }
    };

    let all = list(None, None, None, 10).await;
    let pending = list(Some(InvitationStatus::Pending), None, None, 10).await;
    let expired = list(Some(InvitationStatus::Expired), None, None, 10).await;
    let revoked = list(Some(InvitationStatus::Revoked), None, None, 10).await;
    let accepted = list(Some(InvitationStatus::Accepted), None, None, 10).await;
    let by_email = list(None, Some("C@example.org"), None, 10).await;
    let first_page = list(None, None, None, 2).await;
    let second_page = list(None, None, Some((second(1), ids[1].clone())), 2).await;
    let after_first_twin = list(None, None, Some((second(4), twin_ids[0].clone())), 10).await;

    let expected_all: Vec<InvitationId> = ids.iter().cloned().chain(twin_ids.iter().cloned()).collect();
    assert_eq!(all, expected_all, "oldest first, then by id");
    assert_eq!(pending, [ids[0].clone(), twin_ids[0].clone(), twin_ids[1].clone()]);
    assert_eq!(expired, [ids[3].clone()]);
    assert_eq!(revoked, [ids[1].clone()]);
    assert_eq!(accepted, [ids[2].clone()]);
    assert_eq!(by_email, [ids[2].clone()]);
    assert_eq!(first_page, ids[..2]);
    assert_eq!(second_page, ids[2..4]);
    assert_eq!(after_first_twin, [twin_ids[1].clone()]);
}

/// The pending list reads an index of the invitations whose expiry is not announced yet; an
/// announced invitation re-sent with a new expiry is pending again, and one past its expiry but
/// not announced yet is expired, not pending.
pub async fn the_pending_list_follows_expiry_announcements_and_re_sends(store: &dyn Store) {
    let app = app(store).await;
    let early = invite(&app, "ada@example.org", Role::User, T0);
    let late = invite(&app, "bob@example.org", Role::User, T0.plus(TTL));
    let (early_id, late_id) = (early.invitation_id.clone(), late.invitation_id.clone());
    store.invite(early).await.expect("invite");
    store.invite(late).await.expect("invite");
    let app_id = &app.id;
    let list = |status, now| async move {
        let query = InvitationQuery {
            status: Some(status),
            email: None,
            after: None,
            limit: 10,
            delivery: None,
            opened_by_person: None,
        };
        let found = store.list_invitations(app_id, query, now).await.expect("list");
        found.into_iter().map(|invitation| invitation.id).collect::<Vec<_>>()
    };
    let first_expiry = T0.plus(TTL);

    let unannounced =
        (list(InvitationStatus::Pending, first_expiry).await, list(InvitationStatus::Expired, first_expiry).await);
    assert_eq!(store.announce_expired_invitations(first_expiry, 10).await.expect("sweep"), 1);
    let announced =
        (list(InvitationStatus::Pending, first_expiry).await, list(InvitationStatus::Expired, first_expiry).await);
    let resent_at = first_expiry.plus(INTERVAL);
    store.invite(invite(&app, "ada@example.org", Role::User, resent_at)).await.expect("re-send after expiry");
    let resent = list(InvitationStatus::Pending, resent_at).await;

    assert_eq!(unannounced, (vec![late_id.clone()], vec![early_id.clone()]), "expired before the sweep marks it");
    assert_eq!(announced, (vec![late_id.clone()], vec![early_id.clone()]));
    assert_eq!(resent, [early_id, late_id], "a re-sent link makes it pending again, in list order");
}

pub async fn audit_events_filter_by_action_actor_and_invitation(store: &dyn Store) {
    let app = app(store).await;
    let (ada, bob) = (invite(&app, "ada@example.org", Role::User, T0), invite(&app, "bob@example.org", Role::User, T0));
    let ada_id = ada.invitation_id.clone();
    store.invite(ada).await.expect("invite");
    store.invite(bob).await.expect("invite");
    let by = Actor::User(UserId::generate());
    store.revoke_invitation(&app.id, &ada_id, &by, T0.plus(INTERVAL)).await.expect("revoke");
    let app_id = &app.id;
    let find = |query: AuditQuery| async move {
        let events = store.audit_events(app_id, &AuditQuery { limit: 10, ..query }).await.expect("audit");
        events.into_iter().map(|event| (event.action, event.subject_email.unwrap_or_default())).collect::<Vec<_>>()
    };
    let pair = |action: &str, email: &str| (action.to_owned(), email.to_owned());

    let created = find(AuditQuery { action: Some(AuditAction::InvitationCreated), ..AuditQuery::default() }).await;
    let by_member = find(AuditQuery { actor: Some(by.clone()), ..AuditQuery::default() }).await;
    let of_ada = find(AuditQuery { invitation_id: Some(ada_id.clone()), ..AuditQuery::default() }).await;
    let none = find(AuditQuery {
        action: Some(AuditAction::InvitationRevoked),
        actor: Some(Actor::User(UserId::generate())),
        ..AuditQuery::default()
    })
    .await;

    let (ada_created, bob_created) =
        (pair("invitation.created", "ada@example.org"), pair("invitation.created", "bob@example.org"));
    assert_eq!(created, [bob_created, ada_created.clone()], "newest first");
    assert_eq!(by_member, [pair("invitation.revoked", "ada@example.org")]);
    assert_eq!(of_ada, [pair("invitation.revoked", "ada@example.org"), ada_created]);
    assert!(none.is_empty());
}

pub async fn list_invitations_filters_by_the_delivery_state_of_the_latest_email(store: &dyn Store) {
    let app = app(store).await;
    let bob = invite(&app, "bob@example.org", Role::User, T0);
    let bob_id = bob.invitation_id.clone();
    store.invite(bob).await.expect("invite");
    // Revoked before it was sent: its email is cancelled.
    store.revoke_invitation(&app.id, &bob_id, &Actor::ApiKey(ApiKeyId::generate()), T0).await.expect("revoke");
    for to in ["ada@example.org", "cy@example.org"] {
        store.invite(invite(&app, to, Role::User, T0)).await.expect("invite");
    }
    let ada = claim(store, T0, 10).await.into_iter().find(|message| message.to.as_str() == "ada@example.org");
    store.mark_sent(&[sent(&ada.expect("ada's email").id)], T0).await.expect("sent");
    let app_id = &app.id;
    let emails = |delivery| async move {
        let query = InvitationQuery { delivery: Some(delivery), limit: 10, ..InvitationQuery::default() };
        let found = store.list_invitations(app_id, query, T0).await.expect("list");
        found.into_iter().map(|i| i.email.as_str().to_owned()).collect::<Vec<_>>()
    };

    assert_eq!(emails(DeliveryStatus::Sent).await, ["ada@example.org"]);
    assert_eq!(emails(DeliveryStatus::Failed).await, ["bob@example.org"], "a cancelled email counts as failed");
    assert_eq!(emails(DeliveryStatus::Queued).await, ["cy@example.org"], "claimed and in flight counts as queued");
    let mut again = invite(&app, "ada@example.org", Role::User, T0.plus(INTERVAL));
    again.resend_interval = Duration::ZERO;
    store.invite(again).await.expect("re-send");
    assert_eq!(emails(DeliveryStatus::Sent).await, Vec::<String>::new(), "a re-send's new email is the latest");
    assert_eq!(emails(DeliveryStatus::Queued).await, ["ada@example.org", "cy@example.org"]);
}

pub async fn revoke_invitation_cancels_its_email_when_invitation_is_pending(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let (id, token) = (cmd.invitation_id.clone(), cmd.token.hash());
    store.invite(cmd).await.expect("invite");
    let by = Actor::ApiKey(ApiKeyId::generate());
    let at = T0.plus(Duration::from_secs(5));

    let revoked = store.revoke_invitation(&app.id, &id, &by, at).await.expect("revoke").expect("invitation exists");
    let again = store.revoke_invitation(&app.id, &id, &by, at.plus(INTERVAL)).await.expect("revoke");
    let elsewhere = store.revoke_invitation(&other.id, &id, &by, at).await.expect("revoke");

    assert_eq!((revoked.status, revoked.updated_at), (InvitationStatus::Revoked, at));
    assert_eq!(revoked.delivery.status, DeliveryStatus::Failed, "its unsent email is cancelled");
    assert_eq!(again, Some(revoked.clone()), "a second revocation changes nothing");
    assert_eq!(elsewhere, None);
    let lookup = store.invitation_by_token(&token).await.expect("lookup").expect("token is kept");
    assert_eq!(lookup.state_at(at), LinkState::Revoked);
    assert!(claim(store, at, 10).await.is_empty());
    let audit = store.audit_events(&app.id, &AuditQuery { limit: 1, ..AuditQuery::default() }).await.expect("audit");
    assert_eq!((audit[0].action.as_str(), audit[0].actor.clone()), ("invitation.revoked", by));
}

/// A password reset request for `to` in `app` at `now`, valid for an hour.
fn reset_request(app: &App, to: &str, now: Timestamp) -> ResetRequest {
    ResetRequest {
        app_id: app.id.clone(),
        email: email(to),
        token: ResetToken::generate(),
        message_id: MessageId::generate(),
        expires_at: now.plus(Duration::from_secs(3600)),
        resend_interval: INTERVAL,
        now,
    }
}

/// Everything due at `now`, claimed.
async fn claim_all(store: &dyn Store, now: Timestamp) -> Vec<OutboxMessage> {
    claim(store, now, 100).await
}

pub async fn request_password_reset_queues_a_link_when_address_is_a_member(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::Admin).await;
    let t1 = T0.plus(INTERVAL * 2);
    drain(store, t1).await;
    let request = reset_request(&app, "ADA@example.org", t1);
    let token = request.token.hash();
    let repeated = reset_request(&app, "ada@example.org", t1.plus(Duration::from_secs(10)));
    let repeated_token = repeated.token.hash();

    store.request_password_reset(request).await.expect("request");
    store.request_password_reset(repeated).await.expect("request within the interval");
    store.request_password_reset(reset_request(&app, "eve@example.org", t1)).await.expect("request for a stranger");

    let queued = claim_all(store, t1.plus(Duration::from_secs(10))).await;
    let [message] = queued.as_slice() else { panic!("expected one reset email, got {queued:?}") };
    assert_eq!(
        (message.kind, message.to.as_str(), message.role),
        (MailKind::PasswordReset, "ada@example.org", Role::Admin)
    );
    let link = message.reset.as_ref().expect("a reset email carries its link");
    assert_eq!((link.token.hash(), link.expires_at), (token, t1.plus(Duration::from_secs(3600))));
    let password = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$cmVz$cmVz".into());
    let unused = store.reset_password(&app.id, &repeated_token, password, t1).await.expect("reset");
    assert!(matches!(unused, ResetOutcome::Refused(LinkState::Unknown)), "a throttled request stores no link");
}

pub async fn reset_password_sets_the_password_once_when_link_is_valid(store: &dyn Store) {
    let app = app(store).await;
    let other = app_with_key(store).await.0;
    member(store, &app, "ada@example.org", Role::User).await;
    let (t1, t2) = (T0.plus(INTERVAL * 2), T0.plus(INTERVAL * 4));
    let older = reset_request(&app, "ada@example.org", t1);
    let newer = reset_request(&app, "ada@example.org", t2);
    let (older_token, newer_token) = (older.token.hash(), newer.token.hash());
    store.request_password_reset(older).await.expect("request");
    store.request_password_reset(newer).await.expect("request");
    let password = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$cmVz$cmVz".into());
    let at = t2.plus(Duration::from_secs(60));

    let elsewhere = store.reset_password(&other.id, &newer_token, password.clone(), at).await.expect("reset");
    let done = store.reset_password(&app.id, &newer_token, password.clone(), at).await.expect("reset");
    let reused = store.reset_password(&app.id, &newer_token, password.clone(), at).await.expect("reset");
    let sibling = store.reset_password(&app.id, &older_token, password.clone(), at).await.expect("reset");

    assert!(matches!(elsewhere, ResetOutcome::Refused(LinkState::Unknown)), "{elsewhere:?}");
    let ResetOutcome::Done(user) = done else { panic!("expected Done, got {done:?}") };
    assert_eq!((user.email.as_str(), user.updated_at, user.is_verified), ("ada@example.org", at, true));
    assert!(matches!(reused, ResetOutcome::Refused(LinkState::Used)), "{reused:?}");
    assert!(matches!(sibling, ResetOutcome::Refused(LinkState::Used)), "one reset uses up every link: {sibling:?}");
    let (_, hash) = store.user_credentials(&app.id, &user.email).await.expect("credentials").expect("member");
    assert_eq!(hash, Some(password.clone()));
    let t3 = at.plus(INTERVAL * 2);
    let late = reset_request(&app, "ada@example.org", t3);
    let late_token = late.token.hash();
    store.request_password_reset(late).await.expect("request");
    let expired = store.reset_password(&app.id, &late_token, password, t3.plus(Duration::from_secs(3600))).await;
    assert!(matches!(expired, Ok(ResetOutcome::Refused(LinkState::Expired))), "{expired:?}");
}

/// The key sign-up codes are hashed with in these cases.
fn code_key() -> CodeKey {
    CodeKey::derive(b"the conformance suite's server secret")
}

/// A sign-up of `to` in `app` at `now` with a fresh code, valid for ten minutes.
fn signup(app: &App, to: &str, now: Timestamp) -> (SignupCommand, OneTimeCode) {
    let code = OneTimeCode::generate();
    let cmd = SignupCommand {
        app_id: app.id.clone(),
        email: email(to),
        password_hash: Some(PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2ln$c2ln".into())),
        code_hash: code.hash(&code_key(), &app.id, &email(to)),
        code: code.clone(),
        message_id: MessageId::generate(),
        expires_at: now.plus(Duration::from_secs(600)),
        is_invitation_only: false,
        resend_interval: INTERVAL,
        now,
    };
    (cmd, code)
}

/// A check of `code` for `to`'s sign-up in `app` at `now`.
fn verify(app: &App, to: &str, code: &OneTimeCode, now: Timestamp) -> VerifyCommand {
    let to: EmailAddress = email(to);
    VerifyCommand {
        app_id: app.id.clone(),
        code_hash: code.hash(&code_key(), &app.id, &to),
        email: to,
        user_id: UserId::generate(),
        max_attempts: 3,
        now,
    }
}

pub async fn verify_signup_creates_the_member_when_code_is_right(store: &dyn Store) {
    let app = app(store).await;
    let (cmd, code) = signup(&app, "ada@example.org", T0);
    let wrong = OneTimeCode::parse(if code.expose() == "000000" { "111111" } else { "000000" }).expect("six digits");

    let sent = store.send_signup_code(cmd).await.expect("send");
    let queued = claim_all(store, T0).await;
    let miss = store.verify_signup(verify(&app, "ada@example.org", &wrong, T0)).await.expect("verify");
    let check = verify(&app, "ada@example.org", &code, T0.plus(Duration::from_secs(30)));
    let user_id = check.user_id.clone();
    let joined = store.verify_signup(check).await.expect("verify");
    let again = store.verify_signup(verify(&app, "ada@example.org", &code, T0)).await.expect("verify");

    assert_eq!(sent, SignupOutcome::CodeSent);
    let [message] = queued.as_slice() else { panic!("expected one code email, got {queued:?}") };
    assert_eq!((message.kind, message.role), (MailKind::SignupCode, Role::User));
    assert_eq!(message.code.as_ref().map(|c| c.code.expose().to_owned()), Some(code.expose().to_owned()));
    assert!(matches!(miss, VerifyOutcome::WrongCode), "{miss:?}");
    let VerifyOutcome::Joined(user) = joined else { panic!("expected Joined, got {joined:?}") };
    assert_eq!((user.id.clone(), user.role, user.is_verified), (user_id, Role::User, true));
    assert_eq!(user.created_at, T0.plus(Duration::from_secs(30)));
    let (_, hash) = store.user_credentials(&app.id, &user.email).await.expect("credentials").expect("member");
    assert_eq!(hash.as_ref().map(PasswordHash::as_str), Some("$argon2id$v=19$m=19456,t=2,p=1$c2ln$c2ln"));
    assert!(matches!(again, VerifyOutcome::NoSignup), "the sign-up is over: {again:?}");
}

pub async fn verify_signup_refuses_when_code_expired_or_guessed_too_often(store: &dyn Store) {
    let app = app(store).await;
    let (cmd, code) = signup(&app, "ada@example.org", T0);
    store.send_signup_code(cmd).await.expect("send");
    let (cmd, bob_code) = signup(&app, "bob@example.org", T0);
    store.send_signup_code(cmd).await.expect("send");
    let wrong = OneTimeCode::parse(if code.expose() == "000000" { "111111" } else { "000000" }).expect("six digits");

    let mut misses = Vec::new();
    for _ in 0..3 {
        misses.push(store.verify_signup(verify(&app, "ada@example.org", &wrong, T0)).await.expect("verify"));
    }
    let blocked = store.verify_signup(verify(&app, "ada@example.org", &code, T0)).await.expect("verify");
    let expired =
        store.verify_signup(verify(&app, "bob@example.org", &bob_code, T0.plus(Duration::from_secs(600)))).await;
    let unknown = store.verify_signup(verify(&app, "eve@example.org", &code, T0)).await.expect("verify");

    assert!(misses.iter().all(|miss| matches!(miss, VerifyOutcome::WrongCode)), "{misses:?}");
    assert!(matches!(blocked, VerifyOutcome::TooManyAttempts), "{blocked:?}");
    assert!(matches!(expired, Ok(VerifyOutcome::Expired)), "{expired:?}");
    assert!(matches!(unknown, VerifyOutcome::NoSignup), "{unknown:?}");
    assert!(store.users(&app.id).await.expect("users").is_empty());
}

pub async fn send_signup_code_follows_invitation_only_and_membership_when_asked(store: &dyn Store) {
    let app = app(store).await;
    member(store, &app, "ada@example.org", Role::User).await;
    let cmd = invite(&app, "bob@example.org", Role::Admin, T0);
    let bob_token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    let t1 = T0.plus(INTERVAL * 2);
    drain(store, t1).await;
    let only = |to: &str, now| {
        let (mut cmd, code) = signup(&app, to, now);
        cmd.is_invitation_only = true;
        (cmd, code)
    };

    let stranger = store.send_signup_code(only("eve@example.org", t1).0).await.expect("send");
    let (bob_cmd, bob_code) = only("bob@example.org", t1);
    let invited = store.send_signup_code(bob_cmd).await.expect("send");
    let member = store.send_signup_code(signup(&app, "ada@example.org", t1).0).await.expect("send");
    let member_again = store.send_signup_code(signup(&app, "ada@example.org", t1).0).await.expect("send");
    let queued = claim_all(store, t1).await;
    let joined = store.verify_signup(verify(&app, "bob@example.org", &bob_code, t1)).await.expect("verify");

    assert_eq!((stranger, invited), (SignupOutcome::NotInvited, SignupOutcome::CodeSent));
    assert_eq!((member, member_again), (SignupOutcome::AlreadyMember, SignupOutcome::AlreadyMember));
    let mut kinds: Vec<(String, MailKind, Role)> =
        queued.iter().map(|m| (m.to.as_str().to_owned(), m.kind, m.role)).collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("ada@example.org".to_owned(), MailKind::AccountExists, Role::User),
            ("bob@example.org".to_owned(), MailKind::SignupCode, Role::Admin),
        ],
        "one account-exists note within the interval; the code carries the invitation's role"
    );
    let VerifyOutcome::Joined(bob) = joined else { panic!("expected Joined, got {joined:?}") };
    assert_eq!(bob.role, Role::Admin);
    let lookup = store.invitation_by_token(&bob_token).await.expect("lookup").expect("token is kept");
    assert_eq!(lookup.invitation.status, InvitationStatus::Accepted);
}

pub async fn send_signup_code_replaces_the_code_when_resent_after_the_interval(store: &dyn Store) {
    let app = app(store).await;
    let (cmd, first_code) = signup(&app, "ada@example.org", T0);
    store.send_signup_code(cmd).await.expect("send");
    let (mut soon, _) = signup(&app, "ada@example.org", T0.plus(Duration::from_secs(10)));
    soon.password_hash = None;
    let later = T0.plus(INTERVAL);
    let (mut resend, second_code) = signup(&app, "ada@example.org", later);
    resend.password_hash = None;
    let (mut nobody, _) = signup(&app, "eve@example.org", later);
    nobody.password_hash = None;

    let throttled = store.send_signup_code(soon).await.expect("send");
    let resent = store.send_signup_code(resend).await.expect("send");
    let nothing = store.send_signup_code(nobody).await.expect("send");
    let queued = claim_all(store, later).await;
    let old = store.verify_signup(verify(&app, "ada@example.org", &first_code, later)).await.expect("verify");
    let new = store.verify_signup(verify(&app, "ada@example.org", &second_code, later)).await.expect("verify");

    assert_eq!(
        (throttled, resent, nothing),
        (SignupOutcome::CodeSent, SignupOutcome::CodeSent, SignupOutcome::CodeSent)
    );
    let codes: Vec<String> =
        queued.iter().filter_map(|m| m.code.as_ref()).map(|c| c.code.expose().to_owned()).collect();
    assert_eq!(
        codes,
        [first_code.expose().to_owned(), second_code.expose().to_owned()],
        "no email for the throttled or unknown"
    );
    if first_code.expose() != second_code.expose() {
        assert!(matches!(old, VerifyOutcome::Replaced), "the old code stops working: {old:?}");
    }
    assert!(matches!(new, VerifyOutcome::Joined(_)), "{new:?}");
}

pub async fn send_signup_code_replaces_an_earlier_registration_when_registered_again_at_once(store: &dyn Store) {
    let app = app(store).await;
    let (attacker, attacker_code) = signup(&app, "ada@example.org", T0);
    let (mut owner, owner_code) = signup(&app, "ada@example.org", T0.plus(Duration::from_secs(2)));
    let owners_password = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$b3du$b3du".into());
    owner.password_hash = Some(owners_password.clone());
    let at = T0.plus(Duration::from_secs(30));

    let first = store.send_signup_code(attacker).await.expect("send");
    let second = store.send_signup_code(owner).await.expect("send");
    let queued = claim_all(store, at).await;
    let replaced = store.verify_signup(verify(&app, "ada@example.org", &attacker_code, at)).await.expect("verify");
    let joined = store.verify_signup(verify(&app, "ada@example.org", &owner_code, at)).await.expect("verify");

    assert_eq!((first, second), (SignupOutcome::CodeSent, SignupOutcome::CodeSent));
    let codes: Vec<String> =
        queued.iter().filter_map(|m| m.code.as_ref()).map(|c| c.code.expose().to_owned()).collect();
    assert_eq!(codes, [attacker_code.expose().to_owned(), owner_code.expose().to_owned()], "a fresh code at once");
    if attacker_code.expose() != owner_code.expose() {
        assert!(matches!(replaced, VerifyOutcome::Replaced), "the earlier code is void: {replaced:?}");
    }
    let VerifyOutcome::Joined(user) = joined else { panic!("expected Joined, got {joined:?}") };
    let (_, hash) = store.user_credentials(&app.id, &user.email).await.expect("credentials").expect("member");
    assert_eq!(hash, Some(owners_password), "the password of the registration whose code was entered");
}

/// Domain patterns for settings.
fn domains(list: &[&str]) -> Vec<usher_core::rules::domains::DomainPattern> {
    list.iter().map(|p| usher_core::rules::domains::DomainPattern::parse(p).expect("valid pattern")).collect()
}

pub async fn record_link_open_counts_opens_and_changes_nothing_else(store: &dyn Store) {
    use usher_core::rules::opens::LinkRequest;
    use usher_core::store::LinkOpenCommand;

    let app = app(store).await;
    let cmd = invite(&app, "ada@example.org", Role::User, T0);
    let token = cmd.token.hash();
    store.invite(cmd).await.expect("invite");
    drain(store, T0).await;
    let before = store.invitation_by_token(&token).await.expect("lookup").expect("known").invitation;
    let later = T0.plus(Duration::from_secs(60));
    let open = |request, user_agent: Option<&str>, at| LinkOpenCommand {
        app_id: app.id.clone(),
        token_hash: token.clone(),
        request,
        user_agent: user_agent.map(str::to_owned),
        at,
    };

    store.record_link_open(open(LinkRequest::PageView, None, T0)).await.expect("right after delivery");
    store.record_link_open(open(LinkRequest::Head, None, later)).await.expect("HEAD");
    store.record_link_open(open(LinkRequest::PageView, Some("Firefox"), later)).await.expect("a view");
    let beacon_at = later.plus(Duration::from_secs(1));
    store.record_link_open(open(LinkRequest::Beacon, Some("Firefox"), beacon_at)).await.expect("its beacon");
    let mut elsewhere = open(LinkRequest::Head, None, later);
    elsewhere.app_id = app_with_key(store).await.0.id;
    store.record_link_open(elsewhere).await.expect("under another app");

    let after = store.invitation_by_token(&token).await.expect("lookup").expect("known").invitation;
    assert_eq!(after.opens.scanner_opens(), 2);
    assert_eq!(after.opens.opened_by_person_at, Some(beacon_at));
    assert_eq!(after.opens.last_opened_at, Some(later));
    assert_eq!(Invitation { opens: before.opens.clone(), ..after.clone() }, before, "only the opens changed");
    let opened = InvitationQuery { opened_by_person: Some(true), limit: 10, ..InvitationQuery::default() };
    assert_eq!(store.list_invitations(&app.id, opened, later).await.expect("list").len(), 1);
    let unopened = InvitationQuery { opened_by_person: Some(false), limit: 10, ..InvitationQuery::default() };
    assert!(store.list_invitations(&app.id, unopened, later).await.expect("list").is_empty());
}
