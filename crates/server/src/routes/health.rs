//! Liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// 200 once the server is serving and its database answers.
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.has_apps().await?;
    Ok(Json(json!({ "status": "ok" })))
}
