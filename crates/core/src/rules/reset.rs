//! Password reset links: requested by address (a link for an enabled member, nothing for
//! anyone else, and the caller cannot tell which), used once.

use super::{NewAuditEvent, NewOutboxMessage, wait_after};
use crate::clock::Timestamp;
use crate::id::{AppId, UserId};
use crate::model::{Actor, AuditAction, LinkState, MailKind, User};
use crate::password::PasswordHash;
use crate::secret::TokenHash;
use crate::store::ResetRequest;

/// What the store read about the address a reset is requested for, inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct ResetRequestSituation {
    /// The member the address belongs to, if any.
    pub member: Option<User>,
    /// When the latest reset email to the address was queued (the store may read only those
    /// within the resend interval).
    pub last_reset_email_at: Option<Timestamp>,
}

/// What a reset request writes, decided by [`issue_reset_link`].
#[derive(Debug)]
pub enum ResetRequestPlan<'a> {
    /// Nothing: a stranger, a disabled member, or a reset email sent within the interval.
    Nothing,
    /// A link is stored and emailed.
    IssueLink {
        /// The link row.
        link: NewResetLink<'a>,
        /// Its email.
        mail: NewOutboxMessage<'a>,
    },
}

/// A reset link to store: only its hash.
#[derive(Debug, Clone)]
pub struct NewResetLink<'a> {
    /// The link secret's hash.
    pub token_hash: TokenHash,
    /// The app.
    pub app_id: &'a AppId,
    /// The member whose password it resets.
    pub user_id: &'a UserId,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was made.
    pub now: Timestamp,
}

/// Decides a reset request: an enabled member gets a link, at most one email per resend
/// interval; anyone else gets nothing.
pub fn issue_reset_link<'a>(request: &'a ResetRequest, situation: &'a ResetRequestSituation) -> ResetRequestPlan<'a> {
    let Some(member) = situation.member.as_ref().filter(|member| !member.is_disabled) else {
        return ResetRequestPlan::Nothing;
    };
    if wait_after(situation.last_reset_email_at, request.resend_interval, request.now).is_some() {
        return ResetRequestPlan::Nothing;
    }
    ResetRequestPlan::IssueLink {
        link: NewResetLink {
            token_hash: request.token.hash(),
            app_id: &request.app_id,
            user_id: &member.id,
            expires_at: request.expires_at,
            now: request.now,
        },
        mail: NewOutboxMessage {
            id: &request.message_id,
            app_id: &request.app_id,
            kind: MailKind::PasswordReset,
            recipient: &member.email,
            invitation_id: None,
            role: member.role,
            inviter_name: "",
            link: Some((request.token.expose(), request.expires_at)),
            locale: None,
            now: request.now,
        },
    }
}

/// A reset link as stored.
#[derive(Debug, Clone)]
pub struct StoredResetLink {
    /// The member whose password it resets.
    pub user_id: UserId,
    /// When it expires.
    pub expires_at: Timestamp,
    /// True once it (or another link of the member) was used.
    pub is_used: bool,
}

/// What the store read about a reset link, inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct ResetSituation {
    /// The app's link with the hash from the request.
    pub link: Option<StoredResetLink>,
    /// The member it resets, if they still exist.
    pub member: Option<User>,
}

/// What using a reset link writes, decided by [`reset_with_link`].
#[derive(Debug)]
pub enum ResetPlan<'a> {
    /// Nothing is written: the link is unknown, used or expired (never [`LinkState::Valid`]).
    Refuse(LinkState),
    /// The member's password is set; see [`PasswordReset`].
    SetPassword(PasswordReset<'a>),
}

/// A reset carried out: the member's password is set (ending the sessions before it) and their
/// address counts as proven; every outstanding link of theirs is used up.
#[derive(Debug)]
pub struct PasswordReset<'a> {
    /// The app.
    pub app_id: &'a AppId,
    /// The member.
    pub user_id: &'a UserId,
    /// The new password.
    pub password_hash: &'a PasswordHash,
    /// When.
    pub now: Timestamp,
    /// The audit record.
    pub audit: NewAuditEvent<'a>,
}

/// Decides the use of a reset link: only an unused, unexpired link of a member that still
/// exists sets the password.
pub fn reset_with_link<'a>(
    app_id: &'a AppId,
    password_hash: &'a PasswordHash,
    now: Timestamp,
    situation: &'a ResetSituation,
) -> ResetPlan<'a> {
    let (Some(link), Some(member)) = (&situation.link, &situation.member) else {
        return ResetPlan::Refuse(LinkState::Unknown);
    };
    if link.is_used {
        return ResetPlan::Refuse(LinkState::Used);
    }
    if link.expires_at <= now {
        return ResetPlan::Refuse(LinkState::Expired);
    }
    ResetPlan::SetPassword(PasswordReset {
        app_id,
        user_id: &member.id,
        password_hash,
        now,
        audit: NewAuditEvent {
            app_id,
            actor: Actor::User(member.id.clone()),
            action: AuditAction::PasswordReset,
            subject_email: Some(&member.email),
            invitation_id: None,
            detail: None,
            at: now,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::email::EmailAddress;
    use crate::id::MessageId;
    use crate::role::Role;
    use crate::secret::ResetToken;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const INTERVAL: Duration = Duration::from_secs(60);

    fn member(is_disabled: bool) -> User {
        User {
            id: UserId::generate(),
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            full_name: String::new(),
            role: Role::Admin,
            is_verified: true,
            is_disabled,
            session_epoch: 0,
            custom: serde_json::Map::new(),
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn request() -> ResetRequest {
        ResetRequest {
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            token: ResetToken::generate(),
            message_id: MessageId::generate(),
            expires_at: NOW.plus(Duration::from_secs(3600)),
            resend_interval: INTERVAL,
            now: NOW,
        }
    }

    #[test]
    fn reset_request_issues_a_link_to_the_member_when_enabled_and_not_recently_mailed() {
        let request = request();
        let situation =
            ResetRequestSituation { member: Some(member(false)), last_reset_email_at: Some(NOW.minus(INTERVAL)) };

        let plan = issue_reset_link(&request, &situation);

        let ResetRequestPlan::IssueLink { link, mail } = plan else { panic!("{plan:?}") };
        assert_eq!(
            (link.token_hash, link.user_id),
            (request.token.hash(), &situation.member.as_ref().expect("member").id)
        );
        assert_eq!((mail.kind, mail.role), (MailKind::PasswordReset, Role::Admin));
        assert_eq!(mail.link, Some((request.token.expose(), request.expires_at)));
    }

    #[test]
    fn reset_request_writes_nothing_for_a_stranger_a_disabled_member_or_within_the_interval() {
        let cases = [
            ResetRequestSituation::default(),
            ResetRequestSituation { member: Some(member(true)), last_reset_email_at: None },
            ResetRequestSituation { member: Some(member(false)), last_reset_email_at: Some(NOW.minus(INTERVAL / 2)) },
        ];
        let request = request();
        for situation in cases {
            let plan = issue_reset_link(&request, &situation);

            assert!(matches!(plan, ResetRequestPlan::Nothing), "{situation:?}");
        }
    }

    fn link(expires_at: Timestamp, is_used: bool, member: &User) -> Option<StoredResetLink> {
        Some(StoredResetLink { user_id: member.id.clone(), expires_at, is_used })
    }

    #[test]
    fn reset_sets_the_password_and_audits_when_the_link_is_unused_and_unexpired() {
        let (app_id, password) = (AppId::generate(), PasswordHash::from_stored("$argon2id$new".into()));
        let ada = member(false);
        let situation = ResetSituation { link: link(NOW.plus(INTERVAL), false, &ada), member: Some(ada.clone()) };

        let plan = reset_with_link(&app_id, &password, NOW, &situation);

        let ResetPlan::SetPassword(PasswordReset { user_id, audit, .. }) = plan else { panic!("{plan:?}") };
        assert_eq!(user_id, &ada.id);
        assert_eq!((audit.action, audit.subject_email), (AuditAction::PasswordReset, Some(&ada.email)));
    }

    #[test]
    fn reset_is_refused_with_what_is_wrong_when_the_link_does_not_work() {
        let (app_id, password) = (AppId::generate(), PasswordHash::from_stored("$argon2id$new".into()));
        let ada = member(false);
        let cases = [
            (ResetSituation::default(), LinkState::Unknown),
            (ResetSituation { link: link(NOW.plus(INTERVAL), false, &ada), member: None }, LinkState::Unknown),
            (ResetSituation { link: link(NOW.plus(INTERVAL), true, &ada), member: Some(ada.clone()) }, LinkState::Used),
            (ResetSituation { link: link(NOW, false, &ada), member: Some(ada.clone()) }, LinkState::Expired),
        ];
        for (situation, expected) in cases {
            let plan = reset_with_link(&app_id, &password, NOW, &situation);

            assert!(matches!(plan, ResetPlan::Refuse(state) if state == expected), "{expected:?}: {plan:?}");
        }
    }
}
