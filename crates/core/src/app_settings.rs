//! Changing an app's name, URL and settings: each field checked, nothing stored unless all are
//! valid.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::model::{App, InvitePolicy};
use crate::rules::domains::{DomainPattern, MAX_PATTERNS};
use crate::rules::reminders::lead_fits_lifetime;

/// Shortest invitation lifetime accepted.
const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest invitation lifetime accepted.
const MAX_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// Largest daily allowance accepted (a million: beyond it, switch the allowance off).
const MAX_DAILY_INVITES: u32 = 1_000_000;

/// A field of a settings change was not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {reason}")]
pub struct InvalidSetting {
    /// The field.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting { field: field.to_owned(), reason: reason.into() }
}

/// `app` with `changes` (field names as `GET …/settings` shows them) applied.
pub fn apply(app: &App, changes: Map<String, Value>) -> Result<App, InvalidSetting> {
    let mut app = app.clone();
    for (field, value) in changes {
        let text = || value.as_str().map(str::trim).ok_or_else(|| invalid(&field, "must be a string"));
        let optional_text = || match &value {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.trim().to_owned())),
            _ => Err(invalid(&field, "must be a string or null")),
        };
        match field.as_str() {
            "name" => {
                let name = text()?;
                if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                    return Err(invalid(&field, "must be 1 to 100 characters"));
                }
                app.name = name.to_owned();
            }
            "app_url" => app.app_url = http_url(&field, text()?)?,
            "invitation_ttl_seconds" => {
                let secs = value.as_u64().ok_or_else(|| invalid(&field, "must be a whole number of seconds"))?;
                let ttl = Duration::from_secs(secs);
                if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
                    return Err(invalid(&field, "must be between 60 seconds and 90 days"));
                }
                app.settings.invitation_ttl = ttl;
            }
            "invite_policy" => {
                app.settings.invite_policy =
                    InvitePolicy::parse(text()?).ok_or_else(|| invalid(&field, "must be \"admins\" or \"members\""))?;
            }
            "is_signup_open" => {
                app.settings.is_signup_open = value.as_bool().ok_or_else(|| invalid(&field, "must be true or false"))?
            }
            "sender_name" => {
                let name = optional_text()?;
                if name.as_ref().is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control)) {
                    return Err(invalid(&field, "must be at most 100 characters"));
                }
                app.settings.sender_name = name;
            }
            "sender_email" => {
                app.settings.sender_email = optional_text()?
                    .map(|e| EmailAddress::parse(&e))
                    .transpose()
                    .map_err(|e| invalid(&field, e.to_string()))?;
            }
            "cors_origins" => {
                let list = value.as_array().ok_or_else(|| invalid(&field, "must be a list of origins"))?;
                app.settings.cors_origins = list
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| invalid(&field, "must be a list of strings"))
                            .and_then(|s| origin(&field, s))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "allowed_email_domains" => app.settings.allowed_email_domains = domain_list(&field, &value)?,
            "blocked_email_domains" => app.settings.blocked_email_domains = domain_list(&field, &value)?,
            "max_invites_per_day" => {
                app.settings.max_invites_per_day = match &value {
                    Value::Null => None,
                    value => Some(
                        value
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| (1..=MAX_DAILY_INVITES).contains(n))
                            .ok_or_else(|| {
                                invalid(
                                    &field,
                                    format!("must be a whole number from 1 to {MAX_DAILY_INVITES}, or null"),
                                )
                            })?,
                    ),
                };
            }
            "reminder_before_expiry_hours" => {
                app.settings.reminder_before_expiry_hours = match &value {
                    Value::Null => None,
                    value => Some(
                        value
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|&n| n > 0)
                            .ok_or_else(|| invalid(&field, "must be a whole number of hours from 1, or null"))?,
                    ),
                };
            }
            "locale" => {
                app.settings.locale = Locale::parse(text()?).map_err(|e| invalid(&field, e.to_string()))?;
            }
            _ => return Err(invalid(&field, "is not a setting")),
        }
    }
    // Checked on the result, so a change of either the lead or the lifetime is caught.
    if let Some(hours) = app.settings.reminder_before_expiry_hours
        && !lead_fits_lifetime(hours, app.settings.invitation_ttl)
    {
        return Err(invalid(
            "reminder_before_expiry_hours",
            format!(
                "must be less than the invitation lifetime ({} seconds, `invitation_ttl_seconds`)",
                app.settings.invitation_ttl.as_secs()
            ),
        ));
    }
    Ok(app)
}

/// Every field [`apply`] changes, with its value in `app`, named and shaped as the settings
/// route shows them (`invitation_ttl_seconds`, `locale: "de"`, `null` for off).
pub fn fields(app: &App) -> Map<String, Value> {
    let settings = &app.settings;
    let shown = |list: &[DomainPattern]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let fields = serde_json::json!({
        "name": app.name,
        "app_url": app.app_url,
        "invitation_ttl_seconds": settings.invitation_ttl.as_secs(),
        "invite_policy": settings.invite_policy.as_str(),
        "is_signup_open": settings.is_signup_open,
        "sender_name": settings.sender_name,
        "sender_email": settings.sender_email.as_ref().map(EmailAddress::as_str),
        "cors_origins": settings.cors_origins,
        "allowed_email_domains": shown(&settings.allowed_email_domains),
        "blocked_email_domains": shown(&settings.blocked_email_domains),
        "max_invites_per_day": settings.max_invites_per_day,
        "reminder_before_expiry_hours": settings.reminder_before_expiry_hours,
        "locale": settings.locale.as_str(),
    });
    fields.as_object().cloned().unwrap_or_default()
}

/// A list of domain patterns (see [`crate::rules::domains`]), duplicates dropped.
fn domain_list(field: &str, value: &Value) -> Result<Vec<DomainPattern>, InvalidSetting> {
    let list = value.as_array().ok_or_else(|| invalid(field, "must be a list of domains"))?;
    if list.len() > MAX_PATTERNS {
        return Err(invalid(field, format!("must have at most {MAX_PATTERNS} domains")));
    }
    let mut patterns: Vec<DomainPattern> = Vec::with_capacity(list.len());
    for item in list {
        let text = item.as_str().ok_or_else(|| invalid(field, "must be a list of strings"))?;
        let pattern = DomainPattern::parse(text).map_err(|e| invalid(field, e.to_string()))?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

fn http_url(field: &str, text: &str) -> Result<String, InvalidSetting> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url.into()),
        _ => Err(invalid(field, "must be an absolute http:// or https:// URL")),
    }
}

fn origin(field: &str, text: &str) -> Result<String, InvalidSetting> {
    let url = http_url(field, text)?;
    let parsed = url::Url::parse(&url).map_err(|_| invalid(field, "must be an origin"))?;
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Timestamp;
    use crate::id::AppId;
    use crate::model::AppSettings;

    /// An app with the default settings.
    pub(crate) fn app() -> App {
        App {
            id: AppId::generate(),
            name: "Acme".into(),
            app_url: "https://acme.test/".into(),
            settings: AppSettings::default(),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn changes(value: Value) -> Map<String, Value> {
        value.as_object().expect("object").clone()
    }

    #[test]
    fn apply_changes_every_setting() {
        let changed = apply(
            &app(),
            changes(json!({
                "name": "Acme 2", "app_url": "https://new.acme.test/home", "invitation_ttl_seconds": 3600,
                "invite_policy": "members", "is_signup_open": true, "sender_name": "Acme Team",
                "sender_email": "team@acme.test", "cors_origins": ["https://admin.acme.test/path"],
                "allowed_email_domains": ["Acme.test", "*.acme.test", "acme.test"],
                "blocked_email_domains": ["@rival.test"], "max_invites_per_day": 500, "locale": "de-AT"
            })),
        )
        .expect("valid");

        assert_eq!(changed.name, "Acme 2");
        assert_eq!(changed.settings.invitation_ttl, Duration::from_secs(3600));
        assert_eq!(changed.settings.invite_policy, InvitePolicy::Members);
        assert_eq!(changed.settings.cors_origins, ["https://admin.acme.test"]);
        assert_eq!(changed.settings.sender_email.as_ref().map(ToString::to_string).as_deref(), Some("team@acme.test"));
        let shown = |list: &[DomainPattern]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(&changed.settings.allowed_email_domains), ["acme.test", "*.acme.test"]);
        assert_eq!(shown(&changed.settings.blocked_email_domains), ["rival.test"]);
        assert_eq!(changed.settings.max_invites_per_day, Some(500));
        assert_eq!(changed.settings.locale, Locale::De);
        let off = apply(&changed, changes(json!({ "max_invites_per_day": null }))).expect("valid");
        assert_eq!(off.settings.max_invites_per_day, None);
    }

    #[test]
    fn fields_name_every_setting_apply_changes_and_apply_takes_them_back() {
        let new = app();
        let changed = apply(
            &new,
            changes(json!({
                "sender_email": "team@acme.test", "allowed_email_domains": ["*.acme.test"],
                "max_invites_per_day": 50, "reminder_before_expiry_hours": 2, "locale": "fr"
            })),
        )
        .expect("valid");
        let shown = fields(&changed);

        assert_eq!(shown.len(), 13);
        assert_eq!((&shown["locale"], &shown["max_invites_per_day"]), (&json!("fr"), &json!(50)));
        assert_eq!(shown["allowed_email_domains"], json!(["*.acme.test"]));
        assert_eq!(apply(&new, shown).expect("every field is accepted back"), changed);
    }

    #[test]
    fn the_reminder_lead_is_checked_against_the_lifetime_after_the_whole_change() {
        let on = apply(&app(), changes(json!({ "reminder_before_expiry_hours": 24 }))).expect("valid");
        assert_eq!(on.settings.reminder_before_expiry_hours, Some(24));
        let off = apply(&on, changes(json!({ "reminder_before_expiry_hours": null }))).expect("valid");
        assert_eq!(off.settings.reminder_before_expiry_hours, None);
        // Together: a shorter lifetime with a lead that fits it.
        let both = apply(&on, changes(json!({ "invitation_ttl_seconds": 7200, "reminder_before_expiry_hours": 1 })));
        assert_eq!(both.expect("valid").settings.reminder_before_expiry_hours, Some(1));
        for bad in [
            json!({ "reminder_before_expiry_hours": 168 }),
            json!({ "invitation_ttl_seconds": 86400 }),
            json!({ "invitation_ttl_seconds": 3600, "reminder_before_expiry_hours": 1 }),
        ] {
            let refused = apply(&on, changes(bad.clone())).expect_err("refused");
            assert_eq!(refused.field, "reminder_before_expiry_hours", "{bad}");
        }
    }

    #[test]
    fn apply_refuses_bad_values_and_unknown_fields() {
        for bad in [
            json!({ "name": "" }),
            json!({ "app_url": "ftp://acme.test" }),
            json!({ "invitation_ttl_seconds": 5 }),
            json!({ "invite_policy": "everyone" }),
            json!({ "sender_email": "not an address" }),
            json!({ "cors_origins": "https://a.test" }),
            json!({ "colour": "blue" }),
            json!({ "allowed_email_domains": "acme.test" }),
            json!({ "allowed_email_domains": ["acme"] }),
            json!({ "blocked_email_domains": ["*.*.acme.test"] }),
            json!({ "blocked_email_domains": [7] }),
            json!({ "max_invites_per_day": 0 }),
            json!({ "max_invites_per_day": -1 }),
            json!({ "max_invites_per_day": "100" }),
            json!({ "reminder_before_expiry_hours": 0 }),
            json!({ "reminder_before_expiry_hours": -3 }),
            json!({ "reminder_before_expiry_hours": 1.5 }),
            json!({ "reminder_before_expiry_hours": "24" }),
            json!({ "locale": "it" }),
            json!({ "locale": 7 }),
        ] {
            assert!(apply(&app(), changes(bad.clone())).is_err(), "{bad}");
        }
    }
}
