//! The rules of inviting one address (DESIGN.md, "Rules of inviting", 3 to 6): refuse, throttle,
//! remind a member, re-send a pending invitation with a fresh link, or create one.

use std::time::Duration;

use super::{NewAuditEvent, NewOutboxMessage, wait_after};
use crate::clock::Timestamp;
use crate::id::InvitationId;
use crate::model::{Actor, AuditAction, Invitation, InvitationStatus, Inviter, MailKind};
use crate::role::Role;
use crate::secret::TokenHash;
use crate::store::InviteCommand;

/// The emails the resend throttle (rule 6) counts: any invite, whichever case produced it.
pub const THROTTLED_KINDS: [MailKind; 2] = [MailKind::Invitation, MailKind::SignIn];

/// The emails the daily allowance counts: invitation emails, of new invitations and re-sends
/// alike (a member's sign-in reminder is not an invitation).
pub const ALLOWANCE_KINDS: [MailKind; 1] = [MailKind::Invitation];

/// The daily allowance's rolling window.
pub const ALLOWANCE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// What the store read about the invited address, inside the invite's transaction.
#[derive(Debug, Clone, Default)]
pub struct InviteSituation {
    /// The address's pending invitation (even one past its expiry): its id and role.
    pub pending: Option<(InvitationId, Role)>,
    /// When the latest email of [`THROTTLED_KINDS`] to the address was queued; the store may
    /// read only those after [`InviteCommand::throttle_since`].
    pub last_email_at: Option<Timestamp>,
    /// The role of the member the address belongs to, if it is one.
    pub member_role: Option<Role>,
    /// Only read when the app has a daily allowance
    /// ([`InviteCommand::allowance_since`]): the app's emails of [`ALLOWANCE_KINDS`] queued in
    /// the window, including those of earlier commands of the same transaction.
    pub sent_today: SentToday,
}

/// The app's invitation emails within the allowance's window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentToday {
    /// How many.
    pub count: u32,
    /// When the oldest of them was queued.
    pub oldest: Option<Timestamp>,
}

/// What an invite writes, decided by [`invite_resend_or_remind`].
#[derive(Debug)]
pub enum InvitePlan<'a> {
    /// Rule 3: the pending invitation is one the inviter could not have created. Nothing is
    /// written.
    NotAllowed,
    /// The app's domain lists refuse the address and it is no member. Nothing is written.
    DomainNotAllowed,
    /// The app's daily allowance of invitation emails is used up. Nothing is written.
    DailyLimit {
        /// How long until the oldest counted email leaves the window.
        retry_after: Duration,
    },
    /// Rule 6: an email went to the address less than the resend interval ago. Nothing is
    /// written.
    Throttled {
        /// How long until the next email is allowed.
        retry_after: Duration,
    },
    /// Rule 5: the address is a member: queue a sign-in email and audit it; the member is left
    /// alone.
    RemindMember {
        /// The sign-in email.
        mail: NewOutboxMessage<'a>,
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
    /// Rule 4: the pending invitation is re-sent: its current link and unsent emails are
    /// retired, it takes the command's role, inviter and expiry, and a new link and email.
    Resend {
        /// The invitation and what it becomes.
        refresh: InvitationRefresh<'a>,
        /// The new link's hash.
        token_hash: TokenHash,
        /// The invitation email.
        mail: NewOutboxMessage<'a>,
        /// The new link's reminder, due before it expires, when the app has reminders on.
        reminder: Option<NewOutboxMessage<'a>>,
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
    /// No invitation is pending: a new one is stored, sent once.
    Create {
        /// The new invitation, as it is stored (boxed: it is by far the largest plan).
        invitation: Box<Invitation>,
        /// Its link's hash.
        token_hash: TokenHash,
        /// The invitation email.
        mail: NewOutboxMessage<'a>,
        /// Its link's reminder, due before it expires, when the app has reminders on.
        reminder: Option<NewOutboxMessage<'a>>,
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
}

/// What a re-sent invitation becomes: sent once more, now, with these.
#[derive(Debug, Clone, Copy)]
pub struct InvitationRefresh<'a> {
    /// The pending invitation.
    pub id: &'a InvitationId,
    /// The latest role offered.
    pub role: Role,
    /// The new expiry.
    pub expires_at: Timestamp,
    /// Who re-sent it.
    pub inviter: &'a Inviter,
    /// The language it is written in from now on; `None` keeps the one it has.
    pub locale: Option<crate::locale::Locale>,
    /// When.
    pub now: Timestamp,
}

/// Decides an invite of one address: the rules of inviting, in their order of precedence.
///
/// 1. A pending invitation the inviter could not have created (a member re-inviting an address
///    invited as admin) is not theirs to rewrite, throttled or not.
/// 2. An address the app's domain lists refuse is not invited (nor its pending invitation
///    re-sent), unless it is already a member: members are not affected by the lists.
/// 3. Any invite email to the address within the resend interval throttles.
/// 4. A member gets a sign-in email (not an invitation: the daily allowance does not count
///    or stop it).
/// 5. An invitation email (a new invitation or a re-send) beyond the app's daily allowance,
///    `max_invites_per_day` within the last 24 hours, waits until the oldest counted email
///    leaves the window.
/// 6. A pending invitation (even one past its expiry) is re-sent with a fresh link, expiry and
///    the latest role.
/// 7. Otherwise a new invitation is created.
pub fn invite_resend_or_remind<'a>(cmd: &'a InviteCommand, situation: &'a InviteSituation) -> InvitePlan<'a> {
    if situation.pending.as_ref().is_some_and(|(_, role)| !cmd.may_resend(*role)) {
        return InvitePlan::NotAllowed;
    }
    if !cmd.email_domain_allowed && situation.member_role.is_none() {
        return InvitePlan::DomainNotAllowed;
    }
    if let Some(retry_after) = wait_after(situation.last_email_at, cmd.resend_interval, cmd.now) {
        return InvitePlan::Throttled { retry_after };
    }
    let audit = |action, invitation_id| NewAuditEvent {
        app_id: &cmd.app_id,
        actor: cmd.inviter.actor.clone(),
        action,
        subject_email: Some(&cmd.email),
        invitation_id,
        detail: None,
        at: cmd.now,
    };
    if let Some(member_role) = situation.member_role {
        return InvitePlan::RemindMember {
            mail: NewOutboxMessage {
                id: &cmd.message_id,
                app_id: &cmd.app_id,
                kind: MailKind::SignIn,
                recipient: &cmd.email,
                invitation_id: None,
                role: member_role,
                inviter_name: &cmd.inviter.display_name,
                link: None,
                locale: cmd.locale,
                now: cmd.now,
            },
            audit: audit(AuditAction::MemberReminded, None),
        };
    }
    if let Some(limit) = cmd.daily_allowance
        && situation.sent_today.count >= limit
    {
        // Retry when the oldest counted email leaves the window: exact when the allowance is
        // just used up; a lower bound when it was lowered below what was already sent.
        let frees_at = situation.sent_today.oldest.map_or(cmd.now, |oldest| oldest.plus(ALLOWANCE_WINDOW));
        let retry_after = if frees_at > cmd.now { cmd.now.until(frees_at) } else { Duration::from_secs(1) };
        return InvitePlan::DailyLimit { retry_after };
    }
    let invitation_mail = |invitation_id| NewOutboxMessage {
        id: &cmd.message_id,
        app_id: &cmd.app_id,
        kind: MailKind::Invitation,
        recipient: &cmd.email,
        invitation_id: Some(invitation_id),
        role: cmd.role,
        inviter_name: &cmd.inviter.display_name,
        link: Some((cmd.token.expose(), cmd.expires_at)),
        locale: cmd.locale,
        now: cmd.now,
    };
    // The reminder carries the same link; it is queued now, dated when it falls due (so the
    // worker's age limits count from then), and checked again then (`rules::reminders`).
    let reminder = |invitation_id| {
        cmd.reminder.as_ref().map(|reminder| NewOutboxMessage {
            id: &reminder.message_id,
            kind: MailKind::Reminder,
            now: reminder.due_at,
            ..invitation_mail(invitation_id)
        })
    };
    match &situation.pending {
        Some((id, _)) => InvitePlan::Resend {
            refresh: InvitationRefresh {
                id,
                role: cmd.role,
                expires_at: cmd.expires_at,
                inviter: &cmd.inviter,
                locale: cmd.locale,
                now: cmd.now,
            },
            token_hash: cmd.token.hash(),
            mail: invitation_mail(id),
            reminder: reminder(id),
            audit: audit(AuditAction::InvitationResent, Some(id)),
        },
        None => InvitePlan::Create {
            invitation: Box::new(cmd.created_invitation()),
            token_hash: cmd.token.hash(),
            mail: invitation_mail(&cmd.invitation_id),
            reminder: reminder(&cmd.invitation_id),
            audit: audit(AuditAction::InvitationCreated, Some(&cmd.invitation_id)),
        },
    }
}

/// What revoking an invitation writes, decided by [`revoke_if_pending`].
#[derive(Debug)]
pub enum RevokePlan<'a> {
    /// The invitation is not pending (accepted or revoked already); nothing is written.
    Unchanged,
    /// The invitation is revoked (its links then say so), its unsent emails cancelled, and the
    /// revocation audited.
    Revoke {
        /// The invitation.
        id: &'a InvitationId,
        /// When.
        now: Timestamp,
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
}

/// Decides the revocation of `current` by `by`: only a pending invitation (even one past its
/// expiry) can be revoked.
pub fn revoke_if_pending<'a>(current: &'a Invitation, by: &Actor, now: Timestamp) -> RevokePlan<'a> {
    if current.status != InvitationStatus::Pending {
        return RevokePlan::Unchanged;
    }
    RevokePlan::Revoke {
        id: &current.id,
        now,
        audit: NewAuditEvent {
            app_id: &current.app_id,
            actor: by.clone(),
            action: AuditAction::InvitationRevoked,
            subject_email: Some(&current.email),
            invitation_id: Some(&current.id),
            detail: None,
            at: now,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::EmailAddress;
    use crate::id::{ApiKeyId, AppId, MessageId};
    use crate::secret::InvitationToken;
    use crate::store::LinkReminder;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const INTERVAL: Duration = Duration::from_secs(60);

    fn cmd(role: Role, may_invite_admins: bool) -> InviteCommand {
        InviteCommand {
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            role,
            inviter: Inviter { actor: Actor::ApiKey(ApiKeyId::generate()), display_name: "Acme".into() },
            invitation_id: InvitationId::generate(),
            token: InvitationToken::generate(),
            message_id: MessageId::generate(),
            reminder: None,
            expires_at: NOW.plus(Duration::from_secs(7 * 24 * 3600)),
            resend_interval: INTERVAL,
            may_invite_admins,
            email_domain_allowed: true,
            daily_allowance: None,
            locale: None,
            now: NOW,
        }
    }

    fn pending(role: Role) -> Option<(InvitationId, Role)> {
        Some((InvitationId::generate(), role))
    }

    #[test]
    fn invite_creates_an_invitation_sent_once_when_the_address_is_new() {
        let cmd = cmd(Role::User, true);
        let situation = InviteSituation::default();

        let plan = invite_resend_or_remind(&cmd, &situation);

        let InvitePlan::Create { invitation, token_hash, mail, reminder: None, audit } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!(invitation.id, cmd.invitation_id);
        assert_eq!(
            (invitation.status, invitation.times_sent, invitation.role),
            (InvitationStatus::Pending, 1, Role::User)
        );
        assert_eq!(token_hash, cmd.token.hash());
        assert_eq!((mail.kind, mail.invitation_id), (MailKind::Invitation, Some(&cmd.invitation_id)));
        assert_eq!(mail.link, Some((cmd.token.expose(), cmd.expires_at)));
        assert_eq!((audit.action, audit.invitation_id), (AuditAction::InvitationCreated, Some(&cmd.invitation_id)));
    }

    #[test]
    fn invite_resends_with_a_fresh_link_and_the_latest_role_when_an_invitation_is_pending() {
        let cmd = cmd(Role::Admin, true);
        let situation = InviteSituation { pending: pending(Role::User), ..InviteSituation::default() };
        let pending_id = situation.pending.as_ref().map(|(id, _)| id.clone());

        let plan = invite_resend_or_remind(&cmd, &situation);

        let InvitePlan::Resend { refresh, token_hash, mail, reminder: None, audit } = plan else { panic!("{plan:?}") };
        assert_eq!(Some(refresh.id), pending_id.as_ref());
        assert_eq!((refresh.role, refresh.expires_at), (Role::Admin, cmd.expires_at));
        assert_eq!(token_hash, cmd.token.hash());
        assert_eq!(
            (mail.kind, mail.invitation_id, mail.role),
            (MailKind::Invitation, pending_id.as_ref(), Role::Admin)
        );
        assert_eq!(audit.action, AuditAction::InvitationResent);
    }

    #[test]
    fn invite_reminds_without_touching_the_role_when_the_address_is_a_member() {
        let cmd = cmd(Role::Admin, true);
        let situation = InviteSituation { member_role: Some(Role::User), ..InviteSituation::default() };

        let plan = invite_resend_or_remind(&cmd, &situation);

        let InvitePlan::RemindMember { mail, audit } = plan else { panic!("{plan:?}") };
        assert_eq!((mail.kind, mail.role, mail.link), (MailKind::SignIn, Role::User, None));
        assert_eq!((audit.action, audit.invitation_id), (AuditAction::MemberReminded, None));
    }

    #[test]
    fn invite_reminds_rather_than_resends_when_a_member_also_has_a_pending_invitation() {
        let cmd = cmd(Role::User, true);
        let situation = InviteSituation {
            pending: pending(Role::User),
            member_role: Some(Role::Admin),
            ..InviteSituation::default()
        };

        assert!(matches!(invite_resend_or_remind(&cmd, &situation), InvitePlan::RemindMember { .. }));
    }

    #[test]
    fn invite_is_throttled_until_the_interval_has_passed_when_an_email_went_recently() {
        let cmd = cmd(Role::User, true);
        for member_role in [None, Some(Role::User)] {
            let situation = InviteSituation {
                last_email_at: Some(NOW.minus(Duration::from_secs(20))),
                member_role,
                ..InviteSituation::default()
            };

            let plan = invite_resend_or_remind(&cmd, &situation);

            assert!(matches!(plan, InvitePlan::Throttled { retry_after } if retry_after == Duration::from_secs(40)));
        }
    }

    #[test]
    fn invite_is_not_throttled_when_the_last_email_is_an_interval_old() {
        let cmd = cmd(Role::User, true);
        let situation = InviteSituation { last_email_at: Some(NOW.minus(INTERVAL)), ..InviteSituation::default() };

        assert!(matches!(invite_resend_or_remind(&cmd, &situation), InvitePlan::Create { .. }));
    }

    #[test]
    fn invite_is_not_allowed_even_when_throttled_when_a_member_reinvites_a_pending_admin() {
        let cmd = cmd(Role::User, false);
        let situation =
            InviteSituation { pending: pending(Role::Admin), last_email_at: Some(NOW), ..InviteSituation::default() };

        assert!(matches!(invite_resend_or_remind(&cmd, &situation), InvitePlan::NotAllowed));
    }

    #[test]
    fn invite_lets_a_member_resend_a_pending_user_invitation() {
        let cmd = cmd(Role::User, false);
        let situation = InviteSituation { pending: pending(Role::User), ..InviteSituation::default() };

        assert!(matches!(invite_resend_or_remind(&cmd, &situation), InvitePlan::Resend { .. }));
    }

    #[test]
    fn invite_refuses_a_refused_domain_unless_the_address_is_a_member() {
        let cmd = InviteCommand { email_domain_allowed: false, ..cmd(Role::User, true) };
        // (situation, refused?): new, pending, throttled and pending are refused; members are
        // reminded as before.
        let cases = [
            (InviteSituation::default(), true),
            (InviteSituation { pending: pending(Role::User), ..InviteSituation::default() }, true),
            (InviteSituation { last_email_at: Some(NOW), ..InviteSituation::default() }, true),
            (InviteSituation { member_role: Some(Role::User), ..InviteSituation::default() }, false),
        ];
        for (situation, refused) in cases {
            let plan = invite_resend_or_remind(&cmd, &situation);

            assert_eq!(matches!(plan, InvitePlan::DomainNotAllowed), refused, "{situation:?}: {plan:?}");
        }
        let member = InviteSituation { member_role: Some(Role::User), ..InviteSituation::default() };
        assert!(matches!(invite_resend_or_remind(&cmd, &member), InvitePlan::RemindMember { .. }));
    }

    #[test]
    fn invite_follows_the_daily_allowance_case_table() {
        let hour = Duration::from_secs(3600);
        let sent = |count, oldest_hours_ago: u64| SentToday {
            count,
            oldest: Some(NOW.minus(Duration::from_secs(oldest_hours_ago * 3600))),
        };
        /// (allowance, sent today, pending?, member?, expected plan, retry after)
        type Case = (Option<u32>, SentToday, bool, bool, &'static str, Option<Duration>);
        let cases: &[Case] = &[
            (None, sent(1000, 1), false, false, "create", None),
            (Some(3), SentToday::default(), false, false, "create", None),
            (Some(3), sent(2, 5), false, false, "create", None),
            (Some(3), sent(2, 5), true, false, "resend", None),
            (Some(3), sent(3, 5), false, false, "limit", Some(hour * 19)),
            (Some(3), sent(3, 23), true, false, "limit", Some(hour)),
            (Some(3), sent(7, 2), false, false, "limit", Some(hour * 22)),
            // A member's reminder is no invitation: neither counted nor stopped.
            (Some(3), sent(3, 5), false, true, "remind", None),
        ];
        for &(allowance, sent_today, is_pending, is_member, expected, retry) in cases {
            let cmd = InviteCommand { daily_allowance: allowance, ..cmd(Role::User, true) };
            let situation = InviteSituation {
                pending: if is_pending { pending(Role::User) } else { None },
                member_role: is_member.then_some(Role::User),
                sent_today,
                ..InviteSituation::default()
            };

            let plan = invite_resend_or_remind(&cmd, &situation);

            let (name, retry_after) = match &plan {
                InvitePlan::Create { .. } => ("create", None),
                InvitePlan::Resend { .. } => ("resend", None),
                InvitePlan::RemindMember { .. } => ("remind", None),
                InvitePlan::DailyLimit { retry_after } => ("limit", Some(*retry_after)),
                other => panic!("{other:?}"),
            };
            assert_eq!((name, retry_after), (expected, retry), "{allowance:?} {sent_today:?} {is_pending} {is_member}");
        }
    }

    #[test]
    fn invite_is_throttled_before_the_allowance_is_looked_at() {
        let cmd = InviteCommand { daily_allowance: Some(1), ..cmd(Role::User, true) };
        let situation = InviteSituation {
            last_email_at: Some(NOW),
            sent_today: SentToday { count: 5, oldest: Some(NOW) },
            ..InviteSituation::default()
        };

        assert!(matches!(invite_resend_or_remind(&cmd, &situation), InvitePlan::Throttled { .. }));
    }

    #[test]
    fn revoke_revokes_and_audits_only_a_pending_invitation() {
        let by = Actor::ApiKey(ApiKeyId::generate());
        let cmd = cmd(Role::User, true);
        let pending = cmd.created_invitation();
        let expired = Invitation { expires_at: NOW, ..cmd.created_invitation() };
        let accepted = Invitation { status: InvitationStatus::Accepted, ..cmd.created_invitation() };
        let revoked = Invitation { status: InvitationStatus::Revoked, ..cmd.created_invitation() };

        for invitation in [&pending, &expired] {
            let plan = revoke_if_pending(invitation, &by, NOW.plus(INTERVAL));

            let RevokePlan::Revoke { id, audit, .. } = plan else { panic!("{plan:?}") };
            assert_eq!((id, audit.action), (&invitation.id, AuditAction::InvitationRevoked));
        }
        for invitation in [&accepted, &revoked] {
            assert!(matches!(revoke_if_pending(invitation, &by, NOW), RevokePlan::Unchanged));
        }
    }

    #[test]
    fn a_link_gets_a_reminder_and_its_message_id_only_when_one_falls_due() {
        let expires_at = NOW.plus(Duration::from_secs(48 * 3600));

        assert_eq!(LinkReminder::when_due(None, expires_at, NOW), None, "reminders off");
        assert_eq!(LinkReminder::when_due(Some(48), expires_at, NOW), None, "the link lives no longer than the lead");
        let due = LinkReminder::when_due(Some(24), expires_at, NOW).expect("due");
        assert_eq!(due.due_at, NOW.plus(Duration::from_secs(24 * 3600)));
        let (off, new) = (cmd(Role::User, true), InviteSituation::default());
        let plan = invite_resend_or_remind(&off, &new);
        assert!(matches!(plan, InvitePlan::Create { reminder: None, .. }), "{plan:?}");
    }

    #[test]
    fn a_new_or_re_sent_link_gets_a_reminder_with_the_same_token_when_the_app_has_reminders_on() {
        let base = cmd(Role::User, true);
        let cmd = InviteCommand { reminder: LinkReminder::when_due(Some(24), base.expires_at, base.now), ..base };
        let expected_due = cmd.expires_at.minus(Duration::from_secs(24 * 3600));
        let reminder_id = &cmd.reminder.as_ref().expect("due").message_id;
        for situation in
            [InviteSituation::default(), InviteSituation { pending: pending(Role::User), ..Default::default() }]
        {
            let plan = invite_resend_or_remind(&cmd, &situation);

            let (InvitePlan::Create { mail, reminder: Some(reminder), .. }
            | InvitePlan::Resend { mail, reminder: Some(reminder), .. }) = plan
            else {
                panic!("{plan:?}")
            };
            assert_eq!((reminder.kind, reminder.id), (MailKind::Reminder, reminder_id));
            assert_eq!(reminder.link, mail.link, "the same link");
            assert_eq!(reminder.invitation_id, mail.invitation_id);
            assert_eq!(reminder.now, expected_due, "queued, dated when it falls due");
        }
        let member = InviteSituation { member_role: Some(Role::User), ..Default::default() };
        assert!(matches!(invite_resend_or_remind(&cmd, &member), InvitePlan::RemindMember { .. }));
    }
}
