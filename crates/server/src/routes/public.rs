//! Unauthenticated app information the SDK fetches, and the analytics sink it posts to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::extract::AppContext;
use crate::state::AppState;

/// `app.getPublicSettings()` and the browser SDK's analytics batches.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/apps/public/prod/public-settings/by-id/{app_id}", get(show_public_settings))
        .route("/api/apps/{app_id}/analytics/track/batch", post(|| async { StatusCode::NO_CONTENT }))
}

/// What a sign-in page needs to know about the app.
async fn show_public_settings(State(_): State<AppState>, AppContext(app): AppContext) -> Json<Value> {
    Json(json!({
        "id": app.id.as_str(),
        "app_id": app.id.as_str(),
        "name": app.name,
        "app_url": app.app_url,
        "requires_auth": true,
        "is_signup_open": app.settings.is_signup_open,
        "invitation_only": !app.settings.is_signup_open,
        "auth_methods": ["email_password"],
    }))
}
