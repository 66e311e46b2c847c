//! An app's own settings: `GET` and `PATCH /api/apps/{app_id}/settings` (admins and API keys).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};
use usher_core::apps::UpdateSettingsError;
use usher_core::model::App;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{Admin, ApiJson};
use crate::state::AppState;

/// The settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_settings, update_settings))
}

fn settings_json(app: &App, invites_last_24h: u64) -> api::AppSettings {
    let settings = &app.settings;
    api::AppSettings {
        app_id: app.id.to_string(),
        name: app.name.clone(),
        app_url: app.app_url.clone(),
        invitation_ttl_seconds: settings.invitation_ttl.as_secs(),
        invite_policy: settings.invite_policy.as_str().to_owned(),
        is_signup_open: settings.is_signup_open,
        sender_name: settings.sender_name.clone(),
        sender_email: settings.sender_email.as_ref().map(ToString::to_string),
        cors_origins: settings.cors_origins.clone(),
        allowed_email_domains: settings.allowed_email_domains.iter().map(ToString::to_string).collect(),
        blocked_email_domains: settings.blocked_email_domains.iter().map(ToString::to_string).collect(),
        max_invites_per_day: settings.max_invites_per_day,
        invites_last_24h,
        reminder_before_expiry_hours: settings.reminder_before_expiry_hours,
        locale: settings.locale.as_str().to_owned(),
    }
}

#[utoipa::path(get, path = "/api/apps/{app_id}/settings", tag = "settings", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The app's settings", body = api::AppSettings), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<api::AppSettings>, ApiError> {
    let used = state.invites.sent_today(&caller.app).await?;
    Ok(Json(settings_json(&caller.app, used)))
}

/// Changes any of the fields `GET` shows (except `app_id`); all or nothing.
#[utoipa::path(patch, path = "/api/apps/{app_id}/settings", tag = "settings", params(("app_id" = String, Path, description = "The app's id")), request_body = api::UpdateAppSettingsRequest, responses((status = 200, description = "The settings after the change", body = api::AppSettings), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
    // Read as loose JSON so each bad field gets its own INVALID_SETTING (core::app_settings).
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<api::AppSettings>, ApiError> {
    let stored =
        state.apps.update_settings(&caller.app, &caller.principal, changes).await.map_err(|err| match err {
            UpdateSettingsError::Invalid(invalid) => ApiError::InvalidSetting(invalid),
            UpdateSettingsError::AppGone => ApiError::AppNotFound(caller.app.id.to_string()),
            UpdateSettingsError::Store(err) => err.into(),
        })?;
    let used = state.invites.sent_today(&stored).await?;
    Ok(Json(settings_json(&stored, used)))
}
