//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz))
}

/// 200 once the server is serving and its database answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The server and its database answer", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.has_apps().await?;
    Ok(Json(json!({ "status": "ok" })))
}
