//! Sign-up with a one-time code (DESIGN.md, "Links and tokens"): `register` starts a sign-up
//! (or re-sends its code) and emails the code; the right code creates the member. The password
//! that ends up on the account is the one of the `register` whose code was verified: a newer
//! `register` replaces the earlier password and codes.

use super::{NewAuditEvent, NewOutboxMessage, wait_after};
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::id::{AppId, InvitationId, UserId};
use crate::model::{Actor, AuditAction, MailKind};
use crate::password::PasswordHash;
use crate::role::Role;
use crate::secret::TokenHash;
use crate::store::{SignupCommand, SignupOutcome, VerifyCommand, VerifyOutcome};

/// How many codes replaced by newer ones a sign-up remembers, to refuse them as replaced.
pub const REPLACED_CODES_KEPT: usize = 8;

/// A sign-up's list of replaced code hashes (space-separated, newest last, at most
/// [`REPLACED_CODES_KEPT`]) once `replaced` joins it.
pub fn replaced_codes_with(list: &str, replaced: &str) -> String {
    let mut hashes: Vec<&str> = list.split_whitespace().collect();
    hashes.push(replaced);
    hashes[hashes.len().saturating_sub(REPLACED_CODES_KEPT)..].join(" ")
}

/// True when `hash` is in a sign-up's list of replaced code hashes.
pub fn is_replaced_code(list: &str, hash: &TokenHash) -> bool {
    list.split_whitespace().any(|replaced| replaced == hash.as_str())
}

/// The sign-up an address already started, as stored.
#[derive(Debug, Clone)]
pub struct StoredSignup {
    /// The password chosen at registration (a PHC string).
    pub password_hash: String,
    /// The current code's hash.
    pub code_hash: String,
    /// When the current code expires.
    pub expires_at: Timestamp,
    /// Wrong codes tried so far.
    pub attempts: u32,
    /// The hashes of the codes newer ones replaced (see [`replaced_codes_with`]).
    pub replaced_code_hashes: String,
}

/// What the store read about an address that registers, inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct RegisterSituation {
    /// The role of the address's pending invitation, if it has one.
    pub pending_role: Option<Role>,
    /// The role of the member the address belongs to, if it is one.
    pub member_role: Option<Role>,
    /// When the latest "you have an account" email to the address was queued (the store may
    /// read only those within the resend interval).
    pub last_account_exists_at: Option<Timestamp>,
    /// When the latest code email to the address was queued (likewise).
    pub last_code_at: Option<Timestamp>,
    /// The sign-up the address started before, if any.
    pub earlier: Option<StoredSignup>,
}

/// What a registration writes, decided by [`register_or_resend_code`].
#[derive(Debug)]
pub enum RegisterPlan<'a> {
    /// Nothing is written; the answer is this.
    Answer(SignupOutcome),
    /// The address is a member: they are told they have an account (`None` when such an
    /// email went within the resend interval). The answer is [`SignupOutcome::AlreadyMember`].
    TellMember {
        /// The "you have an account" email.
        mail: Option<NewOutboxMessage<'a>>,
    },
    /// The sign-up is stored (started anew, or its code replaced) and the code emailed. The
    /// answer is [`SignupOutcome::CodeSent`].
    SendCode {
        /// The sign-up row to write.
        signup: SignupWrite<'a>,
        /// The code email.
        mail: NewOutboxMessage<'a>,
    },
}

impl RegisterPlan<'_> {
    /// What the caller is answered once the plan is carried out.
    pub fn answer(&self) -> SignupOutcome {
        match self {
            Self::Answer(answer) => *answer,
            Self::TellMember { .. } => SignupOutcome::AlreadyMember,
            Self::SendCode { .. } => SignupOutcome::CodeSent,
        }
    }
}

/// The sign-up row a registration writes: a new code always; a new password when one was given.
#[derive(Debug, Clone)]
pub struct SignupWrite<'a> {
    /// The app.
    pub app_id: &'a AppId,
    /// The address.
    pub email: &'a EmailAddress,
    /// `Some`: the sign-up starts afresh (created or replaced whole: password, attempts, start
    /// time). `None`: only the code of the stored sign-up is replaced.
    pub password_hash: Option<&'a PasswordHash>,
    /// The new code's hash.
    pub code_hash: &'a TokenHash,
    /// When it expires.
    pub expires_at: Timestamp,
    /// The replaced codes' hashes, now including the earlier current one.
    pub replaced_code_hashes: String,
    /// When.
    pub now: Timestamp,
}

/// Decides a registration (or a request to re-send the code).
///
/// 1. An invitation-only app refuses an address without a pending invitation.
/// 2. A member is emailed that they have an account, at most once per resend interval.
/// 3. A re-send (no password) within the resend interval of the last code, or with no sign-up
///    to re-send, writes nothing; the answer is the same as for a sent code.
/// 4. A registration (with a password) always starts the sign-up anew, replacing the earlier
///    password and code; a re-send replaces only the code. The code email offers the pending
///    invitation's role, else `user`.
pub fn register_or_resend_code<'a>(cmd: &'a SignupCommand, situation: &'a RegisterSituation) -> RegisterPlan<'a> {
    if cmd.is_invitation_only && situation.pending_role.is_none() {
        return RegisterPlan::Answer(SignupOutcome::NotInvited);
    }
    let mail = |kind, role, link| NewOutboxMessage {
        id: &cmd.message_id,
        app_id: &cmd.app_id,
        kind,
        recipient: &cmd.email,
        invitation_id: None,
        role,
        inviter_name: "",
        link,
        locale: None,
        now: cmd.now,
    };
    if let Some(member_role) = situation.member_role {
        let is_recent = wait_after(situation.last_account_exists_at, cmd.resend_interval, cmd.now).is_some();
        return RegisterPlan::TellMember {
            mail: (!is_recent).then(|| mail(MailKind::AccountExists, member_role, None)),
        };
    }
    let code_is_recent = wait_after(situation.last_code_at, cmd.resend_interval, cmd.now).is_some();
    if cmd.password_hash.is_none() && (code_is_recent || situation.earlier.is_none()) {
        return RegisterPlan::Answer(SignupOutcome::CodeSent);
    }
    let replaced_code_hashes = situation
        .earlier
        .as_ref()
        .map(|earlier| replaced_codes_with(&earlier.replaced_code_hashes, &earlier.code_hash))
        .unwrap_or_default();
    RegisterPlan::SendCode {
        signup: SignupWrite {
            app_id: &cmd.app_id,
            email: &cmd.email,
            password_hash: cmd.password_hash.as_ref(),
            code_hash: &cmd.code_hash,
            expires_at: cmd.expires_at,
            replaced_code_hashes,
            now: cmd.now,
        },
        mail: mail(
            MailKind::SignupCode,
            situation.pending_role.unwrap_or(Role::User),
            Some((cmd.code.expose(), cmd.expires_at)),
        ),
    }
}

/// What the store read about an address that verifies a code, inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct VerifySituation {
    /// The sign-up waiting for its code, if any.
    pub signup: Option<StoredSignup>,
    /// True when the address is a member already.
    pub is_member: bool,
    /// The address's pending invitation: its id and role.
    pub pending: Option<(InvitationId, Role)>,
}

/// What a verification writes, decided by [`verify_code`].
#[derive(Debug)]
pub enum VerifyPlan<'a> {
    /// Nothing is written; the answer is this (never [`VerifyOutcome::Joined`]).
    Answer(VerifyOutcome),
    /// The code is wrong: the attempt is counted. The answer is [`VerifyOutcome::WrongCode`].
    CountWrongCode {
        /// The app.
        app_id: &'a AppId,
        /// The address.
        email: &'a EmailAddress,
    },
    /// The right code: the member is created, the pending invitation (if any) accepted, and
    /// the sign-up ended.
    Join {
        /// The new member.
        member: NewMember<'a>,
        /// The pending invitation the sign-up accepts.
        accepts: Option<&'a InvitationId>,
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
}

/// A verified member created by signing up.
#[derive(Debug, Clone, Copy)]
pub struct NewMember<'a> {
    /// Its id.
    pub id: &'a UserId,
    /// Its app.
    pub app_id: &'a AppId,
    /// Its address.
    pub email: &'a EmailAddress,
    /// Its role.
    pub role: Role,
    /// The password chosen at registration (a PHC string).
    pub password_hash: &'a str,
    /// When.
    pub now: Timestamp,
}

/// Decides a code check.
///
/// 1. No sign-up (or a member meanwhile, checked once the code is right): `NoSignup`.
/// 2. Too many wrong codes: the sign-up must be restarted, even with the right code.
/// 3. An expired code is refused; so is a replaced one, without counting it as a guess.
/// 4. Any other wrong code is counted.
/// 5. The right code creates the member with the pending invitation's role (else `user`) and
///    accepts that invitation.
pub fn verify_code<'a>(cmd: &'a VerifyCommand, situation: &'a VerifySituation) -> VerifyPlan<'a> {
    let Some(signup) = &situation.signup else { return VerifyPlan::Answer(VerifyOutcome::NoSignup) };
    if signup.attempts >= cmd.max_attempts {
        return VerifyPlan::Answer(VerifyOutcome::TooManyAttempts);
    }
    if signup.expires_at <= cmd.now {
        return VerifyPlan::Answer(VerifyOutcome::Expired);
    }
    if signup.code_hash != cmd.code_hash.as_str() {
        if is_replaced_code(&signup.replaced_code_hashes, &cmd.code_hash) {
            return VerifyPlan::Answer(VerifyOutcome::Replaced);
        }
        return VerifyPlan::CountWrongCode { app_id: &cmd.app_id, email: &cmd.email };
    }
    if situation.is_member {
        return VerifyPlan::Answer(VerifyOutcome::NoSignup);
    }
    let accepts = situation.pending.as_ref().map(|(id, _)| id);
    VerifyPlan::Join {
        member: NewMember {
            id: &cmd.user_id,
            app_id: &cmd.app_id,
            email: &cmd.email,
            role: situation.pending.as_ref().map_or(Role::User, |(_, role)| *role),
            password_hash: &signup.password_hash,
            now: cmd.now,
        },
        accepts,
        audit: NewAuditEvent {
            app_id: &cmd.app_id,
            actor: Actor::User(cmd.user_id.clone()),
            action: if accepts.is_some() { AuditAction::InvitationAccepted } else { AuditAction::SignedUp },
            subject_email: Some(&cmd.email),
            invitation_id: accepts,
            detail: None,
            at: cmd.now,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::id::MessageId;
    use crate::secret::OneTimeCode;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const INTERVAL: Duration = Duration::from_secs(60);

    fn register(password: bool, is_invitation_only: bool) -> SignupCommand {
        SignupCommand {
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            password_hash: password.then(|| PasswordHash::from_stored("$argon2id$new".into())),
            code: OneTimeCode::generate(),
            code_hash: TokenHash::from_stored("new-code".into()),
            message_id: MessageId::generate(),
            expires_at: NOW.plus(Duration::from_secs(600)),
            is_invitation_only,
            resend_interval: INTERVAL,
            now: NOW,
        }
    }

    fn stored(code_hash: &str, attempts: u32) -> StoredSignup {
        StoredSignup {
            password_hash: "$argon2id$old".into(),
            code_hash: code_hash.into(),
            expires_at: NOW.plus(Duration::from_secs(300)),
            attempts,
            replaced_code_hashes: "older".into(),
        }
    }

    #[test]
    fn register_is_refused_when_the_app_is_invitation_only_and_the_address_has_no_invitation() {
        let cmd = register(true, true);

        let situation = RegisterSituation::default();

        let plan = register_or_resend_code(&cmd, &situation);

        assert!(matches!(plan, RegisterPlan::Answer(SignupOutcome::NotInvited)));
    }

    #[test]
    fn register_emails_the_code_with_the_invitations_role_when_invitation_only_and_invited() {
        let cmd = register(true, true);
        let situation = RegisterSituation { pending_role: Some(Role::Admin), ..RegisterSituation::default() };

        let plan = register_or_resend_code(&cmd, &situation);

        let RegisterPlan::SendCode { signup, mail } = plan else { panic!("{plan:?}") };
        assert_eq!((mail.kind, mail.role), (MailKind::SignupCode, Role::Admin));
        assert_eq!(signup.password_hash, cmd.password_hash.as_ref());
        assert_eq!(signup.replaced_code_hashes, "");
    }

    #[test]
    fn register_tells_a_member_once_per_interval_when_the_address_is_a_member() {
        let cmd = register(true, false);
        let first = RegisterSituation { member_role: Some(Role::Admin), ..RegisterSituation::default() };
        let again = RegisterSituation { last_account_exists_at: Some(NOW.minus(INTERVAL / 2)), ..first.clone() };

        let first = register_or_resend_code(&cmd, &first);
        let again = register_or_resend_code(&cmd, &again);

        let RegisterPlan::TellMember { mail: Some(mail) } = &first else { panic!("{first:?}") };
        assert_eq!((mail.kind, mail.role, mail.link), (MailKind::AccountExists, Role::Admin, None));
        assert!(matches!(again, RegisterPlan::TellMember { mail: None }));
        assert_eq!(again.answer(), SignupOutcome::AlreadyMember);
    }

    #[test]
    fn register_replaces_the_earlier_password_and_code_even_within_the_interval() {
        let cmd = register(true, false);
        let situation = RegisterSituation {
            earlier: Some(stored("earlier-code", 3)),
            last_code_at: Some(NOW),
            ..RegisterSituation::default()
        };

        let plan = register_or_resend_code(&cmd, &situation);

        let RegisterPlan::SendCode { signup, .. } = plan else { panic!("{plan:?}") };
        assert!(signup.password_hash.is_some());
        assert_eq!(signup.replaced_code_hashes, "older earlier-code");
    }

    #[test]
    fn resend_replaces_only_the_code_when_the_interval_has_passed() {
        let cmd = register(false, false);
        let situation = RegisterSituation {
            earlier: Some(stored("earlier-code", 0)),
            last_code_at: Some(NOW.minus(INTERVAL)),
            ..RegisterSituation::default()
        };

        let plan = register_or_resend_code(&cmd, &situation);

        let RegisterPlan::SendCode { signup, mail } = plan else { panic!("{plan:?}") };
        assert_eq!((signup.password_hash, mail.role), (None, Role::User));
    }

    #[test]
    fn resend_writes_nothing_but_answers_code_sent_when_recent_or_nothing_was_started() {
        let cmd = register(false, false);
        let recent = RegisterSituation {
            earlier: Some(stored("earlier-code", 0)),
            last_code_at: Some(NOW.minus(INTERVAL / 2)),
            ..RegisterSituation::default()
        };

        for situation in [recent, RegisterSituation::default()] {
            let plan = register_or_resend_code(&cmd, &situation);

            assert!(matches!(plan, RegisterPlan::Answer(SignupOutcome::CodeSent)), "{plan:?}");
        }
    }

    #[test]
    fn replaced_codes_keep_the_newest_few() {
        let list = (0..REPLACED_CODES_KEPT).map(|n| n.to_string()).collect::<Vec<_>>().join(" ");

        let list = replaced_codes_with(&list, "new");

        assert_eq!(list.split(' ').count(), REPLACED_CODES_KEPT);
        assert!(list.ends_with(" new") && !list.starts_with("0 "));
        assert!(is_replaced_code(&list, &TokenHash::from_stored("new".into())));
    }

    fn verify(code_hash: &str) -> VerifyCommand {
        VerifyCommand {
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            code_hash: TokenHash::from_stored(code_hash.into()),
            user_id: UserId::generate(),
            max_attempts: 5,
            now: NOW,
        }
    }

    fn waiting(signup: StoredSignup) -> VerifySituation {
        VerifySituation { signup: Some(signup), ..VerifySituation::default() }
    }

    #[test]
    fn verify_answers_without_writing_when_the_code_cannot_be_checked() {
        let expired = StoredSignup { expires_at: NOW, ..stored("code", 0) };
        let member = VerifySituation { is_member: true, ..waiting(stored("code", 0)) };
        let cases = [
            (VerifySituation::default(), "code", VerifyOutcome::NoSignup),
            (waiting(stored("code", 5)), "code", VerifyOutcome::TooManyAttempts),
            (waiting(expired), "code", VerifyOutcome::Expired),
            (waiting(stored("code", 0)), "older", VerifyOutcome::Replaced),
            (member, "code", VerifyOutcome::NoSignup),
        ];
        for (situation, typed, expected) in cases {
            let cmd = verify(typed);

            let plan = verify_code(&cmd, &situation);

            let VerifyPlan::Answer(answer) = plan else { panic!("{expected:?}: {plan:?}") };
            assert_eq!(format!("{answer:?}"), format!("{expected:?}"));
        }
    }

    #[test]
    fn verify_counts_the_attempt_when_the_code_is_wrong() {
        let (cmd, situation) = (verify("guess"), waiting(stored("code", 4)));

        let plan = verify_code(&cmd, &situation);

        assert!(matches!(plan, VerifyPlan::CountWrongCode { .. }));
    }

    #[test]
    fn verify_creates_a_user_with_the_registered_password_when_the_code_is_right() {
        let (cmd, situation) = (verify("code"), waiting(stored("code", 4)));

        let plan = verify_code(&cmd, &situation);

        let VerifyPlan::Join { member, accepts, audit } = plan else { panic!("{plan:?}") };
        assert_eq!((member.role, member.password_hash, accepts), (Role::User, "$argon2id$old", None));
        assert_eq!(audit.action, AuditAction::SignedUp);
    }

    #[test]
    fn verify_accepts_the_pending_invitation_with_its_role_when_the_address_was_invited() {
        let cmd = verify("code");
        let invitation = InvitationId::generate();
        let situation =
            VerifySituation { pending: Some((invitation.clone(), Role::Admin)), ..waiting(stored("code", 0)) };

        let plan = verify_code(&cmd, &situation);

        let VerifyPlan::Join { member, accepts, audit } = plan else { panic!("{plan:?}") };
        assert_eq!((member.role, accepts), (Role::Admin, Some(&invitation)));
        assert_eq!((audit.action, audit.invitation_id), (AuditAction::InvitationAccepted, Some(&invitation)));
    }
}
