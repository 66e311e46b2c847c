//! What both backends write and read the same way, whatever their SQL: a queued email, an
//! audit record, and the error for a stored value this build does not know.

use std::error::Error;
use std::fmt;

use usher_core::model::{Actor, AuditAction, MailKind};
use usher_core::{AppId, EmailAddress, InvitationId, MessageId, Role, Timestamp};

/// A message to queue in the outbox.
pub(crate) struct NewMessage<'a> {
    /// Its id.
    pub(crate) id: &'a MessageId,
    /// The app it is sent for.
    pub(crate) app_id: &'a AppId,
    /// What it is for.
    pub(crate) kind: MailKind,
    /// The recipient.
    pub(crate) recipient: &'a EmailAddress,
    /// The invitation it belongs to, for invitation emails.
    pub(crate) invitation_id: Option<&'a InvitationId>,
    /// The role offered or held.
    pub(crate) role: Role,
    /// Who sent it.
    pub(crate) inviter_name: &'a str,
    /// The link secret (invitation or reset token, sign-up code) and its expiry.
    pub(crate) link: Option<(&'a str, Timestamp)>,
    /// When it is queued (and first due).
    pub(crate) now: Timestamp,
}

/// One audit record.
pub(crate) struct Event<'a> {
    /// The app it happened in.
    pub(crate) app_id: &'a AppId,
    /// Who did it.
    pub(crate) actor: &'a Actor,
    /// What was done.
    pub(crate) action: AuditAction,
    /// The address it concerned, if any.
    pub(crate) subject_email: Option<&'a EmailAddress>,
    /// The invitation it concerned, if any.
    pub(crate) invitation_id: Option<&'a InvitationId>,
    /// When.
    pub(crate) at: Timestamp,
}

/// A stored enumeration value this build does not know.
#[derive(Debug)]
pub(crate) struct UnknownValue(pub(crate) String);

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected stored value `{}`", self.0)
    }
}

impl Error for UnknownValue {}
