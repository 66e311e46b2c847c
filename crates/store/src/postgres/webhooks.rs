//! Webhooks on PostgreSQL: endpoints, the events written beside the changes they announce
//! ([`emit`]), and the deliveries the webhook workers of all instances claim (`FOR UPDATE SKIP
//! LOCKED`) and record. The operations that cause events are wrapped here, so each writes its
//! events in its own transaction.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgConnection;
use usher_core::model::{Actor, Invitation, InvitationStatus};
use usher_core::rules::webhooks::AttemptPlan;
use usher_core::store::{
    AcceptCommand, AcceptOutcome, InviteCommand, Invited, MemberRemoval, SentMessage, WebhookAttempt,
};
use usher_core::webhooks::{
    DeliveryStatus, DueDelivery, EmailFacts, Event, EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret,
    parse_event_list, store_event_list,
};
use usher_core::{AppId, Clock, InstanceId, InvitationId, MessageId, SystemClock, Timestamp, UserId, WebhookId};

use super::rows::{self, bigint, parsed};
use super::{invitations, management, outbox, users};

/// Writes the event `build` makes as one pending delivery per endpoint of `app_id` subscribed
/// to `kind`. Most apps have no endpoint: for them this is one indexed lookup, and the event
/// (its id and JSON payload) is never built.
pub(super) async fn emit(
    conn: &mut PgConnection,
    app_id: &AppId,
    kind: EventType,
    build: impl FnOnce(EventType) -> Event,
) -> sqlx_core::Result<()> {
    if Subscriptions::of(conn, [app_id]).await?.want(app_id, kind) {
        insert(conn, &build(kind)).await?;
    }
    Ok(())
}

async fn insert(conn: &mut PgConnection, event: &Event) -> sqlx_core::Result<()> {
    let at = event.at.as_millis();
    query(
        "INSERT INTO webhook_deliveries (id, webhook_id, app_id, event_type, payload, status, attempts, \
                                         next_attempt_at, created_at, updated_at) \
         SELECT 'msg_' || $1 || id, id, app_id, $2, $3, 'pending', 0, $4, $5, $6 \
         FROM webhooks WHERE app_id = $7 AND strpos(events, $8) > 0",
    )
    .bind(event.id.as_str())
    .bind(event.kind.as_str())
    .bind(event.payload())
    .bind(at)
    .bind(at)
    .bind(at)
    .bind(event.app_id.as_str())
    .bind(event.kind.list_needle())
    .execute(conn)
    .await?;
    Ok(())
}

/// The event lists of the endpoints of some apps, read once for a batch of changes so that a
/// batch of apps without endpoints costs one round trip, not one per change.
struct Subscriptions(Vec<(String, String)>);

impl Subscriptions {
    async fn of<'a>(conn: &mut PgConnection, app_ids: impl IntoIterator<Item = &'a AppId>) -> sqlx_core::Result<Self> {
        let mut app_ids: Vec<&str> = app_ids.into_iter().map(AppId::as_str).collect();
        app_ids.sort_unstable();
        app_ids.dedup();
        let lists = query_as("SELECT app_id, events FROM webhooks WHERE app_id = ANY($1)")
            .bind(app_ids)
            .fetch_all(conn)
            .await?;
        Ok(Self(lists))
    }

    fn want(&self, app_id: &AppId, kind: EventType) -> bool {
        let needle = kind.list_needle();
        self.0.iter().any(|(app, events)| app == app_id.as_str() && events.contains(&needle))
    }
}

/// The event an invite's outcome announces, if any.
fn invite_event(invited: &Invited) -> Option<(EventType, &Invitation)> {
    match invited {
        Invited::Created(invitation) => Some((EventType::InvitationCreated, invitation)),
        Invited::Resent(invitation) => Some((EventType::InvitationResent, invitation)),
        _ => None,
    }
}

/// [`invitations::invite`] with its event.
pub(super) async fn invite(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<Invited> {
    let invited = invitations::invite(conn, cmd).await?;
    if let Some((kind, invitation)) = invite_event(&invited) {
        emit(conn, &cmd.app_id, kind, |kind| Event::invitation(kind, invitation, cmd.now)).await?;
    }
    Ok(invited)
}

/// [`invitations::invite_batch`] with its events.
pub(super) async fn invite_batch(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<Invited>> {
    let outcomes = invitations::invite_batch(conn, cmds).await?;
    let subscriptions = Subscriptions::of(conn, cmds.iter().map(|cmd| &cmd.app_id)).await?;
    for (cmd, invited) in cmds.iter().zip(&outcomes) {
        if let Some((kind, invitation)) = invite_event(invited)
            && subscriptions.want(&cmd.app_id, kind)
        {
            insert(conn, &Event::invitation(kind, invitation, cmd.now)).await?;
        }
    }
    Ok(outcomes)
}

/// [`invitations::accept`] with its events: the invitation accepted, the member joined.
pub(super) async fn accept(conn: &mut PgConnection, cmd: &AcceptCommand) -> sqlx_core::Result<AcceptOutcome> {
    let outcome = invitations::accept(conn, cmd).await?;
    if let AcceptOutcome::Joined { user, .. } = &outcome {
        let subscriptions = Subscriptions::of(conn, [&user.app_id]).await?;
        if subscriptions.want(&user.app_id, EventType::InvitationAccepted)
            && let Some(found) = rows::token_lookup(conn, &cmd.token_hash).await?
        {
            insert(conn, &Event::invitation(EventType::InvitationAccepted, &found.invitation, cmd.now)).await?;
        }
        if subscriptions.want(&user.app_id, EventType::MemberJoined) {
            insert(conn, &Event::member(EventType::MemberJoined, user, cmd.now)).await?;
        }
    }
    Ok(outcome)
}

/// [`management::revoke`] with its event, when it revoked.
pub(super) async fn revoke(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &InvitationId,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<Option<Invitation>> {
    let was_pending = rows::invitation_in_app(conn, app_id, id)
        .await?
        .is_some_and(|before| before.status == InvitationStatus::Pending);
    let after = management::revoke(conn, app_id, id, by, now).await?;
    if let Some(revoked) = after.as_ref().filter(|after| was_pending && after.status == InvitationStatus::Revoked) {
        emit(conn, app_id, EventType::InvitationRevoked, |kind| Event::invitation(kind, revoked, now)).await?;
    }
    Ok(after)
}

/// [`users::delete`] with `member.removed`.
pub(super) async fn delete_user(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &UserId,
    now: Timestamp,
) -> sqlx_core::Result<MemberRemoval> {
    let (removal, removed) = users::delete(conn, app_id, id).await?;
    if let Some(member) = removed {
        emit(conn, app_id, EventType::MemberRemoved, |kind| Event::member(kind, &member, now)).await?;
    }
    Ok(removal)
}

type FactsRow = (String, String, String, Option<String>, Option<String>, String);

async fn email_facts(conn: &mut PgConnection, id: &MessageId) -> sqlx_core::Result<Option<(EmailFacts, String)>> {
    let row: Option<FactsRow> = query_as(
        "SELECT app_id, recipient, kind, invitation_id, last_error, status FROM outbox_messages WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(app_id, recipient, mail_kind, invitation_id, error, status)| {
        let app_id = AppId::parse(&app_id).ok()?;
        Some((EmailFacts { app_id, message_id: id.clone(), recipient, mail_kind, invitation_id, error }, status))
    }))
}

/// [`outbox::mark_sent`] with `email.sent` for each message whose app has an endpoint for it.
pub(super) async fn mark_sent(conn: &mut PgConnection, sent: &[SentMessage], now: Timestamp) -> sqlx_core::Result<()> {
    outbox::mark_sent(conn, sent, now).await?;
    let ids: Vec<&str> = sent.iter().map(|message| message.id.as_str()).collect();
    let subscribed: Vec<(String, String, String, String, Option<String>)> = query_as(
        "SELECT m.id, m.app_id, m.recipient, m.kind, m.invitation_id FROM outbox_messages m \
         WHERE m.id = ANY($1) \
           AND EXISTS (SELECT 1 FROM webhooks w WHERE w.app_id = m.app_id AND strpos(w.events, $2) > 0)",
    )
    .bind(ids)
    .bind(EventType::EmailSent.list_needle())
    .fetch_all(&mut *conn)
    .await?;
    for (message_id, app_id, recipient, mail_kind, invitation_id) in subscribed {
        let facts = EmailFacts {
            app_id: parsed("app_id", AppId::parse(&app_id))?,
            message_id: parsed("id", MessageId::parse(&message_id))?,
            recipient,
            mail_kind,
            invitation_id,
            error: None,
        };
        insert(conn, &Event::email(EventType::EmailSent, &facts, now)).await?;
    }
    Ok(())
}

/// [`outbox::mark_failed`] with `email.failed` when the message failed for good.
pub(super) async fn mark_failed(
    conn: &mut PgConnection,
    by: &InstanceId,
    id: &MessageId,
    error: &str,
    retry_at: Option<Timestamp>,
) -> sqlx_core::Result<()> {
    let was_failed = email_facts(conn, id).await?.is_some_and(|(_, status)| status == "failed");
    outbox::mark_failed(conn, by, id, error, retry_at).await?;
    if !was_failed
        && let Some((facts, status)) = email_facts(conn, id).await?
        && status == "failed"
    {
        emit(conn, &facts.app_id, EventType::EmailFailed, |kind| Event::email(kind, &facts, SystemClock.now())).await?;
    }
    Ok(())
}

/// Marks the announcement of up to `limit` expired invitations and writes their events. The
/// marking update is conditional and skips rows another instance holds, so each expiry is
/// announced by exactly one transaction.
pub(super) async fn announce_expired(conn: &mut PgConnection, now: Timestamp, limit: u32) -> sqlx_core::Result<u64> {
    let at = now.as_millis();
    let marked: Vec<String> = query_scalar(
        "UPDATE invitations SET expired_event_at = $1 WHERE id IN ( \
             SELECT id FROM invitations \
             WHERE status = 'pending' AND expires_at <= $2 \
               AND (expired_event_at IS NULL OR expired_event_at < expires_at) \
             ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         AND status = 'pending' AND (expired_event_at IS NULL OR expired_event_at < expires_at) \
         RETURNING id",
    )
    .bind(at)
    .bind(at)
    .bind(bigint(limit.into())?)
    .fetch_all(&mut *conn)
    .await?;
    for id in &marked {
        let id = parsed("id", InvitationId::parse(id))?;
        let invitation = rows::invitation_by_id(conn, &id).await?;
        emit(conn, &invitation.app_id, EventType::InvitationExpired, |kind| Event::invitation(kind, &invitation, now))
            .await?;
    }
    Ok(marked.len() as u64)
}

type WebhookRow = (String, String, String, String, i64);

fn webhook((id, app_id, url, events, created_at): WebhookRow) -> sqlx_core::Result<Webhook> {
    Ok(Webhook {
        id: parsed("id", WebhookId::parse(&id))?,
        app_id: parsed("app_id", AppId::parse(&app_id))?,
        url,
        events: parse_event_list(&events),
        created_at: Timestamp::from_millis(created_at),
    })
}

/// Stores a new endpoint.
pub(super) async fn create(conn: &mut PgConnection, hook: &NewWebhook) -> sqlx_core::Result<Webhook> {
    query("INSERT INTO webhooks (id, app_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(hook.id.as_str())
        .bind(hook.app_id.as_str())
        .bind(&hook.url)
        .bind(store_event_list(&hook.events))
        .bind(hook.secret.expose())
        .bind(hook.now.as_millis())
        .execute(&mut *conn)
        .await?;
    by_id(conn, &hook.app_id, &hook.id).await?.ok_or(sqlx_core::Error::RowNotFound)
}

/// One endpoint of the app.
pub(super) async fn by_id(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &WebhookId,
) -> sqlx_core::Result<Option<Webhook>> {
    let row: Option<WebhookRow> =
        query_as("SELECT id, app_id, url, events, created_at FROM webhooks WHERE app_id = $1 AND id = $2")
            .bind(app_id.as_str())
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
    row.map(webhook).transpose()
}

/// The app's endpoints, oldest first.
pub(super) async fn list(conn: &mut PgConnection, app_id: &AppId) -> sqlx_core::Result<Vec<Webhook>> {
    let rows: Vec<WebhookRow> =
        query_as("SELECT id, app_id, url, events, created_at FROM webhooks WHERE app_id = $1 ORDER BY created_at, id")
            .bind(app_id.as_str())
            .fetch_all(conn)
            .await?;
    rows.into_iter().map(webhook).collect()
}

/// Removes an endpoint and its deliveries.
pub(super) async fn delete(conn: &mut PgConnection, app_id: &AppId, id: &WebhookId) -> sqlx_core::Result<bool> {
    let deleted = query("DELETE FROM webhooks WHERE app_id = $1 AND id = $2")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if deleted > 0 {
        query("DELETE FROM webhook_deliveries WHERE webhook_id = $1").bind(id.as_str()).execute(conn).await?;
    }
    Ok(deleted > 0)
}

/// Replaces an endpoint's secret.
pub(super) async fn rotate(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &WebhookId,
    secret: &WebhookSecret,
) -> sqlx_core::Result<Option<Webhook>> {
    query("UPDATE webhooks SET secret = $3 WHERE app_id = $1 AND id = $2")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .bind(secret.expose())
        .execute(&mut *conn)
        .await?;
    by_id(conn, app_id, id).await
}

type DeliveryRow = (String, String, String, String, i32, Option<i32>, Option<String>, Option<i64>, i64);

const DELIVERY_SELECT: &str = "SELECT id, webhook_id, event_type, status, attempts, last_status_code, last_error, \
                               next_attempt_at, created_at FROM webhook_deliveries";

fn delivery(row: DeliveryRow) -> sqlx_core::Result<WebhookDelivery> {
    let (id, webhook_id, event_type, status, attempts, code, last_error, next, created_at) = row;
    Ok(WebhookDelivery {
        id,
        webhook_id: parsed("webhook_id", WebhookId::parse(&webhook_id))?,
        event_type,
        status: DeliveryStatus::parse(&status),
        attempts: u32::try_from(attempts).unwrap_or(0),
        last_status_code: code.and_then(|code| u16::try_from(code).ok()),
        last_error,
        next_attempt_at: next.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(created_at),
    })
}

/// An endpoint's deliveries, newest first.
pub(super) async fn deliveries(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &WebhookId,
    limit: u32,
) -> sqlx_core::Result<Option<Vec<WebhookDelivery>>> {
    if by_id(conn, app_id, id).await?.is_none() {
        return Ok(None);
    }
    let rows: Vec<DeliveryRow> =
        query_as(&format!("{DELIVERY_SELECT} WHERE webhook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(id.as_str())
            .bind(bigint(limit.into())?)
            .fetch_all(conn)
            .await?;
    rows.into_iter().map(delivery).collect::<sqlx_core::Result<Vec<_>>>().map(Some)
}

/// Makes a delivery due at once; a finished one gets a fresh round of attempts.
pub(super) async fn retry(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &WebhookId,
    delivery_id: &str,
    now: Timestamp,
) -> sqlx_core::Result<Option<WebhookDelivery>> {
    query(
        "UPDATE webhook_deliveries \
         SET attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END, \
             status = 'pending', next_attempt_at = $1, updated_at = $2 \
         WHERE id = $3 AND webhook_id = $4 AND app_id = $5 AND status <> 'sending'",
    )
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(delivery_id)
    .bind(id.as_str())
    .bind(app_id.as_str())
    .execute(&mut *conn)
    .await?;
    let row: Option<DeliveryRow> =
        query_as(&format!("{DELIVERY_SELECT} WHERE id = $1 AND webhook_id = $2 AND app_id = $3"))
            .bind(delivery_id)
            .bind(id.as_str())
            .bind(app_id.as_str())
            .fetch_optional(conn)
            .await?;
    row.map(delivery).transpose()
}

/// Claims due deliveries (and those whose claim's lease ran out), skipping those another
/// instance is claiming.
pub(super) async fn claim(
    conn: &mut PgConnection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> sqlx_core::Result<Vec<DueDelivery>> {
    let rows: Vec<(String, String, String, String, i64, i32)> = query_as(
        "WITH due AS ( \
             SELECT id FROM webhook_deliveries \
             WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until <= $2) \
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1, lease_until = $4, \
                                         updated_at = $5 \
         FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id \
         RETURNING d.id, w.url, w.secret, d.payload, d.created_at, d.attempts",
    )
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(bigint(limit.into())?)
    .bind(lease_until.as_millis())
    .bind(now.as_millis())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, url, secret, payload, created_at, attempts)| DueDelivery {
            id,
            url,
            secret: WebhookSecret::from_stored(secret),
            payload,
            created_at: Timestamp::from_millis(created_at),
            attempts: u32::try_from(attempts).unwrap_or(1),
        })
        .collect())
}

/// Records an attempt's end.
pub(super) async fn record(conn: &mut PgConnection, attempt: &WebhookAttempt) -> sqlx_core::Result<()> {
    let (status, next) = match attempt.plan {
        AttemptPlan::Delivered => ("delivered", None),
        AttemptPlan::RetryAt(at) => ("pending", Some(at.as_millis())),
        AttemptPlan::GiveUp => ("failed", None),
    };
    query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status_code = $3, last_error = $4, \
                                       lease_until = NULL, updated_at = $5 \
         WHERE id = $6 AND status = 'sending'",
    )
    .bind(status)
    .bind(next)
    .bind(attempt.status_code.map(i32::from))
    .bind(&attempt.error)
    .bind(attempt.now.as_millis())
    .bind(&attempt.delivery_id)
    .execute(conn)
    .await?;
    Ok(())
}
