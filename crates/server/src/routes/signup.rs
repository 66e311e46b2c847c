//! Sign-up with a one-time code: the SDK's `register`, `verifyOtp` and `resendOtp`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{ApiJson, AppContext};
use crate::state::AppState;
use crate::wire;

/// What `register` and `resendOtp` answer, whoever asked.
const CODE_SENT: &str = "Check your email for a code to finish signing up.";

/// The sign-up routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/apps/{app_id}/auth/register", post(register))
        .route("/api/apps/{app_id}/auth/verify-otp", post(verify_otp))
        .route("/api/apps/{app_id}/auth/resend-otp", post(resend_otp))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    /// Sent by the SDK for apps using Cloudflare Turnstile or referrals; Usher has neither.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for wire compatibility with the SDK and not used")]
    turnstile_token: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for wire compatibility with the SDK and not used")]
    referral_code: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Json<Value>, ApiError> {
    state.signups.register(&app, &body.email, body.password).await?;
    Ok(Json(json!({ "message": CODE_SENT })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    email: String,
    otp_code: String,
}

/// The right code creates the member: `{access_token, user}`.
async fn verify_otp(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<Value>, ApiError> {
    let signed_in = state.signups.verify(&app, &body.email, &body.otp_code).await?;
    Ok(Json(json!({ "access_token": signed_in.access_token, "user": wire::user(&signed_in.user) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendBody {
    email: String,
}

async fn resend_otp(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<ResendBody>,
) -> Result<Json<Value>, ApiError> {
    state.signups.resend(&app, &body.email).await?;
    Ok(Json(json!({ "message": CODE_SENT })))
}
