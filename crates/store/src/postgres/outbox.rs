//! The outbox: emails written in the same transaction as the change they announce, then
//! claimed, sent and recorded by the delivery workers of every instance.
//!
//! A message moves `queued` → `sending` (claimed by one registered instance) → `sent` |
//! `failed`, or back to `queued` for a retry. A claim lasts as long as its instance: when the
//! instance is gone the message is released (`instances`), so a worker that died mid-send
//! delays an email by seconds but never loses it, and a live one is never overtaken. A message whose link was
//! replaced before it went out is `cancelled`, so a dead link is not mailed. The plaintext
//! link secret lives only in `queued`/`sending` rows and is erased on every other status.
//!
//! Several instances claim at once: the claim locks the rows it picks and skips rows another
//! claimer has locked (`FOR UPDATE SKIP LOCKED`), so no message is claimed twice and no claimer
//! waits for another.

use std::collections::HashMap;

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{AttemptOutcome, DeliveryAttempt, InvitationStatus, MailKind, MailTemplate, OutboxMessage};
use usher_core::store::{OutboxBacklog, SentMessage};
use usher_core::{AppId, Clock, EmailAddress, InstanceId, InvitationId, Locale, MessageId, SystemClock, Timestamp};

use super::rows::{APP_COLUMNS, AddressRow, AppRow, bigint};
use super::{instances, locks};
use crate::records::{self, DueMessage, NO_USABLE_LINK};
use usher_core::rules::NewOutboxMessage;
use usher_core::rules::outbox::{FailedAttempt, FailurePlan, record_failed_attempt};
use usher_core::rules::reminders::{DueReminder, ReminderPlan, send_or_cancel};

/// How many messages are queued and being sent.
pub(super) async fn backlog(conn: &mut PgConnection) -> sqlx_core::Result<OutboxBacklog> {
    let counts: Vec<(String, i64)> =
        query_as("SELECT status, COUNT(*) FROM outbox_messages WHERE status IN ('queued', 'sending') GROUP BY status")
            .fetch_all(conn)
            .await?;
    let mut backlog = OutboxBacklog::default();
    for (status, count) in counts {
        let count = u64::try_from(count).unwrap_or_default();
        match status.as_str() {
            "queued" => backlog.queued = count,
            _ => backlog.sending = count,
        }
    }
    Ok(backlog)
}

/// Queues `message`, due at its `now` (at once, but for a reminder: when it falls due).
pub(super) async fn enqueue(conn: &mut PgConnection, message: &NewOutboxMessage<'_>) -> sqlx_core::Result<()> {
    query(
        "INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, \
                                      token, expires_at, status, next_attempt_at, created_at, locale) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $11, $12)",
    )
    .bind(message.id.as_str())
    .bind(message.app_id.as_str())
    .bind(message.kind.as_str())
    .bind(message.recipient.as_str())
    .bind(message.invitation_id.map(InvitationId::as_str))
    .bind(message.role.as_str())
    .bind(message.inviter_name)
    .bind(message.link.map(|(token, _)| token))
    .bind(message.link.map(|(_, expires_at)| expires_at.as_millis()))
    .bind(message.now.as_millis())
    .bind(message.now.as_millis())
    .bind(message.locale.map(Locale::as_str))
    .execute(conn)
    .await?;
    Ok(())
}

/// When the latest email of one of `kinds` to `recipient` in `app_id` queued after `since`
/// was queued.
pub(super) async fn latest_to(
    conn: &mut PgConnection,
    app_id: &AppId,
    recipient: &EmailAddress,
    kinds: &[MailKind],
    since: Timestamp,
) -> sqlx_core::Result<Option<Timestamp>> {
    let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
    let latest: Option<i64> = query_scalar(
        "SELECT MAX(created_at) FROM outbox_messages \
         WHERE app_id = $1 AND recipient = $2 AND kind = ANY($3) AND created_at > $4",
    )
    .bind(app_id.as_str())
    .bind(recipient.as_str())
    .bind(kinds)
    .bind(since.as_millis())
    .fetch_one(conn)
    .await?;
    Ok(latest.map(Timestamp::from_millis))
}

/// Cancels the invitation's messages that have not gone out, because their link is about to
/// be replaced. A claimed message is being sent right now and is left to its worker (if the
/// worker dies, releasing it cancels it); one claimed by an older build whose lease ran out
/// would be claimed again, so it is cancelled too.
pub(super) async fn cancel_unsent(
    conn: &mut PgConnection,
    invitation_id: &InvitationId,
    now: Timestamp,
) -> sqlx_core::Result<()> {
    query(
        "UPDATE outbox_messages SET status = 'cancelled', token = NULL, lease_until = NULL \
         WHERE invitation_id = $1 \
           AND (status = 'queued' OR (status = 'sending' AND claimed_by IS NULL AND lease_until <= $2))",
    )
    .bind(invitation_id.as_str())
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// A [`DueMessage`] as the claim reads it.
struct DueRow(DueMessage);

impl FromRow<'_, PgRow> for DueRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::due_message(row).map(Self)
    }
}

/// Claims up to `limit` due messages for instance `by` (which must be registered) and returns
/// them ready to send.
pub(super) async fn claim(
    conn: &mut PgConnection,
    by: &InstanceId,
    now: Timestamp,
    limit: u32,
) -> sqlx_core::Result<Vec<OutboxMessage>> {
    if !instances::lock_registration(conn, by).await? {
        return Err(sqlx_core::Error::RowNotFound);
    }
    instances::release_claims_of(conn, by).await?;
    // The rows stay locked until this transaction commits their new status; a concurrent
    // claimer skips them and takes the next due ones instead of waiting. Due and stale rows are
    // found by two index scans that stop at the limit: one query with `OR` would collect and
    // sort every due row first, which grows with a backlog just when claiming must be fast.
    // Stale rows are claims an older build made with a lease (no instance) that ran out.
    let due: Vec<DueRow> = query_as(
        "WITH due AS ( \
           SELECT id, kind, recipient, app_id, role, inviter_name, token, expires_at, attempts, created_at, \
                  COALESCE(locale, (SELECT i.locale FROM invitations i WHERE i.id = outbox_messages.invitation_id)) AS locale, next_attempt_at \
           FROM outbox_messages WHERE status = 'queued' AND next_attempt_at <= $1 \
           ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
         stale AS ( \
           SELECT id, kind, recipient, app_id, role, inviter_name, token, expires_at, attempts, created_at, \
                  COALESCE(locale, (SELECT i.locale FROM invitations i WHERE i.id = outbox_messages.invitation_id)) AS locale, next_attempt_at \
           FROM outbox_messages WHERE status = 'sending' AND claimed_by IS NULL AND lease_until <= $2 \
           ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED) \
         SELECT * FROM due UNION ALL SELECT * FROM stale \
         ORDER BY next_attempt_at, id LIMIT $3",
    )
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(bigint(limit.into())?)
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }

    let mut apps = HashMap::new();
    let due: Vec<DueMessage> = due.into_iter().map(|DueRow(message)| message).collect();
    let app_ids: Vec<&str> = due.iter().map(|row| row.app_id.as_str()).collect();
    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ANY($1)");
    for AppRow(app) in query_as::<_, AppRow>(&sql).bind(app_ids.clone()).fetch_all(&mut *conn).await? {
        apps.insert(app.id.clone(), app);
    }
    let mut templates: HashMap<AppId, Vec<MailTemplate>> = HashMap::new();
    for (app_id, template) in super::apps::mail_templates_of(&mut *conn, &app_ids).await? {
        templates.entry(app_id).or_default().push(template);
    }

    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        let Some(links) = row.links() else {
            finish(conn, &row.id, "failed", NO_USABLE_LINK).await?;
            continue;
        };
        let app = apps.get(&row.app_id).cloned().ok_or(sqlx_core::Error::RowNotFound)?;
        // The row is locked by this claim: several instances decide each reminder once.
        if row.kind == MailKind::Reminder
            && let ReminderPlan::Cancel(reason) = send_or_cancel(DueReminder {
                invitation: reminded_invitation(conn, &row.id).await?,
                link_expires_at: row.expires_at.unwrap_or(now),
                hours: app.settings.reminder_before_expiry_hours,
                now,
            })
        {
            finish(conn, &row.id, "cancelled", reason).await?;
            continue;
        }
        let own = templates.get(&row.app_id).map_or(&[][..], Vec::as_slice);
        claimed.push(row.into_message(app, links, own));
    }

    if !claimed.is_empty() {
        let ids: Vec<&str> = claimed.iter().map(|message| message.id.as_str()).collect();
        query(
            "UPDATE outbox_messages SET status = 'sending', claimed_by = $1, lease_until = NULL, \
                                        attempts = attempts + 1 \
             WHERE id = ANY($2)",
        )
        .bind(by.as_str())
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(claimed)
}

/// The stored status and current expiry of the invitation whose reminder `id` is, if it
/// still exists ([`send_or_cancel`] decides).
async fn reminded_invitation(
    conn: &mut PgConnection,
    id: &MessageId,
) -> sqlx_core::Result<Option<(InvitationStatus, Timestamp)>> {
    let row: Option<(String, i64)> = query_as(
        "SELECT i.status, i.expires_at FROM outbox_messages m JOIN invitations i ON i.id = m.invitation_id \
         WHERE m.id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(status, expires_at)| {
        InvitationStatus::parse(&status).map(|status| (status, Timestamp::from_millis(expires_at)))
    }))
}

/// Records that the transport accepted these messages, and erases their link secrets; fails
/// with "not found" (writing nothing) if any of them does not exist.
pub(super) async fn mark_sent(conn: &mut PgConnection, sent: &[SentMessage], now: Timestamp) -> sqlx_core::Result<()> {
    let mut sent: Vec<(&str, &str)> = sent.iter().map(|m| (m.id.as_str(), m.reply.as_str())).collect();
    sent.sort_unstable_by_key(|&(id, _)| id);
    sent.dedup_by_key(|&mut (id, _)| id);
    let (ids, replies): (Vec<&str>, Vec<&str>) = sent.into_iter().unzip();
    let expected = ids.len();
    let changed = query(
        "UPDATE outbox_messages SET status = 'sent', sent_at = $1, token = NULL, lease_until = NULL, claimed_by = NULL \
         WHERE id = ANY($2)",
    )
    .bind(now.as_millis())
    .bind(ids.clone())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if usize::try_from(changed).ok() != Some(expected) {
        return Err(sqlx_core::Error::RowNotFound);
    }
    query(
        "INSERT INTO delivery_attempts (message_id, attempt, app_id, invitation_id, at, outcome, reply) \
         SELECT m.id, m.attempts, m.app_id, m.invitation_id, $1, 'sent', r.reply \
         FROM outbox_messages m JOIN unnest($2::text[], $3::text[]) AS r (id, reply) ON r.id = m.id \
         ON CONFLICT (message_id, attempt) DO NOTHING",
    )
    .bind(now.as_millis())
    .bind(ids)
    .bind(replies)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds the failed attempt that just ended to the message's history (see [`attempts`]).
async fn record_attempt(
    conn: &mut PgConnection,
    id: &MessageId,
    outcome: AttemptOutcome,
    reply: &str,
    at: Timestamp,
) -> sqlx_core::Result<()> {
    query(
        "INSERT INTO delivery_attempts (message_id, attempt, app_id, invitation_id, at, outcome, reply) \
         SELECT id, attempts, app_id, invitation_id, $2, $3, $4 FROM outbox_messages WHERE id = $1 \
         ON CONFLICT (message_id, attempt) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(at.as_millis())
    .bind(outcome.as_str())
    .bind(reply)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every delivery attempt of the emails of the app's invitation `id`: the newest email first, and its latest attempt first.
pub(super) async fn attempts(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &InvitationId,
) -> sqlx_core::Result<Vec<DeliveryAttempt>> {
    let rows: Vec<AttemptRow> = query_as(
        "SELECT a.message_id, a.attempt, a.at, a.outcome, a.reply \
         FROM delivery_attempts a JOIN outbox_messages m ON m.id = a.message_id \
         WHERE a.invitation_id = $1 AND a.app_id = $2 ORDER BY m.created_at DESC, m.id DESC, a.attempt DESC",
    )
    .bind(id.as_str())
    .bind(app_id.as_str())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|AttemptRow(attempt)| attempt).collect())
}

/// A `delivery_attempts` row.
struct AttemptRow(DeliveryAttempt);

impl FromRow<'_, PgRow> for AttemptRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::delivery_attempt(row).map(Self)
    }
}

/// Records a failed attempt: queued again for `retry_at`, or failed for good without one.
///
/// A message that was cancelled, or whose invitation has been re-sent since it was claimed,
/// is not retried but ends `cancelled`: its link no longer works, and the newer message
/// carries the current one. Nothing happens when `by` no longer holds the claim: it was
/// presumed dead, and the message is someone else's now.
pub(super) async fn mark_failed(
    conn: &mut PgConnection,
    by: &InstanceId,
    id: &MessageId,
    error: &str,
    retry_at: Option<Timestamp>,
) -> sqlx_core::Result<()> {
    let AddressRow(app_id, recipient) =
        query_as("SELECT app_id, recipient AS email FROM outbox_messages WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .await?;
    // A re-send of the invitation decides which message is current; waiting for any running
    // one makes the check below see its outcome, as SQLite's single writer does.
    locks::address(conn, &app_id, &recipient).await?;
    // The row lock keeps a release from slipping between this check and the update below.
    let holds_claim: bool = query_scalar(
        "SELECT status = 'sending' AND claimed_by IS NOT DISTINCT FROM $1 FROM outbox_messages WHERE id = $2 FOR UPDATE",
    )
    .bind(by.as_str())
    .bind(id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let is_replaced: bool = query_scalar(
        "SELECT m.status = 'cancelled' OR COALESCE(CASE WHEN m.kind = 'reminder' THEN i.expires_at <> m.expires_at \
                                                        ELSE i.latest_message_id <> m.id END, FALSE) \
         FROM outbox_messages m LEFT JOIN invitations i ON i.id = m.invitation_id \
         WHERE m.id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    // The contract passes no time for a failure; the attempt's time is for people to read.
    let now = SystemClock.now();
    match record_failed_attempt(FailedAttempt { holds_claim, is_replaced, retry_at }) {
        FailurePlan::Ignore => Ok(()),
        FailurePlan::Cancel => {
            record_attempt(conn, id, AttemptOutcome::Cancelled, error, now).await?;
            finish(conn, id, "cancelled", error).await
        }
        FailurePlan::Retry(retry_at) => {
            record_attempt(conn, id, AttemptOutcome::Retry, error, now).await?;
            query(
                "UPDATE outbox_messages \
                 SET status = 'queued', next_attempt_at = $1, lease_until = NULL, claimed_by = NULL, last_error = $2 \
                 WHERE id = $3",
            )
            .bind(retry_at.as_millis())
            .bind(error)
            .bind(id.as_str())
            .execute(conn)
            .await?;
            Ok(())
        }
        FailurePlan::GiveUp => {
            record_attempt(conn, id, AttemptOutcome::Failed, error, now).await?;
            finish(conn, id, "failed", error).await
        }
    }
}

/// Gives a message the final `status` with `error`, and erases its link secret.
async fn finish(conn: &mut PgConnection, id: &MessageId, status: &str, error: &str) -> sqlx_core::Result<()> {
    query(
        "UPDATE outbox_messages SET status = $1, token = NULL, lease_until = NULL, claimed_by = NULL, last_error = $2 \
         WHERE id = $3",
    )
    .bind(status)
    .bind(error)
    .bind(id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
