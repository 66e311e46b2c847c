//! Sign-up with a one-time code: the SDK's `register`, `verifyOtp` and `resendOtp`.

use axum::Json;
use axum::extract::State;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{ApiJson, AppContext};
use crate::state::AppState;
use crate::wire;

/// What `register` and `resendOtp` answer, whoever asked.
const CODE_SENT: &str = "Check your email for a code to finish signing up.";

/// The sign-up routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register)).routes(routes!(verify_otp)).routes(routes!(resend_otp))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/auth/register", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::RegisterRequest, responses((status = 200, description = "A code is on its way", body = api::Message), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::RegisterRequest>,
) -> Result<Json<api::Message>, ApiError> {
    state.signups.register(&app, &body.email, body.password).await?;
    Ok(Json(api::Message { message: CODE_SENT.into() }))
}

/// The right code creates the member: `{access_token, user}`.
#[utoipa::path(post, path = "/api/apps/{app_id}/auth/verify-otp", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::VerifyOtpRequest, responses((status = 200, description = "`{access_token, user}`", body = api::SignedIn), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn verify_otp(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::VerifyOtpRequest>,
) -> Result<Json<api::SignedIn>, ApiError> {
    let signed_in = state.signups.verify(&app, &body.email, &body.otp_code).await?;
    Ok(Json(api::SignedIn { access_token: signed_in.access_token, user: wire::user(&signed_in.user) }))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/auth/resend-otp", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::EmailRequest, responses((status = 200, description = "The same answer for any address", body = api::Message), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn resend_otp(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::EmailRequest>,
) -> Result<Json<api::Message>, ApiError> {
    state.signups.resend(&app, &body.email).await?;
    Ok(Json(api::Message { message: CODE_SENT.into() }))
}
