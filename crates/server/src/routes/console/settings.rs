//! The console's settings page: the app's name, address and every setting `GET …/settings`
//! shows, changed all at once with the same service and checks as `PATCH …/settings` (so a
//! refusal says what the API would say).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use usher_core::apps::UpdateSettingsError;
use usher_core::locale::Locale;
use usher_core::model::App;

use super::session::{FromThisSite, Session, back_with_notice, failed};
use crate::extract::{PageForm, PageQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/apps/{app_id}/settings", get(show).post(save))
}

/// The form's fields, as typed.
#[derive(Deserialize, Default)]
struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    app_url: String,
    #[serde(default)]
    invitation_ttl_hours: String,
    #[serde(default)]
    invite_policy: String,
    /// A checkbox: sent only when ticked.
    is_signup_open: Option<String>,
    #[serde(default)]
    sender_name: String,
    #[serde(default)]
    sender_email: String,
    /// One origin per line.
    #[serde(default)]
    cors_origins: String,
    /// Hours before expiry; empty: no reminders.
    #[serde(default)]
    reminder_before_expiry_hours: String,
    /// One domain pattern per line; empty: every domain.
    #[serde(default)]
    allowed_email_domains: String,
    /// One domain pattern per line.
    #[serde(default)]
    blocked_email_domains: String,
    /// Invitation emails per rolling 24 hours; empty: no allowance.
    #[serde(default)]
    max_invites_per_day: String,
    /// The language of the app's email.
    #[serde(default)]
    locale: String,
}

impl SettingsForm {
    /// The form filled in with what `app` holds now.
    fn of(app: &App) -> Self {
        let settings = &app.settings;
        Self {
            name: app.name.clone(),
            app_url: app.app_url.clone(),
            invitation_ttl_hours: hours(settings.invitation_ttl.as_secs()),
            invite_policy: settings.invite_policy.as_str().to_owned(),
            is_signup_open: settings.is_signup_open.then(|| "on".to_owned()),
            sender_name: settings.sender_name.clone().unwrap_or_default(),
            sender_email: settings.sender_email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            cors_origins: settings.cors_origins.join("\n"),
            reminder_before_expiry_hours: settings
                .reminder_before_expiry_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
            allowed_email_domains: lines_of(&settings.allowed_email_domains),
            blocked_email_domains: lines_of(&settings.blocked_email_domains),
            max_invites_per_day: settings.max_invites_per_day.map(|n| n.to_string()).unwrap_or_default(),
            locale: settings.locale.as_str().to_owned(),
        }
    }

    /// The change in the shape `PATCH …/settings` takes, or why the lifetime is not a number
    /// of hours (the one field the form shows in other units than the API).
    fn changes(&self) -> Result<Map<String, Value>, String> {
        let hours: f64 = self
            .invitation_ttl_hours
            .trim()
            .parse()
            .ok()
            .filter(|h: &f64| h.is_finite() && *h > 0.0)
            .ok_or("The invitation lifetime must be a number of hours, such as 168 for a week.")?;
        let changes = json!({
            "name": self.name,
            "app_url": self.app_url,
            // Whole seconds; the check of the range is the settings rule's.
            "invitation_ttl_seconds": (hours * 3600.0).round() as u64,
            "invite_policy": self.invite_policy,
            "is_signup_open": self.is_signup_open.is_some(),
            "sender_name": self.sender_name,
            "sender_email": self.sender_email,
            "cors_origins": lines(&self.cors_origins),
            "allowed_email_domains": lines(&self.allowed_email_domains),
            "blocked_email_domains": lines(&self.blocked_email_domains),
            // Numbers and their checks (whole, in range, the reminder within the lifetime) are
            // the settings rule's: the form passes on what was typed.
            "reminder_before_expiry_hours": number_or_text(&self.reminder_before_expiry_hours),
            "max_invites_per_day": number_or_text(&self.max_invites_per_day),
            "locale": self.locale,
        });
        Ok(changes.as_object().cloned().unwrap_or_default())
    }
}

/// The non-empty lines of a text box, trimmed.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect()
}

/// A list shown one item per line.
fn lines_of(list: &[impl ToString]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A typed number as JSON: empty is `null` (off), a number is that number, anything else
/// stays text for the settings rule to refuse with its own message.
fn number_or_text(typed: &str) -> Value {
    match typed.trim() {
        "" => Value::Null,
        text => serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| json!(text), Value::Number),
    }
}

/// Seconds as hours, without a trailing `.0`.
fn hours(seconds: u64) -> String {
    if seconds.is_multiple_of(3600) { (seconds / 3600).to_string() } else { format!("{:.3}", seconds as f64 / 3600.0) }
}

#[derive(Deserialize)]
struct ShowQuery {
    #[serde(default)]
    done: String,
}

async fn show(State(state): State<AppState>, session: Session, PageQuery(query): PageQuery<ShowQuery>) -> Response {
    let form = SettingsForm::of(&session.app);
    page(&state, &session, StatusCode::OK, &form, None, &query.done).await
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    form: &SettingsForm,
    error: Option<&str>,
    done: &str,
) -> Response {
    // What the allowance has counted so far, as the settings response shows it.
    let invites_last_24h = match state.invites.sent_today(&session.app).await {
        Ok(used) => used,
        Err(err) => return failed(state, &err),
    };
    let locales: Vec<Value> =
        Locale::ALL.iter().map(|l| json!({ "tag": l.as_str(), "name": l.native_name() })).collect();
    let context = context! {
        section => "settings",
        name => form.name,
        app_url => form.app_url,
        invitation_ttl_hours => form.invitation_ttl_hours,
        invite_policy => form.invite_policy,
        is_signup_open => form.is_signup_open.is_some(),
        sender_name => form.sender_name,
        sender_email => form.sender_email,
        cors_origins => form.cors_origins,
        reminder_before_expiry_hours => form.reminder_before_expiry_hours,
        allowed_email_domains => form.allowed_email_domains,
        blocked_email_domains => form.blocked_email_domains,
        max_invites_per_day => form.max_invites_per_day,
        // The limit in force (the stored one, not what was typed).
        daily_limit => session.app.settings.max_invites_per_day,
        invites_last_24h,
        locale => form.locale,
        locales,
        error,
        done,
    };
    session.page(state, status, "console/settings.html", context)
}

/// Checks and stores every field at once; a refused change shows the form again as typed.
async fn save(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    PageForm(form): PageForm<SettingsForm>,
) -> Response {
    let refused = async |error: &str| page(&state, &session, StatusCode::BAD_REQUEST, &form, Some(error), "").await;
    let changes = match form.changes() {
        Ok(changes) => changes,
        Err(error) => return refused(&error).await,
    };
    match state.apps.update_settings(&session.app, &session.principal, changes).await {
        Ok(_) => back_with_notice(&session, "settings", "Saved."),
        Err(UpdateSettingsError::Invalid(invalid)) => refused(&invalid.to_string()).await,
        Err(UpdateSettingsError::AppGone) => state.pages.failed(StatusCode::NOT_FOUND),
        Err(err) => failed(&state, &err),
    }
}
