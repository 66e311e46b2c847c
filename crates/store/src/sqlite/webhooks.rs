//! Webhooks on SQLite: endpoints, the events written beside the changes they announce
//! ([`emit`]), and the deliveries the webhook worker claims and records.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use usher_core::rules::webhooks::AttemptPlan;
use usher_core::store::{AcceptOutcome, Invited, WebhookAttempt};
use usher_core::webhooks::{
    DeliveryStatus, DueDelivery, EmailFacts, Event, EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret,
    parse_event_list, store_event_list,
};
use usher_core::{AppId, InvitationId, MessageId, Timestamp, WebhookId};

use super::rows;

/// Writes the event `build` makes as one pending delivery per endpoint of `app_id` subscribed
/// to `kind`, in the caller's transaction. Most apps have no endpoint: for them this is one
/// indexed lookup, and the event (its id and JSON payload) is never built.
pub(super) fn emit(
    tx: &Transaction<'_>,
    app_id: &AppId,
    kind: EventType,
    build: impl FnOnce(EventType) -> Event,
) -> rusqlite::Result<()> {
    if !subscribed(tx, app_id, kind)? {
        return Ok(());
    }
    let event = build(kind);
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (id, webhook_id, app_id, event_type, payload, status, attempts, \
                                         next_attempt_at, created_at, updated_at) \
         SELECT 'msg_' || ?1 || id, id, app_id, ?2, ?3, 'pending', 0, ?4, ?4, ?4 \
         FROM webhooks WHERE app_id = ?5 AND instr(events, ?6) > 0",
    )?
    .execute(params![
        event.id.as_str(),
        event.kind.as_str(),
        event.payload(),
        event.at.as_millis(),
        event.app_id.as_str(),
        event.kind.list_needle(),
    ])?;
    Ok(())
}

/// Whether an endpoint of the app is subscribed to `kind`.
fn subscribed(tx: &Transaction<'_>, app_id: &AppId, kind: EventType) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM webhooks WHERE app_id = ?1 AND instr(events, ?2) > 0)")?
        .query_row(params![app_id.as_str(), kind.list_needle()], |row| row.get(0))
}

/// Whether an endpoint of the app that sent message `id` is subscribed to `kind`.
fn subscribed_to_message(tx: &Transaction<'_>, id: &MessageId, kind: EventType) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox_messages m JOIN webhooks w ON w.app_id = m.app_id \
                        WHERE m.id = ?1 AND instr(w.events, ?2) > 0)",
    )?
    .query_row(params![id.as_str(), kind.list_needle()], |row| row.get(0))
}

/// The events of an invite's outcome.
pub(super) fn after_invite(tx: &Transaction<'_>, invited: &Invited, now: Timestamp) -> rusqlite::Result<()> {
    let (kind, invitation) = match invited {
        Invited::Created(invitation) => (EventType::InvitationCreated, invitation),
        Invited::Resent(invitation) => (EventType::InvitationResent, invitation),
        _ => return Ok(()),
    };
    emit(tx, &invitation.app_id, kind, |kind| Event::invitation(kind, invitation, now))
}

/// The events of a join: the invitation accepted, the member joined.
pub(super) fn after_accept(
    tx: &Transaction<'_>,
    outcome: &AcceptOutcome,
    token: &usher_core::secret::TokenHash,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let AcceptOutcome::Joined { user, .. } = outcome else { return Ok(()) };
    if subscribed(tx, &user.app_id, EventType::InvitationAccepted)?
        && let Some(found) = rows::token_lookup(tx, token)?
    {
        emit(tx, &user.app_id, EventType::InvitationAccepted, |kind| Event::invitation(kind, &found.invitation, now))?;
    }
    emit(tx, &user.app_id, EventType::MemberJoined, |kind| Event::member(kind, user, now))
}

/// The facts an email event states about an outbox message.
fn email_facts(tx: &Transaction<'_>, id: &MessageId) -> rusqlite::Result<Option<(EmailFacts, String)>> {
    tx.prepare_cached(
        "SELECT app_id, recipient, kind, invitation_id, last_error, status FROM outbox_messages WHERE id = ?1",
    )?
    .query_row(params![id.as_str()], |row| {
        let app_id: String = row.get(0)?;
        Ok(AppId::parse(&app_id).ok().map(|app_id| {
            (
                EmailFacts {
                    app_id,
                    message_id: id.clone(),
                    recipient: row.get(1).unwrap_or_default(),
                    mail_kind: row.get(2).unwrap_or_default(),
                    invitation_id: row.get(3).unwrap_or_default(),
                    error: row.get(4).unwrap_or_default(),
                },
                row.get::<_, String>(5).unwrap_or_default(),
            )
        }))
    })
    .optional()
    .map(Option::flatten)
}

/// `email.sent` for a message just recorded sent.
pub(super) fn after_sent(tx: &Transaction<'_>, id: &MessageId, now: Timestamp) -> rusqlite::Result<()> {
    if !subscribed_to_message(tx, id, EventType::EmailSent)? {
        return Ok(());
    }
    match email_facts(tx, id)? {
        Some((mut facts, _)) => {
            facts.error = None;
            emit(tx, &facts.app_id, EventType::EmailSent, |kind| Event::email(kind, &facts, now))
        }
        None => Ok(()),
    }
}

/// Whether the message is `failed` now (to tell, after recording an attempt, whether it ended).
pub(super) fn is_failed(tx: &Transaction<'_>, id: &MessageId) -> rusqlite::Result<bool> {
    Ok(email_facts(tx, id)?.is_some_and(|(_, status)| status == "failed"))
}

/// `email.failed` for a message that just failed for good.
pub(super) fn after_failed(tx: &Transaction<'_>, id: &MessageId, now: Timestamp) -> rusqlite::Result<()> {
    match email_facts(tx, id)? {
        Some((facts, status)) if status == "failed" => {
            emit(tx, &facts.app_id, EventType::EmailFailed, |kind| Event::email(kind, &facts, now))
        }
        _ => Ok(()),
    }
}

/// Marks the announcement of up to `limit` expired invitations and writes their events.
pub(super) fn announce_expired(tx: &Transaction<'_>, now: Timestamp, limit: u32) -> rusqlite::Result<u64> {
    let due: Vec<String> = tx
        .prepare_cached(
            "SELECT id FROM invitations \
             WHERE status = 'pending' AND expires_at <= ?1 \
               AND (expired_event_at IS NULL OR expired_event_at < expires_at) \
             ORDER BY expires_at LIMIT ?2",
        )?
        .query_map(params![now.as_millis(), limit], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut announced = 0;
    for id in due {
        // Conditional: the announcement is made by whoever sets the mark first.
        let marked = tx
            .prepare_cached(
                "UPDATE invitations SET expired_event_at = ?1 \
                 WHERE id = ?2 AND status = 'pending' AND expires_at <= ?1 \
                   AND (expired_event_at IS NULL OR expired_event_at < expires_at)",
            )?
            .execute(params![now.as_millis(), id])?;
        if marked == 0 {
            continue;
        }
        let Ok(id) = InvitationId::parse(&id) else { continue };
        let invitation = rows::invitation_by_id(tx, &id)?;
        emit(tx, &invitation.app_id, EventType::InvitationExpired, |kind| Event::invitation(kind, &invitation, now))?;
        announced += 1;
    }
    Ok(announced)
}

fn webhook(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let (id, app_id, events): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(3)?);
    Ok(Webhook {
        id: WebhookId::parse(&id).map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?,
        app_id: AppId::parse(&app_id).map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?,
        url: row.get(2)?,
        events: parse_event_list(&events),
        created_at: Timestamp::from_millis(row.get(4)?),
    })
}

const WEBHOOK_SELECT: &str = "SELECT id, app_id, url, events, created_at FROM webhooks";

/// Stores a new endpoint.
pub(super) fn create(tx: &Transaction<'_>, hook: &NewWebhook) -> rusqlite::Result<Webhook> {
    tx.prepare_cached(
        "INSERT INTO webhooks (id, app_id, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        hook.id.as_str(),
        hook.app_id.as_str(),
        hook.url,
        store_event_list(&hook.events),
        hook.secret.expose(),
        hook.now.as_millis(),
    ])?;
    by_id(tx, &hook.app_id, &hook.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// One endpoint of the app.
pub(super) fn by_id(tx: &Transaction<'_>, app_id: &AppId, id: &WebhookId) -> rusqlite::Result<Option<Webhook>> {
    tx.prepare_cached(&format!("{WEBHOOK_SELECT} WHERE app_id = ?1 AND id = ?2"))?
        .query_row(params![app_id.as_str(), id.as_str()], webhook)
        .optional()
}

/// The app's endpoints, oldest first.
pub(super) fn list(tx: &Transaction<'_>, app_id: &AppId) -> rusqlite::Result<Vec<Webhook>> {
    tx.prepare_cached(&format!("{WEBHOOK_SELECT} WHERE app_id = ?1 ORDER BY created_at, id"))?
        .query_map(params![app_id.as_str()], webhook)?
        .collect()
}

/// Removes an endpoint and its deliveries.
pub(super) fn delete(tx: &Transaction<'_>, app_id: &AppId, id: &WebhookId) -> rusqlite::Result<bool> {
    let deleted = tx
        .prepare_cached("DELETE FROM webhooks WHERE app_id = ?1 AND id = ?2")?
        .execute(params![app_id.as_str(), id.as_str()])?;
    if deleted > 0 {
        tx.prepare_cached("DELETE FROM webhook_deliveries WHERE webhook_id = ?1")?.execute(params![id.as_str()])?;
    }
    Ok(deleted > 0)
}

/// Replaces an endpoint's secret.
pub(super) fn rotate(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &WebhookId,
    secret: &WebhookSecret,
) -> rusqlite::Result<Option<Webhook>> {
    tx.prepare_cached("UPDATE webhooks SET secret = ?3 WHERE app_id = ?1 AND id = ?2")?.execute(params![
        app_id.as_str(),
        id.as_str(),
        secret.expose()
    ])?;
    by_id(tx, app_id, id)
}

fn delivery(row: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    let webhook_id: String = row.get(1)?;
    Ok(WebhookDelivery {
        id: row.get(0)?,
        webhook_id: WebhookId::parse(&webhook_id)
            .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?,
        event_type: row.get(2)?,
        status: DeliveryStatus::parse(&row.get::<_, String>(3)?),
        attempts: row.get(4)?,
        last_status_code: row.get(5)?,
        last_error: row.get(6)?,
        next_attempt_at: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.get(8)?),
    })
}

const DELIVERY_SELECT: &str = "SELECT id, webhook_id, event_type, status, attempts, last_status_code, last_error, \
                               next_attempt_at, created_at FROM webhook_deliveries";

/// An endpoint's deliveries, newest first.
pub(super) fn deliveries(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &WebhookId,
    limit: u32,
) -> rusqlite::Result<Option<Vec<WebhookDelivery>>> {
    if by_id(tx, app_id, id)?.is_none() {
        return Ok(None);
    }
    tx.prepare_cached(&format!("{DELIVERY_SELECT} WHERE webhook_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"))?
        .query_map(params![id.as_str(), limit], delivery)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map(Some)
}

/// Makes a delivery due at once; a finished one gets a fresh round of attempts.
pub(super) fn retry(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &WebhookId,
    delivery_id: &str,
    now: Timestamp,
) -> rusqlite::Result<Option<WebhookDelivery>> {
    tx.prepare_cached(
        "UPDATE webhook_deliveries \
         SET attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END, \
             status = 'pending', next_attempt_at = ?1, updated_at = ?1 \
         WHERE id = ?2 AND webhook_id = ?3 AND app_id = ?4 AND status <> 'sending'",
    )?
    .execute(params![now.as_millis(), delivery_id, id.as_str(), app_id.as_str()])?;
    tx.prepare_cached(&format!("{DELIVERY_SELECT} WHERE id = ?1 AND webhook_id = ?2 AND app_id = ?3"))?
        .query_row(params![delivery_id, id.as_str(), app_id.as_str()], delivery)
        .optional()
}

/// Claims due deliveries (and those whose claim's lease ran out).
pub(super) fn claim(
    tx: &Transaction<'_>,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> rusqlite::Result<Vec<DueDelivery>> {
    let due = tx
        .prepare_cached(
            "SELECT d.id, w.url, w.secret, d.payload, d.created_at, d.attempts FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id \
             WHERE (d.status = 'pending' AND d.next_attempt_at <= ?1) \
                OR (d.status = 'sending' AND d.lease_until <= ?1) \
             ORDER BY d.next_attempt_at LIMIT ?2",
        )?
        .query_map(params![now.as_millis(), limit], |row| {
            Ok(DueDelivery {
                id: row.get(0)?,
                url: row.get(1)?,
                secret: WebhookSecret::from_stored(row.get(2)?),
                payload: row.get(3)?,
                created_at: Timestamp::from_millis(row.get(4)?),
                attempts: row.get::<_, u32>(5)? + 1,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for delivery in &due {
        tx.prepare_cached(
            "UPDATE webhook_deliveries SET status = 'sending', attempts = attempts + 1, lease_until = ?1, \
                                           updated_at = ?2 WHERE id = ?3",
        )?
        .execute(params![lease_until.as_millis(), now.as_millis(), delivery.id])?;
    }
    Ok(due)
}

/// Records an attempt's end.
pub(super) fn record(tx: &Transaction<'_>, attempt: &WebhookAttempt) -> rusqlite::Result<()> {
    let (status, next) = match attempt.plan {
        AttemptPlan::Delivered => ("delivered", None),
        AttemptPlan::RetryAt(at) => ("pending", Some(at.as_millis())),
        AttemptPlan::GiveUp => ("failed", None),
    };
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?1, next_attempt_at = ?2, last_status_code = ?3, last_error = ?4, \
                                       lease_until = NULL, updated_at = ?5 \
         WHERE id = ?6 AND status = 'sending'",
    )?
    .execute(params![
        status,
        next,
        attempt.status_code,
        attempt.error,
        attempt.now.as_millis(),
        attempt.delivery_id
    ])?;
    Ok(())
}
