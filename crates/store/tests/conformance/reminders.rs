//! Reminders before expiry (`usher_core::rules::reminders`) on each backend: an invite of an
//! app with reminders queues one with the same link, due the app's hours before expiry; the
//! outbox claim hands it out once, when due, and only while the invitation is pending with
//! that link and reminders are on; several claimers at once get each reminder once; the
//! invitation shows when it is due and when it was sent.

use std::collections::HashSet;
use std::time::Duration;

use usher_core::model::{Actor, App, AppSettings, Invitation, MailKind, MailTemplate, OutboxMessage};
use usher_core::secret::ApiKey;
use usher_core::store::{AcceptOutcome, InviteCommand, Invited, LinkReminder, NewApp};
use usher_core::{ApiKeyId, InstanceId, Locale, MessageId, Role, Store, Timestamp};

use crate::cases::accept;
use crate::support::{T0, TTL, invite, join_all, new_app, operator, sent};

on_both_backends!(
    a_reminder_is_queued_with_the_same_link_and_claimed_once_when_it_falls_due,
    a_due_reminder_is_cancelled_when_accepted_revoked_re_sent_or_switched_off,
    claimers_at_once_get_each_due_reminder_once,
    a_reminder_is_claimed_in_its_invitations_locale_with_the_apps_own_template,
);

/// Reminders a day before expiry.
const HOURS: u32 = 24;

/// When the reminder of a link issued at `issued` falls due.
fn due(issued: Timestamp) -> Timestamp {
    issued.plus(TTL).minus(Duration::from_secs(u64::from(HOURS) * 3600))
}

/// An app with reminders `HOURS` before expiry.
async fn app_with_reminders(store: &dyn Store) -> App {
    let new = NewApp {
        settings: AppSettings { reminder_before_expiry_hours: Some(HOURS), ..AppSettings::default() },
        ..new_app(&ApiKey::generate())
    };
    store.create_app(new).await.expect("app")
}

/// An invite of `to` at `now` into `app`, with the app's reminders.
fn invite_reminded(app: &App, to: &str, now: Timestamp) -> InviteCommand {
    let cmd = invite(app, to, Role::User, now);
    InviteCommand {
        reminder: LinkReminder::when_due(app.settings.reminder_before_expiry_hours, cmd.expires_at, now),
        ..cmd
    }
}

/// The id of the reminder `cmd` queues.
fn reminder_id(cmd: &InviteCommand) -> MessageId {
    cmd.reminder.as_ref().expect("a reminder is due").message_id.clone()
}

/// Claims what is due at `now` for a newly registered instance.
async fn claim(store: &dyn Store, now: Timestamp) -> Vec<OutboxMessage> {
    let id = InstanceId::generate();
    store.register_instance(&id, now).await.expect("register");
    store.claim_outbox(&id, now, 100).await.expect("claim")
}

/// Claims and sends everything due at `now`.
async fn send_due(store: &dyn Store, now: Timestamp) -> Vec<OutboxMessage> {
    let claimed = claim(store, now).await;
    let sent_now: Vec<_> = claimed.iter().map(|m| sent(&m.id)).collect();
    store.mark_sent(&sent_now, now).await.expect("mark sent");
    claimed
}

async fn shown(store: &dyn Store, invitation: &Invitation) -> Invitation {
    store.invitation(&invitation.app_id, &invitation.id).await.expect("read").expect("found")
}

fn created(invited: Invited) -> Invitation {
    match invited {
        Invited::Created(invitation) | Invited::Resent(invitation) => invitation,
        other => panic!("expected an invitation, got {other:?}"),
    }
}

pub async fn a_reminder_is_queued_with_the_same_link_and_claimed_once_when_it_falls_due(store: &dyn Store) {
    let app = app_with_reminders(store).await;
    let cmd = invite_reminded(&app, "ada@example.org", T0);
    let (token, reminder_id) = (cmd.token.hash(), reminder_id(&cmd));
    let invitation = created(store.invite(cmd).await.expect("invite"));
    assert_eq!((invitation.reminder.due_at, invitation.reminder.reminded_at), (Some(due(T0)), None));
    assert_eq!(shown(store, &invitation).await.reminder, invitation.reminder, "read back as answered");

    let now = send_due(store, T0).await;
    let [email] = now.as_slice() else { panic!("only the invitation email is due at once: {now:?}") };
    assert_eq!(email.kind, MailKind::Invitation);
    assert!(claim(store, due(T0).minus(Duration::from_millis(1))).await.is_empty(), "not before it is due");

    let reminders = claim(store, due(T0)).await;
    let [reminder] = reminders.as_slice() else { panic!("one reminder: {reminders:?}") };
    assert_eq!((reminder.id.clone(), reminder.kind, reminder.created_at), (reminder_id, MailKind::Reminder, due(T0)));
    let link = reminder.invitation.as_ref().expect("a reminder carries the link");
    assert_eq!((link.token.hash(), link.expires_at), (token, T0.plus(TTL)), "the same link");
    assert!(claim(store, due(T0)).await.is_empty(), "claimed once");
    store.mark_sent(&[sent(&reminder.id)], due(T0)).await.expect("sent");

    let after = shown(store, &invitation).await;
    assert_eq!((after.reminder.due_at, after.reminder.reminded_at), (None, Some(due(T0))));
    assert!(claim(store, T0.plus(TTL)).await.is_empty(), "one reminder per link");
}

pub async fn a_due_reminder_is_cancelled_when_accepted_revoked_re_sent_or_switched_off(store: &dyn Store) {
    let app = app_with_reminders(store).await;
    let accepted = invite_reminded(&app, "accepted@example.org", T0);
    let accepted_token = accepted.token.hash();
    let accepted = created(store.invite(accepted).await.expect("invite"));
    let revoked = created(store.invite(invite_reminded(&app, "revoked@example.org", T0)).await.expect("invite"));
    created(store.invite(invite_reminded(&app, "resent@example.org", T0)).await.expect("invite"));
    let kept = created(store.invite(invite_reminded(&app, "kept@example.org", T0)).await.expect("invite"));
    let switched = app_with_reminders(store).await;
    let off = created(store.invite(invite_reminded(&switched, "off@example.org", T0)).await.expect("invite"));
    send_due(store, T0).await;

    let joined = store.accept_invitation(accept(&accepted_token, "Acc", T0)).await.expect("accept");
    assert!(matches!(joined, AcceptOutcome::Joined { .. }), "{joined:?}");
    let by = Actor::ApiKey(ApiKeyId::generate());
    store.revoke_invitation(&app.id, &revoked.id, &by, T0).await.expect("revoke").expect("found");
    let an_hour = T0.plus(Duration::from_secs(3600));
    let resent = created(store.invite(invite_reminded(&app, "resent@example.org", an_hour)).await.expect("re-send"));
    assert_eq!(resent.reminder.due_at, Some(due(an_hour)), "the new link's own reminder");
    let mut settings = switched.settings.clone();
    settings.reminder_before_expiry_hours = None;
    store.update_app(&App { settings, ..switched.clone() }, &operator(), T0).await.expect("update").expect("found");
    send_due(store, an_hour).await;

    let reminders = send_due(store, due(T0)).await;
    let to: Vec<&str> = reminders.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["kept@example.org"], "only the pending, current, switched-on link");
    for cancelled in [&accepted, &revoked, &off] {
        let after = shown(store, cancelled).await;
        assert_eq!((after.reminder.due_at, after.reminder.reminded_at), (None, None), "{}", after.email);
    }
    assert_eq!(shown(store, &kept).await.reminder.reminded_at, Some(due(T0)));

    let later = send_due(store, due(an_hour)).await;
    let [reminder] = later.as_slice() else { panic!("the re-sent link's reminder: {later:?}") };
    assert_eq!((reminder.to.as_str(), reminder.kind), ("resent@example.org", MailKind::Reminder));
    assert_eq!(reminder.invitation.as_ref().map(|link| link.expires_at), Some(an_hour.plus(TTL)));
}

pub async fn claimers_at_once_get_each_due_reminder_once(store: &dyn Store) {
    let app = app_with_reminders(store).await;
    let addresses: Vec<String> = (0..12).map(|n| format!("r{n}@example.org")).collect();
    for address in &addresses {
        store.invite(invite_reminded(&app, address, T0)).await.expect("invite");
    }
    send_due(store, T0).await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        let id = InstanceId::generate();
        store.register_instance(&id, due(T0)).await.expect("register");
        instances.push(id);
    }

    let claims = join_all(instances.iter().map(|id| store.claim_outbox(id, due(T0), 100))).await;

    let claimed: Vec<OutboxMessage> = claims.into_iter().flat_map(|claim| claim.expect("claim")).collect();
    let distinct: HashSet<&str> = claimed.iter().map(|m| m.to.as_str()).collect();
    assert_eq!((claimed.len(), distinct.len()), (addresses.len(), addresses.len()), "each reminder once");
    assert!(claimed.iter().all(|m| m.kind == MailKind::Reminder));
}

pub async fn a_reminder_is_claimed_in_its_invitations_locale_with_the_apps_own_template(store: &dyn Store) {
    let app = app_with_reminders(store).await;
    let app = App { settings: AppSettings { locale: Locale::Fr, ..app.settings.clone() }, ..app };
    store.update_app(&app, &operator(), T0).await.expect("update").expect("app exists");
    let own = MailTemplate {
        kind: MailKind::Reminder,
        locale: Locale::De,
        subject: "Erinnerung an {{ app_name }}".into(),
        text: "{{ link }}".into(),
        html: "<a href=\"{{ link }}\">los</a>".into(),
        updated_at: T0,
    };
    store.put_mail_template(&app.id, &own, &operator()).await.expect("template");
    let german = InviteCommand { locale: Some(Locale::De), ..invite_reminded(&app, "ada@example.org", T0) };
    let default = invite_reminded(&app, "bob@example.org", T0);
    let (german_id, default_id) = (reminder_id(&german), reminder_id(&default));
    store.invite(german).await.expect("invite");
    store.invite(default).await.expect("invite");
    send_due(store, T0).await;

    let reminders = claim(store, due(T0)).await;

    let find = |id| reminders.iter().find(|m| &m.id == id).expect("claimed");
    let (german, default) = (find(&german_id), find(&default_id));
    assert_eq!((german.kind, german.locale, german.template.as_ref()), (MailKind::Reminder, Locale::De, Some(&own)));
    assert_eq!((default.kind, default.locale, default.template.as_ref()), (MailKind::Reminder, Locale::Fr, None));
}
