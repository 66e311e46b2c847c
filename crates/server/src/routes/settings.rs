//! An app's own settings: `GET` and `PATCH /api/apps/{app_id}/settings` (admins and API keys).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use usher_core::app_settings;
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

fn settings_json(app: &App) -> Value {
    let settings = &app.settings;
    json!({
        "app_id": app.id.as_str(),
        "name": app.name,
        "app_url": app.app_url,
        "invitation_ttl_seconds": settings.invitation_ttl.as_secs(),
        "invite_policy": settings.invite_policy.as_str(),
        "is_signup_open": settings.is_signup_open,
        "sender_name": settings.sender_name,
        "sender_email": settings.sender_email.as_ref().map(|e| e.as_str()),
        "cors_origins": settings.cors_origins,
    })
}

#[utoipa::path(get, path = "/api/apps/{app_id}/settings", tag = "settings", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The app's settings", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_settings(Admin(caller): Admin) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings_json(&caller.app)))
}

/// Changes any of the fields `GET` shows (except `app_id`); all or nothing.
#[utoipa::path(patch, path = "/api/apps/{app_id}/settings", tag = "settings", params(("app_id" = String, Path, description = "The app's id")), request_body = serde_json::Value, responses((status = 200, description = "The settings after the change", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let changed = app_settings::apply(&caller.app, changes).map_err(ApiError::InvalidSetting)?;
    let stored =
        state.store.update_app(&changed).await?.ok_or_else(|| ApiError::AppNotFound(caller.app.id.to_string()))?;
    Ok(Json(settings_json(&stored)))
}
