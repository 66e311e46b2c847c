//! The operator console at `/console`: server-rendered pages where an app's admins see every
//! invitation and its email, invite, re-send, revoke, see the members, change the app's
//! settings and read its audit log.
//!
//! The console is another door to the same `core` services the API uses, with the same rules
//! (the sign-in throttle, the session epoch, who may do what). Its session is stored on the
//! server (`console_sessions`; or, for a one-time link, the key it made, whose secret nobody
//! keeps) and named by a cookie of its own per app (`HttpOnly`, `SameSite=Strict`, `Secure` on
//! https), sealed with the time of the last page view. The server ends it at sign-out (for
//! every copy of the cookie), after the idle timeout (`USHER_CONSOLE_IDLE_TIMEOUT`), at the
//! access-token lifetime, and when the admin changes their password, is disabled, removed or
//! made a plain member. Every form post is checked to come from this server's own pages.

mod audit;
mod import;
mod invitations;
mod keys;
mod link;
mod members;
mod session;
mod settings;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use usher_core::AppId;
use usher_core::console_session::SessionCredential;
use usher_core::model::App;
use usher_core::sign_in::SignInError;

use session::{FromThisSite, Session, SessionCookie, failed};

use crate::extract::{PageForm, PageQuery};
use crate::pages::Csp;
use crate::state::AppState;

/// Every console page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(show_start))
        .route("/console/sign-in", post(sign_in))
        .route("/console/console.js", get(script))
        .route("/console/apps/{app_id}", get(show_app))
        .route("/console/apps/{app_id}/sign-out", post(sign_out))
        .merge(invitations::router())
        .merge(members::router())
        .merge(settings::router())
        .merge(audit::router())
        .merge(import::router())
        .merge(keys::router())
        .merge(link::router())
}

#[derive(Deserialize)]
struct StartQuery {
    app_id: Option<String>,
}

/// `/console`: the apps this browser is signed in to, and a sign-in form for another.
async fn show_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<StartQuery>,
) -> Response {
    let mut signed_in = Vec::new();
    for id in session::signed_in_apps(&headers) {
        match state.apps.get(&id).await {
            Ok(Some(app)) => signed_in.push(context! { id => app.id.as_str(), name => app.name }),
            Ok(None) => {}
            Err(err) => return failed(&state, &err),
        }
    }
    sign_in_page(&state, StatusCode::OK, query.app_id.as_deref().unwrap_or_default(), "", None, signed_in)
}

fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    app_id: &str,
    email: &str,
    error: Option<&str>,
    signed_in: Vec<minijinja::Value>,
) -> Response {
    let context = context! { app_id, email, error, signed_in };
    state.pages.render(status, "console/sign_in.html", context, Csp::Form)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Signs an admin in with the same service, throttle and rules as the API's sign-in.
async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    _: FromThisSite,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let refuse = |status, error: &str| sign_in_page(&state, status, &form.app_id, &form.email, Some(error), vec![]);
    let app = match find_app(&state, form.app_id.trim()).await {
        Ok(Some(app)) => app,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "No app on this server has that id."),
        Err(page) => return page,
    };
    let signed_in = match state.sign_in.sign_in(&app, &form.email, form.password.clone(), client.ip()).await {
        Ok(signed_in) => signed_in,
        Err(SignInError::Store(err)) => return failed(&state, &err),
        Err(err) => {
            let status = match err {
                SignInError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                SignInError::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut page = refuse(status, &err.to_string());
            if let SignInError::TooManyAttempts { retry_after } = err {
                page.headers_mut().insert(header::RETRY_AFTER, usher_core::ceil_secs(retry_after).into());
            }
            return page;
        }
    };
    if signed_in.user.role != usher_core::Role::Admin {
        return refuse(StatusCode::FORBIDDEN, "Only admins of this app can use the console.");
    }
    let session = match state.console_sessions.start(&signed_in.user).await {
        Ok(token) => SessionCredential::Stored(token),
        Err(err) => return failed(&state, &err),
    };
    let cookie = SessionCookie::open(&state, &app.id, &session.text());
    (cookie, Redirect::to(&format!("/console/apps/{}/invitations", app.id))).into_response()
}

/// The console's one script (embedded, as everything the console serves).
async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../../templates/console/console.js"),
    )
}

/// The app by the id typed into a form: `None` when there is none (or the text is no id).
async fn find_app(state: &AppState, raw: &str) -> Result<Option<App>, Response> {
    let Ok(id) = AppId::parse(raw) else { return Ok(None) };
    state.apps.get(&id).await.map_err(|err| failed(state, &err))
}

/// `/console/apps/{id}`: the invitations are the app's first page.
async fn show_app(session: Session) -> Redirect {
    Redirect::to(&format!("/console/apps/{}/invitations", session.app.id))
}

/// Ends the console session of the app on the server (its stored session is deleted, a one-time
/// link's key revoked), so a copy of the cookie stops working too, and in this browser.
async fn sign_out(State(state): State<AppState>, _: FromThisSite, session: Session) -> Response {
    if let Err(page) = session.end(&state).await {
        return page;
    }
    (SessionCookie::close(&state, &session.app.id), Redirect::to("/console")).into_response()
}
