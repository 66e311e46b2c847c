//! The built-in `User` entity: for now, `me` (what `base44.auth.me()` reads).

use axum::routing::get;
use axum::{Json, Router};
use usher_api_types as api;
use usher_core::access::Principal;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;
use crate::wire;

/// `GET /api/apps/{app_id}/entities/User/me`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/apps/{app_id}/entities/User/me", get(show_me))
}

/// The signed-in member, in Base44's `User` shape.
async fn show_me(caller: Caller) -> Result<Json<api::User>, ApiError> {
    match caller.principal {
        Principal::Member(user) => Ok(Json(wire::user(&user))),
        Principal::ApiKey(_) => Err(ApiError::NotAMember),
    }
}
