//! Apps, their API keys, and the server-wide secrets.

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{Actor, ApiKeyRecord, App, AppSettings, MailKind, MailTemplate};
use usher_core::secret::TokenHash;
use usher_core::store::{KeyRevocation, NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, EmailAddress, Locale, Timestamp};

use super::audit;
use super::rows::{app_by_id, bigint, parsed};
use crate::records::{self, domain_patterns_json};
use usher_core::rules::app_changes::{self, TemplateChange};
use usher_core::rules::keys::{self, KeyRevocationPlan};

/// Inserts the app, its first API key and the audit record; returns the app as stored.
pub(super) async fn create(conn: &mut PgConnection, new: &NewApp) -> sqlx_core::Result<App> {
    let settings = &new.settings;
    query(
        "INSERT INTO apps (id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open, \
                           sender_name, sender_email, cors_origins, allowed_email_domains, \
                           blocked_email_domains, max_invites_per_day, reminder_before_expiry_hours, \
                           created_at, locale) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $11::jsonb, $12::jsonb, $13, $14, $10, $15)",
    )
    .bind(new.id.as_str())
    .bind(&new.name)
    .bind(&new.app_url)
    // Whole seconds, as the column says; the lifetime is configured in seconds anyway.
    .bind(bigint(settings.invitation_ttl.as_secs())?)
    .bind(settings.invite_policy.as_str())
    .bind(settings.is_signup_open)
    .bind(settings.sender_name.as_deref())
    .bind(settings.sender_email.as_ref().map(EmailAddress::as_str))
    .bind(cors_json(settings)?)
    .bind(new.now.as_millis())
    .bind(domain_patterns_json(&settings.allowed_email_domains))
    .bind(domain_patterns_json(&settings.blocked_email_domains))
    .bind(daily_allowance(settings)?)
    .bind(settings.reminder_before_expiry_hours.map(i64::from))
    .bind(settings.locale.as_str())
    .execute(&mut *conn)
    .await?;
    insert_key(conn, &new.id, &new.api_key, new.now).await?;
    audit::record(conn, &keys::app_created(new)).await?;
    app_by_id(conn, &new.id).await?.ok_or(sqlx_core::Error::RowNotFound)
}

/// Stores the app's name, URL and settings; `None` when it does not exist.
pub(super) async fn update(
    conn: &mut PgConnection,
    app: &App,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<Option<App>> {
    // Locked first, so what the audit compares with is what this change replaces.
    query("SELECT 1 FROM apps WHERE id = $1 FOR UPDATE").bind(app.id.as_str()).execute(&mut *conn).await?;
    let Some(before) = app_by_id(conn, &app.id).await? else { return Ok(None) };
    let settings = &app.settings;
    let changed = query(
        "UPDATE apps SET name = $2, app_url = $3, invitation_ttl_secs = $4, invite_policy = $5, \
                         is_signup_open = $6, sender_name = $7, sender_email = $8, cors_origins = $9::jsonb, \
                         allowed_email_domains = $10::jsonb, blocked_email_domains = $11::jsonb, \
                         max_invites_per_day = $12, reminder_before_expiry_hours = $13, locale = $14 \
         WHERE id = $1",
    )
    .bind(app.id.as_str())
    .bind(&app.name)
    .bind(&app.app_url)
    .bind(bigint(settings.invitation_ttl.as_secs())?)
    .bind(settings.invite_policy.as_str())
    .bind(settings.is_signup_open)
    .bind(settings.sender_name.as_deref())
    .bind(settings.sender_email.as_ref().map(EmailAddress::as_str))
    .bind(cors_json(settings)?)
    .bind(domain_patterns_json(&settings.allowed_email_domains))
    .bind(domain_patterns_json(&settings.blocked_email_domains))
    .bind(daily_allowance(settings)?)
    .bind(settings.reminder_before_expiry_hours.map(i64::from))
    .bind(settings.locale.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    let stored = app_by_id(conn, &app.id).await?;
    if let Some(stored) = &stored
        && let Some(event) = app_changes::settings_changed(&before, stored, by, now)
    {
        audit::record(conn, &event).await?;
    }
    Ok(stored)
}

/// The extra CORS origins as the JSON array the column holds.
fn cors_json(settings: &AppSettings) -> sqlx_core::Result<String> {
    serde_json::to_string(&settings.cors_origins).map_err(|e| sqlx_core::Error::Encode(Box::new(e)))
}

/// The daily allowance as its BIGINT column holds it.
fn daily_allowance(settings: &AppSettings) -> sqlx_core::Result<Option<i64>> {
    Ok(settings.max_invites_per_day.map(i64::from))
}

/// True when at least one app exists.
/// Creates `new` unless an app exists. The table lock (which reads still pass) makes instances
/// that start at once on an empty database take turns, so only the first finds it empty.
pub(super) async fn create_first(conn: &mut PgConnection, new: &NewApp) -> sqlx_core::Result<Option<App>> {
    query("LOCK TABLE apps IN EXCLUSIVE MODE").execute(&mut *conn).await?;
    if any_exist(conn).await? { Ok(None) } else { create(conn, new).await.map(Some) }
}

pub(super) async fn any_exist(conn: &mut PgConnection) -> sqlx_core::Result<bool> {
    query_scalar("SELECT EXISTS (SELECT 1 FROM apps)").fetch_one(conn).await
}

/// An `api_keys` row as the service sees it.
struct KeyRow(ApiKeyRecord);

impl FromRow<'_, PgRow> for KeyRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        records::api_key(row).map(Self)
    }
}

/// The unrevoked API key with this hash.
pub(super) async fn api_key(conn: &mut PgConnection, hash: &TokenHash) -> sqlx_core::Result<Option<ApiKeyRecord>> {
    let row: Option<KeyRow> =
        query_as("SELECT id, app_id, name, created_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(hash.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|KeyRow(key)| key))
}

/// Stores a key of the app (its hash only).
pub(super) async fn insert_key(
    conn: &mut PgConnection,
    app_id: &AppId,
    key: &NewApiKey,
    now: Timestamp,
) -> sqlx_core::Result<()> {
    query("INSERT INTO api_keys (id, app_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(key.id.as_str())
        .bind(app_id.as_str())
        .bind(&key.name)
        .bind(key.hash.as_str())
        .bind(now.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores another API key of the app, with an audit record of who made it.
pub(super) async fn create_api_key(
    conn: &mut PgConnection,
    app_id: &AppId,
    key: &NewApiKey,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<ApiKeyRecord> {
    insert_key(conn, app_id, key, now).await?;
    audit::record(conn, &keys::key_created(app_id, by, now)).await?;
    Ok(ApiKeyRecord { id: key.id.clone(), app_id: app_id.clone(), name: key.name.clone(), created_at: now })
}

/// The app's unrevoked API keys, oldest first.
pub(super) async fn api_keys(conn: &mut PgConnection, app_id: &AppId) -> sqlx_core::Result<Vec<ApiKeyRecord>> {
    let rows: Vec<KeyRow> = query_as(
        "SELECT id, app_id, name, created_at FROM api_keys WHERE app_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at, id",
    )
    .bind(app_id.as_str())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|KeyRow(key)| key).collect())
}

/// Revokes one of the app's keys unless it is the last one; see [`KeyRevocation`].
pub(super) async fn revoke_api_key(
    conn: &mut PgConnection,
    app_id: &AppId,
    id: &ApiKeyId,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<KeyRevocation> {
    // Locking the live keys makes two revocations of the app's last two keys take turns: the
    // second one re-reads the keys after the first commits, finds one left, and refuses.
    let live: Vec<String> = query_scalar(
        "SELECT id FROM api_keys WHERE app_id = $1 AND revoked_at IS NULL ORDER BY created_at, id FOR UPDATE",
    )
    .bind(app_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let live = live.iter().map(|id| parsed("id", ApiKeyId::parse(id))).collect::<sqlx_core::Result<Vec<_>>>()?;
    let audit = match keys::revoke_unless_last_key(app_id, id, &live, by, now) {
        KeyRevocationPlan::Answer(answer) => return Ok(answer),
        KeyRevocationPlan::Revoke { audit } => audit,
    };
    query("UPDATE api_keys SET revoked_at = $3 WHERE app_id = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    audit::record(conn, &audit).await?;
    Ok(KeyRevocation::Revoked)
}

/// The secret named `name`, stored as `candidate` first if there is none yet. The first
/// writer wins; everyone after reads its value (a concurrent insert waits for the first one's
/// commit, then does nothing, and the next statement sees the committed value).
pub(super) async fn server_secret(
    conn: &mut PgConnection,
    name: &str,
    candidate: &str,
    now: Timestamp,
) -> sqlx_core::Result<String> {
    query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(candidate)
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    query_scalar("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(conn).await
}

/// A `mail_templates` row with its app.
struct TemplateRow(AppId, MailTemplate);

impl FromRow<'_, PgRow> for TemplateRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        use records::Columns as _;
        Ok(Self(row.parsed("app_id", |s| AppId::parse(&s))?, records::mail_template(row)?))
    }
}

/// The own email templates of these apps, by app, kind and locale.
pub(super) async fn mail_templates_of(
    conn: &mut PgConnection,
    app_ids: &[&str],
) -> sqlx_core::Result<Vec<(AppId, MailTemplate)>> {
    let rows: Vec<TemplateRow> = query_as(
        "SELECT app_id, kind, locale, subject, text, html, updated_at FROM mail_templates \
         WHERE app_id = ANY($1) ORDER BY app_id, kind, locale",
    )
    .bind(app_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|TemplateRow(app_id, template)| (app_id, template)).collect())
}

/// The app's own email templates, by kind and locale.
pub(super) async fn mail_templates(conn: &mut PgConnection, app_id: &AppId) -> sqlx_core::Result<Vec<MailTemplate>> {
    let rows = mail_templates_of(conn, &[app_id.as_str()]).await?;
    Ok(rows.into_iter().map(|(_, template)| template).collect())
}

/// Stores (or replaces) one of the app's own templates, and audits it.
pub(super) async fn put_mail_template(
    conn: &mut PgConnection,
    app_id: &AppId,
    template: &MailTemplate,
    by: &Actor,
) -> sqlx_core::Result<()> {
    query(
        "INSERT INTO mail_templates (app_id, kind, locale, subject, text, html, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (app_id, kind, locale) DO UPDATE \
         SET subject = excluded.subject, text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
    )
    .bind(app_id.as_str())
    .bind(template.kind.as_str())
    .bind(template.locale.as_str())
    .bind(&template.subject)
    .bind(&template.text)
    .bind(&template.html)
    .bind(template.updated_at.as_millis())
    .execute(&mut *conn)
    .await?;
    let saved = app_changes::template_changed(
        TemplateChange::Saved,
        app_id,
        (template.kind, template.locale),
        by,
        template.updated_at,
    );
    audit::record(conn, &saved).await
}

/// Removes one of the app's own templates and audits it; false when there was none.
pub(super) async fn delete_mail_template(
    conn: &mut PgConnection,
    app_id: &AppId,
    kind: MailKind,
    locale: Locale,
    by: &Actor,
    now: Timestamp,
) -> sqlx_core::Result<bool> {
    let removed = query("DELETE FROM mail_templates WHERE app_id = $1 AND kind = $2 AND locale = $3")
        .bind(app_id.as_str())
        .bind(kind.as_str())
        .bind(locale.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed > 0 {
        audit::record(conn, &app_changes::template_changed(TemplateChange::Removed, app_id, (kind, locale), by, now))
            .await?;
    }
    Ok(removed > 0)
}
