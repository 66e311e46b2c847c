//! Unauthenticated app information the SDK fetches, and the analytics sink it posts to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::extract::AppContext;
use crate::state::AppState;

/// `app.getPublicSettings()` and the browser SDK's analytics batches.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_public_settings)).routes(routes!(accept_analytics))
}

/// The browser SDK's analytics batches: accepted and dropped, so pages log no errors.
#[utoipa::path(post, path = "/api/apps/{app_id}/analytics/track/batch", tag = "app", params(("app_id" = String, Path, description = "The app's id")), responses((status = 204, description = "Accepted and dropped")))]
async fn accept_analytics() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// What a sign-in page needs to know about the app.
#[utoipa::path(get, path = "/api/apps/public/prod/public-settings/by-id/{app_id}", tag = "app", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "What a sign-in page needs to know", body = api::PublicSettings), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_public_settings(State(_): State<AppState>, AppContext(app): AppContext) -> Json<api::PublicSettings> {
    Json(api::PublicSettings {
        id: app.id.to_string(),
        app_id: app.id.to_string(),
        name: app.name,
        app_url: app.app_url,
        requires_auth: true,
        is_signup_open: app.settings.is_signup_open,
        invitation_only: !app.settings.is_signup_open,
        auth_methods: vec!["email_password".to_owned()],
    })
}
