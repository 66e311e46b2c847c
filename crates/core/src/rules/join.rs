//! Joining with an invitation link (DESIGN.md, "Links and tokens"): a valid link makes the
//! invitee a member (or sets the password of the member the address already is) and is used
//! up; any other link is refused with what is wrong with it.

use super::NewAuditEvent;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::id::{AppId, InvitationId, UserId};
use crate::model::{Actor, App, AuditAction, LinkState, TokenLookup};
use crate::password::PasswordHash;
use crate::role::Role;
use crate::store::{AcceptCommand, JoinCredential};

/// What the store read about a link, inside the join's transaction.
#[derive(Debug, Clone, Default)]
pub struct JoinSituation {
    /// The invitation the token (current or replaced) belongs to, with its app.
    pub lookup: Option<TokenLookup>,
    /// The member the invitation's address already belongs to, if any.
    pub member_id: Option<UserId>,
    /// Whether that member has a password (an account one signs in to).
    pub member_has_password: bool,
}

/// What a join writes, decided by [`join_with_invitation`].
#[derive(Debug)]
pub enum JoinPlan<'a> {
    /// The link does not work (never [`LinkState::Valid`]); nothing is written.
    Refuse(LinkState),
    /// The link works, but the credential does not fit the address's account: it has a
    /// password that was not verified (a new password would overwrite it), or the member
    /// whose password was verified is gone. Nothing is written; the invitation stays usable.
    AccountChanged,
    /// The invitation is accepted (on condition it is still pending) and `member` written.
    Join {
        /// The invitation.
        invitation_id: &'a InvitationId,
        /// Its app, as the answer shows it.
        app: &'a App,
        /// The member to create or update.
        member: JoinedMember<'a>,
        /// The audit record.
        audit: NewAuditEvent<'a>,
        /// When.
        now: Timestamp,
    },
}

/// The member a join writes.
#[derive(Debug, Clone, Copy)]
pub enum JoinedMember<'a> {
    /// The address is a member already: joining proves it, sets the name if one was given
    /// and, for a member without a password, sets the password (ending the sessions before
    /// it); a member with a password keeps it. The role stays the member's (rule 5).
    Existing {
        /// The member.
        id: &'a UserId,
        /// The name typed; empty keeps the member's.
        full_name: &'a str,
        /// The new password; `None` keeps the member's (verified) password.
        password_hash: Option<&'a PasswordHash>,
    },
    /// A new verified member with the invitation's role.
    New {
        /// Its id.
        id: &'a UserId,
        /// Its app.
        app_id: &'a AppId,
        /// Its address.
        email: &'a EmailAddress,
        /// The name typed.
        full_name: &'a str,
        /// The role the invitation offered.
        role: Role,
        /// Its password.
        password_hash: &'a PasswordHash,
    },
}

impl JoinedMember<'_> {
    /// The member's id.
    pub fn id(&self) -> &UserId {
        match self {
            Self::Existing { id, .. } | Self::New { id, .. } => id,
        }
    }
}

/// Decides a join: only a valid link joins; a member keeps their role, and a member with a
/// password joins only with that password verified, never overwritten.
pub fn join_with_invitation<'a>(cmd: &'a AcceptCommand, situation: &'a JoinSituation) -> JoinPlan<'a> {
    let Some(lookup) = &situation.lookup else { return JoinPlan::Refuse(LinkState::Unknown) };
    let state = lookup.state_at(cmd.now);
    if state != LinkState::Valid {
        return JoinPlan::Refuse(state);
    }
    let invitation = &lookup.invitation;
    let member = match (&situation.member_id, &cmd.credential) {
        (Some(id), JoinCredential::ExistingPassword(verified)) if verified == id => {
            JoinedMember::Existing { id, full_name: &cmd.full_name, password_hash: None }
        }
        (Some(id), JoinCredential::NewPassword(hash)) if !situation.member_has_password => {
            JoinedMember::Existing { id, full_name: &cmd.full_name, password_hash: Some(hash) }
        }
        (None, JoinCredential::NewPassword(hash)) => JoinedMember::New {
            id: &cmd.user_id,
            app_id: &invitation.app_id,
            email: &invitation.email,
            full_name: &cmd.full_name,
            role: invitation.role,
            password_hash: hash,
        },
        _ => return JoinPlan::AccountChanged,
    };
    JoinPlan::Join {
        invitation_id: &invitation.id,
        app: &lookup.app,
        audit: NewAuditEvent {
            app_id: &invitation.app_id,
            actor: Actor::User(member.id().clone()),
            action: AuditAction::InvitationAccepted,
            subject_email: Some(&invitation.email),
            invitation_id: Some(&invitation.id),
            detail: None,
            at: cmd.now,
        },
        member,
        now: cmd.now,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{AppSettings, Delivery, Invitation, InvitationStatus, Inviter, LinkOpens};
    use crate::secret::TokenHash;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn cmd() -> AcceptCommand {
        AcceptCommand {
            token_hash: TokenHash::from_stored("00".into()),
            full_name: "Ada".into(),
            credential: JoinCredential::NewPassword(PasswordHash::from_stored("$argon2id$stub".into())),
            user_id: UserId::generate(),
            now: NOW,
        }
    }

    fn lookup(status: InvitationStatus, expires_at: Timestamp, is_current: bool) -> Option<TokenLookup> {
        let app_id = AppId::generate();
        let app = App {
            id: app_id.clone(),
            name: "Acme".into(),
            app_url: "https://acme.test".into(),
            settings: AppSettings::default(),
            created_at: NOW,
        };
        let invitation = Invitation {
            id: InvitationId::generate(),
            app_id,
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            role: Role::Admin,
            status,
            invited_by: Inviter { actor: Actor::User(UserId::generate()), display_name: "Bob".into() },
            expires_at,
            times_sent: 1,
            last_sent_at: NOW,
            delivery: Delivery::queued(),
            created_at: NOW,
            updated_at: NOW,
            opens: LinkOpens::default(),
            reminder: Default::default(),
            locale: None,
        };
        Some(TokenLookup { invitation, app, is_current })
    }

    fn later() -> Timestamp {
        NOW.plus(Duration::from_secs(3600))
    }

    #[test]
    fn join_creates_a_member_with_the_invitations_role_when_the_link_is_valid() {
        let cmd = cmd();
        let situation = JoinSituation {
            lookup: lookup(InvitationStatus::Pending, later(), true),
            member_id: None,
            member_has_password: false,
        };

        let plan = join_with_invitation(&cmd, &situation);

        let JoinPlan::Join { member: JoinedMember::New { id, role, .. }, audit, .. } = plan else { panic!("{plan:?}") };
        assert_eq!((id, role), (&cmd.user_id, Role::Admin));
        assert_eq!((audit.action, audit.actor), (AuditAction::InvitationAccepted, Actor::User(cmd.user_id.clone())));
    }

    #[test]
    fn join_sets_the_password_but_keeps_the_role_when_the_address_is_a_member() {
        let cmd = cmd();
        let member = UserId::generate();
        let situation = JoinSituation {
            lookup: lookup(InvitationStatus::Pending, later(), true),
            member_id: Some(member.clone()),
            member_has_password: false,
        };

        let plan = join_with_invitation(&cmd, &situation);

        let JoinPlan::Join { member: JoinedMember::Existing { id, password_hash, .. }, audit, .. } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!(id, &member);
        assert!(password_hash.is_some(), "a member without a password sets one");
        assert_eq!(audit.actor, Actor::User(member));
    }

    #[test]
    fn join_keeps_the_password_and_role_of_a_member_whose_password_was_verified() {
        let member = UserId::generate();
        let cmd = AcceptCommand { credential: JoinCredential::ExistingPassword(member.clone()), ..cmd() };
        let situation = JoinSituation {
            lookup: lookup(InvitationStatus::Pending, later(), true),
            member_id: Some(member.clone()),
            member_has_password: true,
        };

        let plan = join_with_invitation(&cmd, &situation);

        let JoinPlan::Join { member: JoinedMember::Existing { id, password_hash, .. }, audit, .. } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!((id, password_hash), (&member, None));
        assert_eq!(audit.action, AuditAction::InvitationAccepted);
    }

    #[test]
    fn join_never_overwrites_an_existing_password_nor_joins_as_someone_else() {
        let member = UserId::generate();
        let valid = || lookup(InvitationStatus::Pending, later(), true);
        let cases = [
            // A new password for an account that has one: it would be overwritten.
            (
                JoinCredential::NewPassword(PasswordHash::from_stored("$argon2id$new".into())),
                Some(member.clone()),
                true,
            ),
            // Another member's password was verified.
            (JoinCredential::ExistingPassword(UserId::generate()), Some(member.clone()), true),
            // The verified member is gone.
            (JoinCredential::ExistingPassword(member.clone()), None, false),
        ];
        for (credential, member_id, member_has_password) in cases {
            let cmd = AcceptCommand { credential, ..cmd() };
            let situation = JoinSituation { lookup: valid(), member_id, member_has_password };

            let plan = join_with_invitation(&cmd, &situation);

            assert!(matches!(plan, JoinPlan::AccountChanged), "{plan:?}");
        }
    }

    #[test]
    fn join_is_refused_with_what_is_wrong_when_the_link_does_not_work() {
        let cases = [
            (None, LinkState::Unknown),
            (lookup(InvitationStatus::Accepted, later(), true), LinkState::Used),
            (lookup(InvitationStatus::Revoked, later(), false), LinkState::Revoked),
            (lookup(InvitationStatus::Pending, later(), false), LinkState::Replaced),
            (lookup(InvitationStatus::Pending, NOW, true), LinkState::Expired),
        ];
        for (lookup, expected) in cases {
            let cmd = cmd();
            let situation = JoinSituation { lookup, member_id: None, member_has_password: false };

            let plan = join_with_invitation(&cmd, &situation);

            assert!(matches!(plan, JoinPlan::Refuse(state) if state == expected), "{expected:?}: {plan:?}");
        }
    }
}
