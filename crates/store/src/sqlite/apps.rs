//! Apps, their API keys, and the server-wide secrets.

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::model::{Actor, ApiKeyRecord, App, MailKind, MailTemplate};
use usher_core::secret::TokenHash;
use usher_core::store::{KeyRevocation, NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, EmailAddress, Locale, Timestamp};

use super::audit;
use super::rows::app_by_id;
use crate::records::{self, domain_patterns_json};
use usher_core::rules::app_changes::{self, TemplateChange};
use usher_core::rules::keys::{self, KeyRevocationPlan};

/// Inserts the app, its first API key and the audit record; returns the app as stored.
pub(super) fn create(tx: &Transaction<'_>, new: &NewApp) -> rusqlite::Result<App> {
    let settings = &new.settings;
    let cors_origins = cors_json(&settings.cors_origins)?;
    tx.execute(
        "INSERT INTO apps (id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open, \
                           sender_name, sender_email, cors_origins, allowed_email_domains, \
                           blocked_email_domains, max_invites_per_day, reminder_before_expiry_hours, \
                           created_at, locale) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?12, ?13, ?14, ?10, ?15)",
        params![
            new.id.as_str(),
            new.name,
            new.app_url,
            // Whole seconds, as the column says; the lifetime is configured in seconds anyway.
            settings.invitation_ttl.as_secs(),
            settings.invite_policy.as_str(),
            settings.is_signup_open,
            settings.sender_name,
            settings.sender_email.as_ref().map(EmailAddress::as_str),
            cors_origins,
            new.now.as_millis(),
            domain_patterns_json(&settings.allowed_email_domains),
            domain_patterns_json(&settings.blocked_email_domains),
            settings.max_invites_per_day,
            settings.reminder_before_expiry_hours,
            settings.locale.as_str(),
        ],
    )?;
    tx.execute(
        "INSERT INTO api_keys (id, app_id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            new.api_key.id.as_str(),
            new.id.as_str(),
            new.api_key.name,
            new.api_key.hash.as_str(),
            new.now.as_millis()
        ],
    )?;
    audit::record(tx, &keys::app_created(new))?;
    app_by_id(tx, &new.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// Stores the app's name, URL and settings and audits what changed; `None` when it does not
/// exist.
pub(super) fn update(tx: &Transaction<'_>, app: &App, by: &Actor, now: Timestamp) -> rusqlite::Result<Option<App>> {
    let Some(before) = app_by_id(tx, &app.id)? else { return Ok(None) };
    let settings = &app.settings;
    let cors_origins = cors_json(&settings.cors_origins)?;
    let changed = tx.execute(
        "UPDATE apps SET name = ?2, app_url = ?3, invitation_ttl_secs = ?4, invite_policy = ?5, \
                         is_signup_open = ?6, sender_name = ?7, sender_email = ?8, cors_origins = ?9, \
                         allowed_email_domains = ?10, blocked_email_domains = ?11, max_invites_per_day = ?12, \
                         reminder_before_expiry_hours = ?13, locale = ?14 \
         WHERE id = ?1",
        params![
            app.id.as_str(),
            app.name,
            app.app_url,
            settings.invitation_ttl.as_secs(),
            settings.invite_policy.as_str(),
            settings.is_signup_open,
            settings.sender_name,
            settings.sender_email.as_ref().map(EmailAddress::as_str),
            cors_origins,
            domain_patterns_json(&settings.allowed_email_domains),
            domain_patterns_json(&settings.blocked_email_domains),
            settings.max_invites_per_day,
            settings.reminder_before_expiry_hours,
            settings.locale.as_str(),
        ],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let stored = app_by_id(tx, &app.id)?;
    if let Some(stored) = &stored
        && let Some(event) = app_changes::settings_changed(&before, stored, by, now)
    {
        audit::record(tx, &event)?;
    }
    Ok(stored)
}

/// The extra CORS origins as the JSON array the column holds.
fn cors_json(origins: &[String]) -> rusqlite::Result<String> {
    serde_json::to_string(origins).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// True when at least one app exists.
pub(super) fn any_exist(tx: &Transaction<'_>) -> rusqlite::Result<bool> {
    tx.query_row("SELECT EXISTS (SELECT 1 FROM apps)", [], |row| row.get(0))
}

/// The unrevoked API key with this hash.
pub(super) fn api_key(tx: &Transaction<'_>, hash: &TokenHash) -> rusqlite::Result<Option<ApiKeyRecord>> {
    tx.prepare_cached("SELECT id, app_id, name, created_at FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL")?
        .query_row(params![hash.as_str()], |row| records::api_key(row))
        .optional()
}

/// Stores another API key of the app, with an audit record of who made it.
pub(super) fn create_api_key(
    tx: &Transaction<'_>,
    app_id: &AppId,
    key: &NewApiKey,
    by: &Actor,
    now: Timestamp,
) -> rusqlite::Result<ApiKeyRecord> {
    tx.execute(
        "INSERT INTO api_keys (id, app_id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key.id.as_str(), app_id.as_str(), key.name, key.hash.as_str(), now.as_millis()],
    )?;
    audit::record(tx, &keys::key_created(app_id, by, now))?;
    Ok(ApiKeyRecord { id: key.id.clone(), app_id: app_id.clone(), name: key.name.clone(), created_at: now })
}

/// The app's unrevoked API keys, oldest first.
pub(super) fn api_keys(tx: &Transaction<'_>, app_id: &AppId) -> rusqlite::Result<Vec<ApiKeyRecord>> {
    tx.prepare_cached(
        "SELECT id, app_id, name, created_at FROM api_keys WHERE app_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
    )?
    .query_map(params![app_id.as_str()], |row| records::api_key(row))?
    .collect()
}

/// Revokes one of the app's keys unless it is the last one; see [`KeyRevocation`].
pub(super) fn revoke_api_key(
    tx: &Transaction<'_>,
    app_id: &AppId,
    id: &ApiKeyId,
    by: &Actor,
    now: Timestamp,
) -> rusqlite::Result<KeyRevocation> {
    let live: Vec<ApiKeyId> = api_keys(tx, app_id)?.into_iter().map(|key| key.id).collect();
    let audit = match keys::revoke_unless_last_key(app_id, id, &live, by, now) {
        KeyRevocationPlan::Answer(answer) => return Ok(answer),
        KeyRevocationPlan::Revoke { audit } => audit,
    };
    tx.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE app_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![app_id.as_str(), id.as_str(), now.as_millis()],
    )?;
    audit::record(tx, &audit)?;
    Ok(KeyRevocation::Revoked)
}

/// The secret named `name`, stored as `candidate` first if there is none yet. The first
/// writer wins; everyone after reads its value.
pub(super) fn server_secret(
    tx: &Transaction<'_>,
    name: &str,
    candidate: &str,
    now: Timestamp,
) -> rusqlite::Result<String> {
    tx.execute(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        params![name, candidate, now.as_millis()],
    )?;
    tx.query_row("SELECT value FROM server_secrets WHERE name = ?1", params![name], |row| row.get(0))
}

/// The app's own email templates, by kind and locale.
pub(super) fn mail_templates(tx: &Transaction<'_>, app_id: &AppId) -> rusqlite::Result<Vec<MailTemplate>> {
    tx.prepare_cached(
        "SELECT kind, locale, subject, text, html, updated_at FROM mail_templates WHERE app_id = ?1 \
         ORDER BY kind, locale",
    )?
    .query_map(params![app_id.as_str()], |row| records::mail_template(row))?
    .collect()
}

/// Stores (or replaces) one of the app's own templates, and audits it.
pub(super) fn put_mail_template(
    tx: &Transaction<'_>,
    app_id: &AppId,
    template: &MailTemplate,
    by: &Actor,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO mail_templates (app_id, kind, locale, subject, text, html, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (app_id, kind, locale) DO UPDATE \
         SET subject = excluded.subject, text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
        params![
            app_id.as_str(),
            template.kind.as_str(),
            template.locale.as_str(),
            template.subject,
            template.text,
            template.html,
            template.updated_at.as_millis(),
        ],
    )?;
    audit::record(
        tx,
        &app_changes::template_changed(
            TemplateChange::Saved,
            app_id,
            (template.kind, template.locale),
            by,
            template.updated_at,
        ),
    )
}

/// Removes one of the app's own templates and audits it; false when there was none.
pub(super) fn delete_mail_template(
    tx: &Transaction<'_>,
    app_id: &AppId,
    kind: MailKind,
    locale: Locale,
    by: &Actor,
    now: Timestamp,
) -> rusqlite::Result<bool> {
    let removed = tx.execute(
        "DELETE FROM mail_templates WHERE app_id = ?1 AND kind = ?2 AND locale = ?3",
        params![app_id.as_str(), kind.as_str(), locale.as_str()],
    )?;
    if removed > 0 {
        audit::record(tx, &app_changes::template_changed(TemplateChange::Removed, app_id, (kind, locale), by, now))?;
    }
    Ok(removed > 0)
}
