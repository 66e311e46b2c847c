//! The outbox: emails written in the same transaction as the change they announce, then
//! claimed, sent and recorded by the delivery worker.
//!
//! A message moves `queued` → `sending` (claimed by one registered instance) → `sent` |
//! `failed`, or back to `queued` for a retry. A claim lasts as long as its instance: when the
//! instance is gone the message is released (`instances`), so a worker that died mid-send
//! delays an email by seconds but never loses it, and a live one is never overtaken. A message whose link was
//! replaced before it went out is `cancelled`, so a dead link is not mailed. The plaintext
//! invitation token lives only in `queued`/`sending` rows and is erased on every other status.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, ToSql, Transaction, params};
use usher_core::model::{
    App, AttemptOutcome, DeliveryAttempt, InvitationStatus, MailKind, MailTemplate, OutboxMessage,
};
use usher_core::store::OutboxBacklog;
use usher_core::{AppId, Clock, EmailAddress, InstanceId, InvitationId, Locale, MessageId, SystemClock, Timestamp};

use super::rows::app_by_id;
use crate::records::{self, DueMessage, NO_USABLE_LINK};
use usher_core::rules::NewOutboxMessage;
use usher_core::rules::invite::{ALLOWANCE_KINDS, SentToday};
use usher_core::rules::outbox::{FailedAttempt, FailurePlan, record_failed_attempt};
use usher_core::rules::reminders::{DueReminder, ReminderPlan, send_or_cancel};

/// How many messages are queued and being sent.
pub(super) fn backlog(tx: &Transaction<'_>) -> rusqlite::Result<OutboxBacklog> {
    let mut statement = tx.prepare_cached(
        "SELECT status, COUNT(*) FROM outbox_messages WHERE status IN ('queued', 'sending') GROUP BY status",
    )?;
    let mut rows = statement.query([])?;
    let mut backlog = OutboxBacklog::default();
    while let Some(row) = rows.next()? {
        let count: u64 = row.get(1)?;
        match row.get_ref(0)?.as_str()? {
            "queued" => backlog.queued = count,
            _ => backlog.sending = count,
        }
    }
    Ok(backlog)
}

/// Queues `message`, due at its `now` (at once, but for a reminder: when it falls due).
pub(super) fn enqueue(tx: &Transaction<'_>, message: &NewOutboxMessage<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, \
                                      token, expires_at, status, next_attempt_at, created_at, locale) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?11, ?12)",
    )?
    .execute(params![
        message.id.as_str(),
        message.app_id.as_str(),
        message.kind.as_str(),
        message.recipient.as_str(),
        message.invitation_id.map(InvitationId::as_str),
        message.role.as_str(),
        message.inviter_name,
        message.link.map(|(token, _)| token),
        message.link.map(|(_, expires_at)| expires_at.as_millis()),
        message.now.as_millis(),
        message.now.as_millis(),
        message.locale.map(Locale::as_str),
    ])?;
    Ok(())
}

/// When the latest email of one of `kinds` to `recipient` in `app_id` queued after `since`
/// was queued.
pub(super) fn latest_to(
    tx: &Transaction<'_>,
    app_id: &AppId,
    recipient: &EmailAddress,
    kinds: &[MailKind],
    since: Timestamp,
) -> rusqlite::Result<Option<Timestamp>> {
    let placeholders: Vec<String> = (4..4 + kinds.len()).map(|n| format!("?{n}")).collect();
    let (app_id, recipient, since) = (app_id.as_str(), recipient.as_str(), since.as_millis());
    let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
    let mut values: Vec<&dyn ToSql> = vec![&app_id, &recipient, &since];
    values.extend(kinds.iter().map(|kind| kind as &dyn ToSql));
    let latest: Option<i64> = tx
        .prepare_cached(&format!(
            "SELECT MAX(created_at) FROM outbox_messages \
             WHERE app_id = ?1 AND recipient = ?2 AND created_at > ?3 AND kind IN ({})",
            placeholders.join(", ")
        ))?
        .query_row(values.as_slice(), |row| row.get(0))?;
    Ok(latest.map(Timestamp::from_millis))
}

/// The app's invitation emails ([`ALLOWANCE_KINDS`]) queued after `since`: how many, and
/// when the oldest was. (The kind is written into the SQL, not bound, so SQLite can use the
/// partial index of migration 8.)
pub(super) fn invitation_emails_since(
    tx: &Transaction<'_>,
    app_id: &AppId,
    since: Timestamp,
) -> rusqlite::Result<SentToday> {
    let [kind] = ALLOWANCE_KINDS;
    let (count, oldest): (u32, Option<i64>) = tx
        .prepare_cached(&format!(
            "SELECT COUNT(*), MIN(created_at) FROM outbox_messages \
             WHERE app_id = ?1 AND kind = '{}' AND created_at > ?2",
            kind.as_str()
        ))?
        .query_row(params![app_id.as_str(), since.as_millis()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(SentToday { count, oldest: oldest.map(Timestamp::from_millis) })
}

/// Cancels the invitation's messages that have not gone out, because their link is about to
/// be replaced. A claimed message is being sent right now and is left to its worker (if the
/// worker dies, releasing it cancels it); one claimed by an older build whose lease ran out
/// would be claimed again, so it is cancelled too.
pub(super) fn cancel_unsent(
    tx: &Transaction<'_>,
    invitation_id: &InvitationId,
    now: Timestamp,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE outbox_messages SET status = 'cancelled', token = NULL, lease_until = NULL \
         WHERE invitation_id = ?1 \
           AND (status = 'queued' OR (status = 'sending' AND claimed_by IS NULL AND lease_until <= ?2))",
    )?
    .execute(params![invitation_id.as_str(), now.as_millis()])?;
    Ok(())
}

/// Claims up to `limit` due messages for instance `by` (which must be registered) and returns
/// them ready to send.
pub(super) fn claim(
    tx: &Transaction<'_>,
    by: &InstanceId,
    now: Timestamp,
    limit: u32,
) -> rusqlite::Result<Vec<OutboxMessage>> {
    if !super::instances::is_registered(tx, by)? {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    super::instances::release_claims_of(tx, by)?;
    let due = tx
        .prepare_cached(
            // Two scans that each stop at the limit: one condition with OR made SQLite sort
            // the whole backlog for every claim, which grew with the backlog. The first finds
            // claims an older build made with a lease (no instance) that ran out.
            "SELECT * FROM ( \
                 SELECT id, kind, recipient, app_id, role, inviter_name, token, expires_at, attempts, created_at, \
                        COALESCE(locale, (SELECT i.locale FROM invitations i WHERE i.id = outbox_messages.invitation_id)) AS locale, next_attempt_at \
                 FROM outbox_messages WHERE status = 'sending' AND claimed_by IS NULL AND lease_until <= ?1 LIMIT ?2) \
             UNION ALL \
             SELECT * FROM ( \
                 SELECT id, kind, recipient, app_id, role, inviter_name, token, expires_at, attempts, created_at, \
                        COALESCE(locale, (SELECT i.locale FROM invitations i WHERE i.id = outbox_messages.invitation_id)) AS locale, next_attempt_at \
                 FROM outbox_messages WHERE status = 'queued' AND next_attempt_at <= ?1 \
                 ORDER BY next_attempt_at LIMIT ?2) \
             ORDER BY next_attempt_at, id \
             LIMIT ?2",
        )?
        .query_map(params![now.as_millis(), limit], |row| records::due_message(row))?
        .collect::<rusqlite::Result<Vec<DueMessage>>>()?;

    let mut claimed = Vec::with_capacity(due.len());
    // A claim's messages come from few apps: each is read once.
    let mut apps: HashMap<AppId, (App, Vec<MailTemplate>)> = HashMap::new();
    for row in due {
        let Some(links) = row.links() else {
            finish(tx, &row.id, "failed", NO_USABLE_LINK)?;
            continue;
        };
        if !apps.contains_key(&row.app_id) {
            let app = app_by_id(tx, &row.app_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let templates = super::apps::mail_templates(tx, &row.app_id)?;
            apps.insert(row.app_id.clone(), (app, templates));
        }
        let (app, templates) = &apps[&row.app_id];
        if row.kind == MailKind::Reminder
            && let ReminderPlan::Cancel(reason) = send_or_cancel(DueReminder {
                invitation: reminded_invitation(tx, &row.id)?,
                link_expires_at: row.expires_at.unwrap_or(now),
                hours: app.settings.reminder_before_expiry_hours,
                now,
            })
        {
            finish(tx, &row.id, "cancelled", reason)?;
            continue;
        }
        tx.prepare_cached(
            "UPDATE outbox_messages SET status = 'sending', claimed_by = ?1, lease_until = NULL, \
                                        attempts = attempts + 1 \
             WHERE id = ?2",
        )?
        .execute(params![by.as_str(), row.id.as_str()])?;
        claimed.push(row.into_message(app.clone(), links, templates));
    }
    Ok(claimed)
}

/// The stored status and current expiry of the invitation whose reminder `id` is, if it
/// still exists ([`send_or_cancel`] decides).
fn reminded_invitation(
    tx: &Transaction<'_>,
    id: &MessageId,
) -> rusqlite::Result<Option<(InvitationStatus, Timestamp)>> {
    tx.prepare_cached(
        "SELECT i.status, i.expires_at FROM outbox_messages m JOIN invitations i ON i.id = m.invitation_id \
         WHERE m.id = ?1",
    )?
    .query_row(params![id.as_str()], |row| {
        let (status, expires_at): (String, i64) = (row.get(0)?, row.get(1)?);
        Ok(InvitationStatus::parse(&status).map(|status| (status, Timestamp::from_millis(expires_at))))
    })
    .optional()
    .map(Option::flatten)
}

/// Records that the transport accepted the message with `reply`, and erases its link secret.
pub(super) fn mark_sent(tx: &Transaction<'_>, id: &MessageId, reply: &str, now: Timestamp) -> rusqlite::Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE outbox_messages SET status = 'sent', sent_at = ?1, token = NULL, lease_until = NULL, \
                                        claimed_by = NULL \
             WHERE id = ?2",
        )?
        .execute(params![now.as_millis(), id.as_str()])?;
    if changed == 0 {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    record_attempt(tx, id, AttemptOutcome::Sent, Some(reply), now)
}

/// Adds the attempt that just ended to the message's history (see [`attempts`]).
fn record_attempt(
    tx: &Transaction<'_>,
    id: &MessageId,
    outcome: AttemptOutcome,
    reply: Option<&str>,
    at: Timestamp,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO delivery_attempts (message_id, attempt, app_id, invitation_id, at, outcome, reply) \
         SELECT id, attempts, app_id, invitation_id, ?2, ?3, ?4 FROM outbox_messages WHERE id = ?1 \
         ON CONFLICT (message_id, attempt) DO NOTHING",
    )?
    .execute(params![id.as_str(), at.as_millis(), outcome.as_str(), reply])?;
    Ok(())
}

/// Every delivery attempt of the emails of the app's invitation `id`: the newest email first, and its latest attempt first.
pub(super) fn attempts(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &InvitationId,
) -> rusqlite::Result<Vec<DeliveryAttempt>> {
    tx.prepare_cached(
        "SELECT a.message_id, a.attempt, a.at, a.outcome, a.reply \
         FROM delivery_attempts a JOIN outbox_messages m ON m.id = a.message_id \
         WHERE a.invitation_id = ?1 AND a.app_id = ?2 ORDER BY m.created_at DESC, m.id DESC, a.attempt DESC",
    )?
    .query_map(params![id.as_str(), app_id.as_str()], |row| records::delivery_attempt(row))?
    .collect()
}

/// Records a failed attempt: queued again for `retry_at`, or failed for good without one.
///
/// A message that was cancelled, or whose invitation has been re-sent since it was claimed,
/// is not retried but ends `cancelled`: its link no longer works, and the newer message
/// carries the current one. Nothing happens when `by` no longer holds the claim: it was
/// presumed dead, and the message is someone else's now.
pub(super) fn mark_failed(
    tx: &Transaction<'_>,
    by: &InstanceId,
    id: &MessageId,
    error: &str,
    retry_at: Option<Timestamp>,
) -> rusqlite::Result<()> {
    let holds_claim: bool = tx.query_row(
        "SELECT status = 'sending' AND claimed_by IS ?1 FROM outbox_messages WHERE id = ?2",
        params![by.as_str(), id.as_str()],
        |row| row.get(0),
    )?;
    let is_replaced: bool = tx.query_row(
        "SELECT m.status = 'cancelled' OR COALESCE(CASE WHEN m.kind = 'reminder' THEN i.expires_at <> m.expires_at \
                                                        ELSE i.latest_message_id <> m.id END, 0) \
         FROM outbox_messages m LEFT JOIN invitations i ON i.id = m.invitation_id \
         WHERE m.id = ?1",
        params![id.as_str()],
        |row| row.get(0),
    )?;
    // The contract passes no time for a failure; the attempt's time is for people to read.
    let now = SystemClock.now();
    match record_failed_attempt(FailedAttempt { holds_claim, is_replaced, retry_at }) {
        FailurePlan::Ignore => Ok(()),
        FailurePlan::Cancel => {
            record_attempt(tx, id, AttemptOutcome::Cancelled, Some(error), now)?;
            finish(tx, id, "cancelled", error)
        }
        FailurePlan::Retry(retry_at) => {
            record_attempt(tx, id, AttemptOutcome::Retry, Some(error), now)?;
            tx.execute(
                "UPDATE outbox_messages \
                 SET status = 'queued', next_attempt_at = ?1, lease_until = NULL, claimed_by = NULL, last_error = ?2 \
                 WHERE id = ?3",
                params![retry_at.as_millis(), error, id.as_str()],
            )?;
            Ok(())
        }
        FailurePlan::GiveUp => {
            record_attempt(tx, id, AttemptOutcome::Failed, Some(error), now)?;
            finish(tx, id, "failed", error)
        }
    }
}

/// Gives a message the final `status` with `error`, and erases its link secret.
fn finish(tx: &Transaction<'_>, id: &MessageId, status: &str, error: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE outbox_messages SET status = ?1, token = NULL, lease_until = NULL, claimed_by = NULL, last_error = ?2 \
         WHERE id = ?3",
        params![status, error, id.as_str()],
    )?;
    Ok(())
}
