//! Forgotten passwords: the SDK's `resetPasswordRequest` / `resetPassword`, and for apps
//! without their own pages, the page that asks for a link (linked from the sign-in page) and
//! the page the reset email links to.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use usher_core::password;
use usher_core::reset::ResetError;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{ApiJson, AppContext, PageForm, PageQuery};
use crate::pages::Csp;
use crate::routes::join::is_cross_site;
use crate::state::AppState;

/// What `resetPasswordRequest` answers, whoever asked.
const REQUESTED: &str = "If an account exists for that address, a link to reset its password is on its way.";

/// The reset API routes and page.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(reset_password))
        .routes(routes!(show_reset_page, submit_reset_page))
        .routes(routes!(show_forgot_page, submit_forgot_page))
}

/// Emails a reset link to a member; answers the same for anyone.
#[utoipa::path(post, path = "/api/apps/{app_id}/auth/reset-password-request", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::EmailRequest, responses((status = 200, description = "The same answer for any address", body = api::Message), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn request_reset(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::EmailRequest>,
) -> Result<Json<api::Message>, ApiError> {
    // Member or stranger, the answer goes before the store's work is done (core::reset).
    let work = state.resets.request(&app, &body.email).await;
    tokio::spawn(async move {
        if let Err(err) = work.await {
            tracing::error!(error = ?err, "password reset request failed");
        }
    });
    Ok(Json(api::Message { message: REQUESTED.into() }))
}

/// Sets a new password with a reset token.
#[utoipa::path(post, path = "/api/apps/{app_id}/auth/reset-password", tag = "auth", params(("app_id" = String, Path, description = "The app's id")), request_body = api::ResetPasswordRequest, responses((status = 200, description = "Changed", body = api::Message), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::ResetPasswordRequest>,
) -> Result<Json<api::Message>, ApiError> {
    state.resets.reset(&app.id, &body.reset_token, body.new_password).await?;
    Ok(Json(api::Message { message: "Password changed. Sign in with the new password.".into() }))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct ResetForm {
    token: Option<String>,
    #[serde(default)]
    password: String,
}

#[utoipa::path(get, path = "/apps/{app_id}/reset-password", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The reset page (query: token)", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_reset_page(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    reset_form(&state, &app, &query.token.unwrap_or_default(), None, StatusCode::OK)
}

#[utoipa::path(post, path = "/apps/{app_id}/reset-password", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "Changed, or a page that says why not", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn submit_reset_page(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    PageQuery(query): PageQuery<TokenQuery>,
    headers: HeaderMap,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the link in your reset email");
    }
    let token = form.token.or(query.token).unwrap_or_default();
    match state.resets.reset(&app.id, &token, form.password).await {
        Ok(_) => {
            let context = context! {
                title => "Password changed",
                explanation => format!("Your {} password is changed.", app.name),
                next_step => "Sign in with your new password.",
                link_href => format!("/apps/{}/login", app.id),
                link_text => format!("Sign in to {}", app.name),
            };
            state.pages.render(StatusCode::OK, "link_problem.html", context, Csp::Form)
        }
        Err(err @ ResetError::WeakPassword(_)) => {
            reset_form(&state, &app, &token, Some(&err.to_string()), StatusCode::BAD_REQUEST)
        }
        Err(ResetError::Link(link)) => {
            let status =
                if link == usher_core::model::LinkState::Unknown { StatusCode::NOT_FOUND } else { StatusCode::GONE };
            let context = context! {
                title => "This reset link does not work",
                explanation => ResetError::Link(link).to_string(),
                next_step => "Ask for a new reset link.",
                link_href => format!("/apps/{}/forgot-password", app.id),
                link_text => "Email me a new link",
            };
            state.pages.render(status, "link_problem.html", context, Csp::Form)
        }
        Err(ResetError::Store(err)) => {
            tracing::error!(error = ?err, "password reset failed");
            state.pages.failed(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn reset_form(
    state: &AppState,
    app: &usher_core::model::App,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let context = context! {
        app_name => app.name,
        action => usher_mail::link::reset_password_path(app.id.as_str()),
        token,
        error,
        min_password => password::MIN_LEN,
        max_password => password::MAX_LEN,
    };
    state.pages.render(status, "reset_password.html", context, Csp::Form)
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

#[utoipa::path(get, path = "/apps/{app_id}/forgot-password", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The page that asks for a reset link", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_forgot_page(State(state): State<AppState>, AppContext(app): AppContext) -> Response {
    forgot_form(&state, &app)
}

#[utoipa::path(post, path = "/apps/{app_id}/forgot-password", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The same page for any address: a link is on its way if it has an account", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn submit_forgot_page(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    headers: HeaderMap,
    PageForm(form): PageForm<ForgotForm>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the sign-in page");
    }
    // Member or stranger, the page goes before the store's work is done (core::reset).
    let work = state.resets.request(&app, &form.email).await;
    tokio::spawn(async move {
        if let Err(err) = work.await {
            tracing::error!(error = ?err, "password reset request failed");
        }
    });
    let context = context! {
        title => "Check your email",
        explanation => REQUESTED,
        next_step => format!(
            "The link works for {} minutes. Nothing arrived? Check the spam folder, or ask again in a minute.",
            usher_core::reset::RESET_LINK_TTL.as_secs() / 60
        ),
        link_href => format!("/apps/{}/login", app.id),
        link_text => "Back to sign-in",
    };
    state.pages.render(StatusCode::OK, "link_problem.html", context, Csp::Form)
}

fn forgot_form(state: &AppState, app: &usher_core::model::App) -> Response {
    let context = context! {
        app_name => app.name,
        action => format!("/apps/{}/forgot-password", app.id),
        login_url => format!("/apps/{}/login", app.id),
    };
    state.pages.render(StatusCode::OK, "forgot_password.html", context, Csp::Form)
}
