//! The console's session: a cookie per app naming what it is (the id of a stored session of
//! an admin who signed in with a password, or the id of the key a one-time link made — never
//! an access token or a key's secret), sealed with the time of the last page view so the
//! server ends it after the idle timeout (`USHER_CONSOLE_IDLE_TIMEOUT`).
//!
//! A stored session is read with its admin on every request and ends on the server: signing
//! out deletes it, so a copy of the cookie stops working too (see
//! [`usher_core::console_session::ConsoleSessions`]). A link's key lives as long as its
//! session: signing out revokes it, and so does the first request that finds the session
//! ended idle.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Redirect, Response, ResponseParts};
use minijinja::Value;
use usher_core::access::{AuthError, Principal};
use usher_core::console_session::{SessionCredential, SessionRefused};
use usher_core::model::App;
use usher_core::rules::console::SessionEnd;
use usher_core::{ApiKeyId, AppId};

use crate::pages::Csp;
use crate::routes::join::is_cross_site;
use crate::state::AppState;

/// The cookie names start with this, followed by the app's id.
const PREFIX: &str = "usher_console_";

/// A signed-in admin of the app in the path.
pub struct Session {
    /// The app.
    pub app: App,
    /// The admin.
    pub principal: Principal,
    /// What the cookie names (see [`SessionCredential`]), renewed in every page's cookie.
    credential: String,
}

impl Session {
    /// Renders a console page of this session's app; the session's idle time starts again.
    pub fn page(&self, state: &AppState, status: StatusCode, name: &str, context: Value) -> Response {
        let context = minijinja::context! { app_id => self.app.id.as_str(), app_name => self.app.name, ..context };
        let page = state.pages.render(status, name, context, Csp::Console);
        (SessionCookie::open(state, &self.app.id, &self.credential), page).into_response()
    }

    /// Ends this session on the server, for every copy of its cookie: a stored session is
    /// deleted, a link's key revoked.
    pub async fn end(&self, state: &AppState) -> Result<(), Response> {
        end_credential(state, &self.app, SessionCredential::parse(&self.credential)).await
    }
}

/// Ends what a session that ended (signed out, or found idle) was.
async fn end_credential(state: &AppState, app: &App, credential: Option<SessionCredential>) -> Result<(), Response> {
    match credential {
        Some(SessionCredential::Stored(token)) => {
            state.console_sessions.end(&token).await.map_err(|err| failed(state, &err))
        }
        Some(SessionCredential::LinkKey(id)) => {
            end_link_key(state, app, &id).await;
            Ok(())
        }
        None => Ok(()),
    }
}

/// Revokes the key a one-time link made for a session that ended: nobody holds its secret,
/// so after its session it would only be a live key that no one can use or would miss.
pub async fn end_link_key(state: &AppState, app: &App, id: &ApiKeyId) {
    let key = match state.auth.authenticate_key(&app.id, id).await {
        Ok(key) => key,
        Err(AuthError::UnknownApiKey) => return,
        Err(err) => return tracing::error!(error = ?err, "cannot read a console session's key"),
    };
    if let Err(err) = state.keys.revoke(app, &key, id).await {
        // The app's last key (the others revoked meanwhile) stays: the store never leaves an
        // app without one. With no secret anywhere, it acts for no one.
        tracing::warn!(error = %err, key.id = %id, "the key of an ended console session was not revoked");
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| no_app(state))?;
        let raw = params.iter().find(|(name, _)| *name == "app_id").map(|(_, value)| value).unwrap_or_default();
        let id = AppId::parse(raw).map_err(|_| no_app(state))?;
        let app = match state.apps.get(&id).await {
            Ok(Some(app)) => app,
            Ok(None) => return Err(no_app(state)),
            Err(err) => return Err(failed(state, &err)),
        };
        let sign_in = || {
            let to = Redirect::to(&format!("/console?app_id={}", app.id));
            (SessionCookie::close(state, &app.id), to).into_response()
        };
        let Some(sealed) = cookie(&parts.headers, &cookie_name(&app.id)) else { return Err(sign_in()) };
        let text = match state.console_seal.open(sealed, state.clock.now()) {
            Ok(text) => text,
            Err(SessionRefused::Idle) => {
                let ended = state.console_seal.open_ended(sealed).and_then(SessionCredential::parse);
                end_credential(state, &app, ended).await?;
                return Err(sign_in());
            }
            Err(SessionRefused::NotSealed) => return Err(sign_in()),
        };
        let principal = match SessionCredential::parse(text) {
            Some(SessionCredential::Stored(token)) => match state.console_sessions.resume(&app.id, &token).await {
                Ok(Ok(user)) => Principal::Member(user),
                Ok(Err(SessionEnd::NotAdmin)) => return Err(not_admin(state, &app)),
                Ok(Err(_)) => return Err(sign_in()),
                Err(err) => return Err(failed(state, &err)),
            },
            Some(SessionCredential::LinkKey(id)) => match state.auth.authenticate_key(&app.id, &id).await {
                Ok(principal) => principal,
                Err(AuthError::Store(err)) => return Err(failed(state, &err)),
                Err(_) => return Err(sign_in()),
            },
            None => return Err(sign_in()),
        };
        Ok(Self { app, principal, credential: text.to_owned() })
    }
}

/// The page for an admin who was made a plain member while signed in; their session ended.
fn not_admin(state: &AppState, app: &App) -> Response {
    let context = minijinja::context! {
        title => "Only admins can use the console",
        explanation => format!("Your console session of {} ended: you are no longer an admin of it.", app.name),
        next_step => "Ask an admin of the app to make you one again, or sign in as an admin.",
    };
    let page = state.pages.render(StatusCode::FORBIDDEN, "link_problem.html", context, Csp::Form);
    (SessionCookie::close(state, &app.id), page).into_response()
}

/// A form post that came from this server's own pages; a post from another site is refused
/// with a page that says so before anything is read or done.
pub struct FromThisSite;

impl FromRequestParts<AppState> for FromThisSite {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if is_cross_site(&parts.headers, &state.public_url) {
            Err(state.pages.cross_site("the console"))
        } else {
            Ok(Self)
        }
    }
}

/// A redirect to the console page `path` of the session's app (e.g. `members`) that says
/// `notice` once at its top.
pub fn back_with_notice(session: &Session, path: &str, notice: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("done", notice).finish();
    Redirect::to(&format!("/console/apps/{}/{path}?{query}", session.app.id)).into_response()
}

/// The page for a console request the store could not complete; the cause is logged.
pub fn failed(state: &AppState, err: &dyn std::fmt::Debug) -> Response {
    tracing::error!(error = ?err, "a console page failed");
    state.pages.failed(StatusCode::SERVICE_UNAVAILABLE)
}

fn no_app(state: &AppState) -> Response {
    let context = minijinja::context! {
        title => "No app here",
        explanation => "No app on this server has this address.",
        next_step => "Open the console's start page and sign in to your app from there.",
    };
    state.pages.render(StatusCode::NOT_FOUND, "link_problem.html", context, Csp::Form)
}

/// Sets or ends the session cookie of one app.
pub struct SessionCookie(HeaderValue);

impl SessionCookie {
    /// A cookie naming `credential` (a [`SessionCredential`]'s text) for `app`, sealed with
    /// the time now; the browser forgets it after the idle timeout, and the server refuses it
    /// after that in any case.
    pub fn open(state: &AppState, app: &AppId, credential: &str) -> Self {
        let sealed = state.console_seal.seal(credential, state.clock.now());
        Self::with(state, app, &sealed, state.console_seal.idle().as_secs())
    }

    /// A cookie that ends the session of `app` in this browser.
    pub fn close(state: &AppState, app: &AppId) -> Self {
        Self::with(state, app, "", 0)
    }

    fn with(state: &AppState, app: &AppId, value: &str, max_age: u64) -> Self {
        let secure = if state.public_url.scheme() == "https" { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            cookie_name(app)
        );
        // Ids and tokens are URL-safe ASCII, so the header is always valid.
        Self(HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("usher_console=; Max-Age=0")))
    }
}

impl IntoResponseParts for SessionCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.headers_mut().append(header::SET_COOKIE, self.0);
        Ok(parts)
    }
}

fn cookie_name(app: &AppId) -> String {
    format!("{PREFIX}{app}")
}

/// The request's cookies, as name and value.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookies(headers).find(|(n, v)| *n == name && !v.is_empty()).map(|(_, value)| value)
}

/// The apps this browser holds a console session of.
pub fn signed_in_apps(headers: &HeaderMap) -> Vec<AppId> {
    cookies(headers)
        .filter(|(_, value)| !value.is_empty())
        .filter_map(|(name, _)| name.strip_prefix(PREFIX))
        .filter_map(|id| AppId::parse(id).ok())
        .collect()
}
