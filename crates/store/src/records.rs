//! What both backends read the same way, whatever their SQL: a claimed outbox message made
//! ready to send, an outbox status as an invitation's delivery state, and the error for a
//! stored value this build does not know. (What they write — the email to queue, the audit
//! record — is part of the plans of `usher_core::rules`.)

use std::error::Error;
use std::fmt;

use usher_core::model::{App, DeliveryStatus, InvitationLink, MailKind, OutboxMessage, ResetLink, SignupCode};
use usher_core::secret::{InvitationToken, OneTimeCode, ResetToken};
use usher_core::{AppId, EmailAddress, MessageId, Role, Timestamp};

/// A stored enumeration value this build does not know.
#[derive(Debug)]
pub(crate) struct UnknownValue(pub(crate) String);

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected stored value `{}`", self.0)
    }
}

impl Error for UnknownValue {}

/// What an outbox status means for the invitation's delivery. A message in flight is still
/// queued as far as anyone watching is concerned; a cancelled one was given up on.
pub(crate) fn delivery_status(outbox_status: &str) -> Option<DeliveryStatus> {
    match outbox_status {
        "queued" | "sending" => Some(DeliveryStatus::Queued),
        "sent" => Some(DeliveryStatus::Sent),
        "failed" | "cancelled" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// The last error recorded on a message given up on because it lacks the link its kind needs.
pub(crate) const NO_USABLE_LINK: &str = "the message has no usable link";

/// A due message as stored, before its app is attached.
pub(crate) struct DueMessage {
    pub(crate) id: MessageId,
    pub(crate) kind: MailKind,
    pub(crate) to: EmailAddress,
    pub(crate) app_id: AppId,
    pub(crate) role: Role,
    pub(crate) inviter_name: String,
    pub(crate) token: Option<String>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) attempts: u32,
    pub(crate) created_at: Timestamp,
}

/// The link secrets of a due message, parsed.
pub(crate) struct Links {
    invitation: Option<InvitationLink>,
    reset: Option<ResetLink>,
    code: Option<SignupCode>,
}

impl DueMessage {
    /// The link its kind needs, parsed; `None` when it has no usable one. That cannot happen
    /// while the invariants hold (the link is erased only with a final status), and retrying
    /// would never help, so the caller gives up on the message for good ([`NO_USABLE_LINK`]).
    pub(crate) fn links(&self) -> Option<Links> {
        let token = self.token.as_deref();
        let mut links = Links { invitation: None, reset: None, code: None };
        match (self.kind, self.expires_at) {
            (MailKind::SignIn | MailKind::AccountExists, _) => {}
            (MailKind::Invitation, Some(expires_at)) => {
                links.invitation = Some(InvitationLink { token: token.and_then(InvitationToken::parse)?, expires_at });
            }
            (MailKind::PasswordReset, Some(expires_at)) => {
                links.reset = Some(ResetLink { token: token.and_then(ResetToken::parse)?, expires_at });
            }
            (MailKind::SignupCode, Some(expires_at)) => {
                links.code = Some(SignupCode { code: token.and_then(OneTimeCode::parse)?, expires_at });
            }
            (MailKind::Invitation | MailKind::PasswordReset | MailKind::SignupCode, None) => return None,
        }
        Some(links)
    }

    /// The message ready to send, with its app (as it is now) and its parsed `links`.
    pub(crate) fn into_message(self, app: App, links: Links) -> OutboxMessage {
        OutboxMessage {
            id: self.id,
            kind: self.kind,
            to: self.to,
            app,
            role: self.role,
            inviter_name: self.inviter_name,
            invitation: links.invitation,
            reset: links.reset,
            code: links.code,
            attempts: self.attempts,
            created_at: self.created_at,
        }
    }
}
