//! The decisions. For each operation with rules, one pure function takes the *situation* that
//! a store read inside the operation's transaction and returns the *plan* the store then
//! carries out in that same transaction: which rows to write, which email to queue, which
//! audit record to add, or a refusal that writes nothing.
//!
//! The backends read and write; they decide nothing, so a rule is written once, here, and
//! tested here without a database (each module's tests are the table of cases of DESIGN.md).
//!
//! | operation | decision |
//! | --- | --- |
//! | invite, re-send | [`invite::invite_resend_or_remind`] |
//! | an address's domain (invite, register, sign-up) | [`domains::refused_domain`] |
//! | revoke an invitation | [`invite::revoke_if_pending`] |
//! | claim an `Idempotency-Key` | [`idempotency::claim_key`] |
//! | join with an invitation link | [`join::join_with_invitation`] |
//! | sign-up: register (or re-send the code) | [`signup::register_or_resend_code`] |
//! | sign-up: verify the code | [`signup::verify_code`] |
//! | password reset: request a link | [`reset::issue_reset_link`] |
//! | password reset: use the link | [`reset::reset_with_link`] |
//! | revoke an API key | [`keys::revoke_unless_last_key`] |
//! | sign in to the console with a one-time link | [`console::use_console_link`] |
//! | does a console session still hold (each page); which ended ones a cleanup deletes | [`console::session_standing`], [`console::ended_sessions`] |
//! | change a member's role or state | [`members::update_keeps_an_admin`] |
//! | remove a member | [`members::removal_keeps_an_admin`] |
//! | record a failed delivery attempt | [`outbox::record_failed_attempt`] |
//! | presume other instances dead | [`outbox::may_judge_others`] |
//! | record a webhook delivery attempt | [`webhooks::after_attempt`] |
//! | record an open of a join link | [`opens::record_open`] |
//! | schedule a reminder before expiry (invite, re-send) | [`reminders::reminder_due_at`] |
//! | send or cancel a reminder that fell due | [`reminders::send_or_cancel`] |

pub mod app_changes;
pub mod console;
pub mod domains;
pub mod idempotency;
pub mod invite;
pub mod join;
pub mod keys;
pub mod members;
pub mod opens;
pub mod outbox;
pub mod reminders;
pub mod reset;
pub mod signup;
pub mod webhooks;

use std::fmt;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::id::{AppId, InvitationId, MessageId};
use crate::model::{Actor, AuditAction, MailKind};
use crate::role::Role;

/// An email to queue in the outbox, due at once, in the transaction of the change it announces.
#[derive(Clone, Copy)]
pub struct NewOutboxMessage<'a> {
    /// Its id.
    pub id: &'a MessageId,
    /// The app it is sent for.
    pub app_id: &'a AppId,
    /// What it is for.
    pub kind: MailKind,
    /// The recipient.
    pub recipient: &'a EmailAddress,
    /// The invitation it belongs to, for invitation emails.
    pub invitation_id: Option<&'a InvitationId>,
    /// The role offered or held.
    pub role: Role,
    /// Who sent it.
    pub inviter_name: &'a str,
    /// The link secret (invitation or reset token, sign-up code) and its expiry.
    pub link: Option<(&'a str, Timestamp)>,
    /// The language asked for; `None`: its invitation's, else the app's default, when it is sent.
    pub locale: Option<crate::locale::Locale>,
    /// When it is queued (and first due).
    pub now: Timestamp,
}

impl fmt::Debug for NewOutboxMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The link secret is never printed.
        f.debug_struct("NewOutboxMessage")
            .field("id", self.id)
            .field("kind", &self.kind)
            .field("invitation_id", &self.invitation_id)
            .field("role", &self.role)
            .field("has_link", &self.link.is_some())
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

/// One audit record, written in the transaction of the change it records.
#[derive(Clone, Debug)]
pub struct NewAuditEvent<'a> {
    /// The app it happened in.
    pub app_id: &'a AppId,
    /// Who did it.
    pub actor: Actor,
    /// What was done.
    pub action: AuditAction,
    /// The address it concerned, if any.
    pub subject_email: Option<&'a EmailAddress>,
    /// The invitation it concerned, if any.
    pub invitation_id: Option<&'a InvitationId>,
    /// What changed, when the action says more than its subject ([`app_changes`]).
    pub detail: Option<serde_json::Value>,
    /// When.
    pub at: Timestamp,
}

/// How long until another email is allowed, when one queued at `last` is less than `interval`
/// before `now`; `None` when an email may go now.
fn wait_after(last: Option<Timestamp>, interval: Duration, now: Timestamp) -> Option<Duration> {
    let next = last?.plus(interval);
    (next > now).then(|| now.until(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn wait_after_counts_only_an_email_within_the_interval() {
        assert_eq!(wait_after(None, MINUTE, NOW), None);
        assert_eq!(wait_after(Some(NOW.minus(MINUTE)), MINUTE, NOW), None);
        assert_eq!(wait_after(Some(NOW.minus(Duration::from_secs(45))), MINUTE, NOW), Some(Duration::from_secs(15)));
        assert_eq!(wait_after(Some(NOW), MINUTE, NOW), Some(MINUTE));
    }
}
