//! Reminders before an invitation expires (issue 18): an app's `reminder_before_expiry_hours`
//! mails one reminder, with the same join link, that many hours before the link expires.
//!
//! - **Scheduled with the link.** Only the SHA-256 of a token is kept (DESIGN.md, "Links and
//!   tokens"), so the one moment the plaintext link exists is when it is issued. An invite or a
//!   re-send therefore queues, beside the invitation email, an outbox message of kind
//!   `reminder` carrying the same token, due at `expires_at - N hours`
//!   ([`reminder_due_at`]). That row is the durable schedule: the delivery worker of any
//!   instance claims it once it is due, with the outbox's claim (one sender per message on
//!   PostgreSQL with several instances), and its token is erased when it ends, as for every
//!   email.
//! - **One per link.** A re-send issues a new link and expiry: the old link's unsent reminder
//!   is cancelled with its other unsent emails, and the new link gets a reminder of its own.
//! - **Checked when it falls due** ([`send_or_cancel`]): it is sent only while the invitation is
//!   pending with that very link, not yet expired, and the app still has reminders switched
//!   on; otherwise it is cancelled (accepted, revoked, replaced, expired, switched off) and
//!   its token erased.
//! - **Setting changes.** Switching reminders on applies to links issued from then on (earlier
//!   links' tokens no longer exist anywhere). Switching them off cancels the reminders not yet
//!   sent, at the latest when each falls due. A new number of hours applies to links issued
//!   after the change; a reminder already scheduled keeps its time.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::model::InvitationStatus;

/// An hour.
const HOUR: Duration = Duration::from_secs(60 * 60);

/// When the reminder of a link issued at `now`, expiring at `expires_at`, is due, for an app
/// whose `reminder_before_expiry_hours` is `hours`: `hours` before the expiry. `None` when
/// reminders are off, or when that time is not after `now` (a link that lives no longer than
/// the lead gets no reminder: its invitation email is the reminder).
pub fn reminder_due_at(hours: Option<u32>, expires_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let due = expires_at.minus(HOUR * hours?);
    (due > now).then_some(due)
}

/// True when `hours` before expiry is a valid reminder lead for links living `ttl`: a positive
/// number of hours, shorter than the lifetime.
pub fn lead_fits_lifetime(hours: u32, ttl: Duration) -> bool {
    hours > 0 && HOUR * hours < ttl
}

/// What the store read about a due reminder, inside the claim's transaction.
#[derive(Debug, Clone, Copy)]
pub struct DueReminder {
    /// The invitation's stored status and its current link's expiry; `None` when it is gone.
    pub invitation: Option<(InvitationStatus, Timestamp)>,
    /// The expiry of the link the reminder carries.
    pub link_expires_at: Timestamp,
    /// The app's `reminder_before_expiry_hours` now.
    pub hours: Option<u32>,
    /// When.
    pub now: Timestamp,
}

/// What becomes of a due reminder, decided by [`send_or_cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderPlan {
    /// Claim and send it.
    Send,
    /// It ends `cancelled` (its token erased), for this reason (kept as its last error).
    Cancel(&'static str),
}

/// Decides a reminder that fell due: sent only for a pending invitation whose current link is
/// the one it carries, before that link expires, while the app still has reminders on.
pub fn send_or_cancel(due: DueReminder) -> ReminderPlan {
    let Some((status, expires_at)) = due.invitation else {
        return ReminderPlan::Cancel("the invitation no longer exists");
    };
    match status {
        InvitationStatus::Accepted => ReminderPlan::Cancel("the invitation was accepted"),
        InvitationStatus::Revoked => ReminderPlan::Cancel("the invitation was revoked"),
        InvitationStatus::Expired => ReminderPlan::Cancel("the invitation expired"),
        InvitationStatus::Pending if expires_at != due.link_expires_at => {
            ReminderPlan::Cancel("the invitation was re-sent with a new link")
        }
        InvitationStatus::Pending if expires_at <= due.now => ReminderPlan::Cancel("the invitation expired"),
        InvitationStatus::Pending if due.hours.is_none() => ReminderPlan::Cancel("reminders were switched off"),
        InvitationStatus::Pending => ReminderPlan::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    #[test]
    fn a_reminder_is_due_the_given_hours_before_expiry_when_that_is_still_ahead() {
        let expires = NOW.plus(DAY * 7);
        let cases = [
            (None, None),
            (Some(24), Some(expires.minus(DAY))),
            (Some(1), Some(expires.minus(HOUR))),
            // Exactly the lifetime, or more: the reminder would be due now or before.
            (Some(7 * 24), None),
            (Some(8 * 24), None),
        ];
        for (hours, expected) in cases {
            assert_eq!(reminder_due_at(hours, expires, NOW), expected, "{hours:?}");
        }
    }

    #[test]
    fn the_lead_must_be_positive_and_shorter_than_the_lifetime() {
        let cases = [(0, DAY, false), (1, DAY, true), (23, DAY, true), (24, DAY, false), (25, DAY, false)];
        for (hours, ttl, expected) in cases {
            assert_eq!(lead_fits_lifetime(hours, ttl), expected, "{hours} h before a {ttl:?} lifetime");
        }
    }

    #[test]
    fn a_due_reminder_is_sent_only_for_the_pending_current_link_while_reminders_are_on() {
        let link = NOW.plus(HOUR);
        let due = |invitation, hours| DueReminder { invitation, link_expires_at: link, hours, now: NOW };
        let pending = Some((InvitationStatus::Pending, link));
        let cases = [
            (due(pending, Some(2)), ReminderPlan::Send),
            (due(None, Some(2)), ReminderPlan::Cancel("the invitation no longer exists")),
            (
                due(Some((InvitationStatus::Accepted, link)), Some(2)),
                ReminderPlan::Cancel("the invitation was accepted"),
            ),
            (due(Some((InvitationStatus::Revoked, link)), Some(2)), ReminderPlan::Cancel("the invitation was revoked")),
            (
                due(Some((InvitationStatus::Pending, link.plus(DAY))), Some(2)),
                ReminderPlan::Cancel("the invitation was re-sent with a new link"),
            ),
            (due(pending, None), ReminderPlan::Cancel("reminders were switched off")),
            (
                DueReminder { invitation: pending, link_expires_at: link, hours: Some(2), now: link },
                ReminderPlan::Cancel("the invitation expired"),
            ),
        ];
        for (situation, expected) in cases {
            assert_eq!(send_or_cancel(situation), expected, "{situation:?}");
        }
    }
}
