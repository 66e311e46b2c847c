//! Signing in: `base44.auth.loginViaEmailPassword`.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use usher_core::access::Principal;

use crate::extract::{ApiJson, AppContext, Caller};
use crate::state::AppState;
use crate::wire;

/// The sign-in route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(change_password))
}

/// Changes the signed-in member's own password.
#[utoipa::path(post, path = "/api/apps/{app_id}/auth/change-password", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::ChangePasswordRequest, responses((status = 200, description = "Changed: `{message, access_token, user}`; every earlier token of the member stops working", body = api::PasswordChanged), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    caller: Caller,
    ApiJson(body): ApiJson<api::ChangePasswordRequest>,
) -> Result<Json<api::PasswordChanged>, ApiError> {
    let Principal::Member(user) = &caller.principal else { return Err(ApiError::NotAMember) };
    let changed = state
        .sign_in
        .change_password(user, &body.user_id, body.current_password, body.new_password, client.ip())
        .await?;
    // Every other session of the member ended; the caller carries on with this token.
    Ok(Json(api::PasswordChanged {
        message: "Password changed. Other sessions are signed out.".into(),
        access_token: changed.access_token,
        user: wire::user(&changed.user),
    }))
}

/// `{access_token, user}` for the right email and password.
#[utoipa::path(post, path = "/api/apps/{app_id}/auth/login", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::LoginRequest, responses((status = 200, description = "`{access_token, user}`", body = api::SignedIn), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<api::LoginRequest>,
) -> Result<Json<api::SignedIn>, ApiError> {
    let signed_in = state.sign_in.sign_in(&app, &body.email, body.password, client.ip()).await?;
    Ok(Json(api::SignedIn { access_token: signed_in.access_token, user: wire::user(&signed_in.user) }))
}
