//! The hosted sign-in page (`auth.redirectToLogin` sends browsers to `/login?from_url=…`)
//! and the logout redirect (`auth.logout` sends them to `/api/apps/auth/logout?from_url=…`).
//!
//! Both send the browser back to `from_url` only when it belongs to an app here: the origin
//! of its `app_url`, one of its extra CORS origins, or Usher's own. Any other `from_url` is
//! refused with a page that says so, never silently replaced, so an open redirect is not
//! possible.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use url::Url;
use usher_core::model::App;
use usher_core::sign_in::SignInError;
use usher_core::{AppId, ceil_secs};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::extract::{AppContext, PageForm, PageQuery};
use crate::origin;
use crate::pages::Csp;
use crate::routes::join::is_cross_site;
use crate::state::AppState;

/// The sign-in page and the logout redirect.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_login_for_origin))
        .routes(routes!(show_login, submit_login))
        .routes(routes!(logout))
}

#[derive(Deserialize)]
struct FromQuery {
    from_url: Option<String>,
    app_id: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    from_url: Option<String>,
}

fn refused(state: &AppState, title: &str, explanation: String) -> Response {
    let context = context! { title, explanation, next_step => "Go back to the app and try again from there." };
    state.pages.render(StatusCode::BAD_REQUEST, "link_problem.html", context, Csp::Form)
}

/// The page for a store that failed: said, and logged, rather than passed off as "no such app".
fn unavailable(state: &AppState, err: &usher_core::store::StoreError) -> Response {
    tracing::error!(error = ?err, "sign-in page could not read the apps");
    state.pages.failed(StatusCode::SERVICE_UNAVAILABLE)
}

/// The `from_url` as a URL allowed for `app` (the app's URL when none is given), or why not.
fn destination(state: &AppState, app: &App, from_url: Option<&str>) -> Result<Url, String> {
    let Some(raw) = from_url.filter(|u| !u.is_empty()) else {
        return Url::parse(&app.app_url).map_err(|_| format!("{} has no valid address.", app.name));
    };
    match Url::parse(raw) {
        Ok(url) if origin::is_app_url(app, &url, &state.public_url) => Ok(url),
        _ => Err(format!("{raw} is not an address of {}.", app.name)),
    }
}

/// The sign-in form; its post redirects to `from_url`, so the page's policy names that origin.
fn login_page(
    state: &AppState,
    app: &App,
    from_url: &Url,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let context = context! {
        app_name => app.name,
        action => format!("/apps/{}/login", app.id),
        forgot_url => format!("/apps/{}/forgot-password", app.id),
        from_url => from_url.as_str(),
        email,
        error,
    };
    let csp = Csp::form_leading_to(Some(from_url.origin().ascii_serialization()));
    state.pages.render(status, "login.html", context, csp)
}

/// `/login?from_url=…`: finds the app by the origin of `from_url` (or `app_id`).
#[utoipa::path(get, path = "/login", tag = "pages", responses((status = 200, description = "The hosted sign-in page (query: from_url, app_id)", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_login_for_origin(State(state): State<AppState>, PageQuery(query): PageQuery<FromQuery>) -> Response {
    let app = match &query.app_id {
        Some(id) => match AppId::parse(id) {
            Ok(id) => match state.apps.get(&id).await {
                Ok(app) => app,
                Err(err) => return unavailable(&state, &err),
            },
            Err(_) => None,
        },
        None => {
            let Some(url) = query.from_url.as_deref().and_then(|u| Url::parse(u).ok()) else {
                return refused(&state, "Which app?", "Open the sign-in page from the app you want to use.".into());
            };
            let apps = match state.apps.all().await {
                Ok(apps) => apps,
                Err(err) => return unavailable(&state, &err),
            };
            let mut matching = apps.into_iter().filter(|app| origin::is_app_url(app, &url, &state.public_url));
            match (matching.next(), matching.next()) {
                (Some(app), None) => Some(app),
                (Some(_), Some(_)) => {
                    return refused(
                        &state,
                        "Which app?",
                        "Several apps share this address; add ?app_id= to the link.".into(),
                    );
                }
                (None, _) => None,
            }
        }
    };
    let Some(app) = app else {
        return refused(
            &state,
            "No app here has this address",
            "The sign-in link does not belong to an app on this server.".into(),
        );
    };
    show_login_page(&state, &app, query.from_url.as_deref())
}

#[utoipa::path(get, path = "/apps/{app_id}/login", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The hosted sign-in page (query: from_url)", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_login(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    PageQuery(query): PageQuery<FromQuery>,
) -> Response {
    show_login_page(&state, &app, query.from_url.as_deref())
}

fn show_login_page(state: &AppState, app: &App, from_url: Option<&str>) -> Response {
    match destination(state, app, from_url) {
        Ok(url) => login_page(state, app, &url, "", None, StatusCode::OK),
        Err(reason) => refused(state, "That return address is not allowed", reason),
    }
}

#[utoipa::path(post, path = "/apps/{app_id}/login", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 303, description = "Signed in: redirect to from_url with `access_token`", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn submit_login(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the sign-in page");
    }
    let mut url = match destination(&state, &app, form.from_url.as_deref()) {
        Ok(url) => url,
        Err(reason) => return refused(&state, "That return address is not allowed", reason),
    };
    match state.sign_in.sign_in(&app, &form.email, form.password, client.ip()).await {
        Ok(signed_in) => {
            url.query_pairs_mut().append_pair("access_token", &signed_in.access_token);
            Redirect::to(url.as_str()).into_response()
        }
        Err(SignInError::Store(err)) => {
            tracing::error!(error = ?err, "sign-in failed");
            login_page(
                &state,
                &app,
                &url,
                &form.email,
                Some("Something went wrong; please try again."),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
        Err(err) => {
            let status = match err {
                SignInError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                SignInError::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut page = login_page(&state, &app, &url, &form.email, Some(&err.to_string()), status);
            if let SignInError::TooManyAttempts { retry_after } = err {
                page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(ceil_secs(retry_after)));
            }
            page
        }
    }
}

/// Usher keeps no session cookie (the SDK holds the access token), so logging out is only
/// the redirect back to an allowed `from_url`.
#[utoipa::path(get, path = "/api/apps/auth/logout", tag = "pages", responses((status = 303, description = "Redirect to an allowed from_url", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn logout(State(state): State<AppState>, PageQuery(query): PageQuery<FromQuery>) -> Response {
    let Some(raw) = query.from_url.as_deref().filter(|u| !u.is_empty()) else {
        return refused(&state, "Signed out", "You are signed out. Close this page or return to your app.".into());
    };
    let Ok(url) = Url::parse(raw) else {
        return refused(&state, "That return address is not allowed", format!("{raw} is not a valid address."));
    };
    let apps = match state.apps.all().await {
        Ok(apps) => apps,
        Err(err) => return unavailable(&state, &err),
    };
    if apps.iter().any(|app| origin::is_app_url(app, &url, &state.public_url)) {
        Redirect::to(url.as_str()).into_response()
    } else {
        refused(
            &state,
            "That return address is not allowed",
            format!("{raw} is not an address of any app on this server."),
        )
    }
}
