//! The join page an invitation email links to. `GET` shows the invitation and never consumes
//! the token (mail scanners prefetch links); `POST` sets the password, makes the invitee a
//! member and redirects to the app with `?access_token=`, which the Base44 SDK picks up. When
//! the address already has an account, the page asks for its password instead (and offers
//! the reset page); a wrong one is refused like a failed sign-in and the link stays usable.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use url::Url;
use usher_core::join::{JoinError, Joined};
use usher_core::model::{App, LinkState};
use usher_core::rules::opens::LinkRequest;
use usher_core::{ceil_secs, password};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::extract::{AppContext, PageForm, PageQuery};
use crate::pages::Csp;
use crate::state::AppState;

/// The join page and the first app's landing page.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_join_page, accept_invitation))
        .routes(routes!(report_person_view))
        .routes(routes!(show_welcome_page))
        .route("/join.js", axum::routing::get(join_script))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The join form, as posted. The token may come in the form or in the query string.
#[derive(Deserialize)]
struct JoinForm {
    token: Option<String>,
    /// The app origin the page's policy let the form lead to (absent from non-browser posts).
    app_origin: Option<String>,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    password: String,
}

#[utoipa::path(get, path = "/apps/{app_id}/join", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The join page (query: token); a dead link gets a page that says why", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_join_page(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    method: Method,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    match state.joins.show(&app.id, &token).await {
        Ok(view) => {
            // Axum answers HEAD with this handler too (and drops the body): scanners send it.
            let request = if method == Method::HEAD { LinkRequest::Head } else { LinkRequest::PageView };
            record_open(&state, &app, &token, request, &headers).await;
            join_form(&state, &app, &token, &view, "", None, StatusCode::OK)
        }
        Err(err) => problem_page(&state, &app, err),
    }
}

/// Body of the join page's report that it ran in a browser.
#[derive(Deserialize)]
struct ViewReport {
    token: Option<String>,
}

#[utoipa::path(post, path = "/apps/{app_id}/join/opened", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 204, description = "Form body `token`: the link's token. Noted (also for a dead or unknown link, which records nothing). The join page's script sends this, so a person's view is told from a mail scanner's fetch; it never uses up the link"), (status = 403, description = "Sent from another site", content_type = "text/html", body = String)))]
async fn report_person_view(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    headers: HeaderMap,
    PageForm(form): PageForm<ViewReport>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the link in your invitation email");
    }
    record_open(&state, &app, &form.token.unwrap_or_default(), LinkRequest::Beacon, &headers).await;
    StatusCode::NO_CONTENT.into_response()
}

/// Records an open of the join link; a failure is logged, never shown: the page still works.
async fn record_open(state: &AppState, app: &App, token: &str, request: LinkRequest, headers: &HeaderMap) {
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    if let Err(err) = state.joins.record_open(&app.id, token, request, user_agent).await {
        tracing::error!(app.id = %app.id, error = %usher_core::error_chain(&err), "recording a join link open failed");
    }
}

/// The join page's one script (embedded).
async fn join_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../templates/join.js"),
    )
}

#[utoipa::path(post, path = "/apps/{app_id}/join", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 303, description = "Joined: redirect to the app with `access_token`", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    PageQuery(query): PageQuery<TokenQuery>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PageForm(form): PageForm<JoinForm>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the link in your invitation email");
    }
    let token = form.token.or(query.token).unwrap_or_default();
    if form.app_origin.is_some() && form.app_origin != app.landing_origin() {
        // The app moved while the page was open: its policy would make the browser block the
        // redirect to the new address after the invitation was used. Show the form again, with
        // today's policy, before anything is consumed.
        let message = format!("{} moved to a new address while this page was open. Submit the form again.", app.name);
        return match state.joins.show(&app.id, &token).await {
            Ok(view) => join_form(&state, &app, &token, &view, &form.full_name, Some(&message), StatusCode::CONFLICT),
            Err(err) => problem_page(&state, &app, err),
        };
    }
    match state.joins.accept(&app.id, &token, &form.full_name, form.password, client.ip()).await {
        Ok(joined) => {
            tracing::info!(app.id = %app.id, user.id = %joined.user.id, "invitation accepted");
            Redirect::to(&landing_url(&joined)).into_response()
        }
        Err(
            err @ (JoinError::WeakPassword(_)
            | JoinError::InvalidName
            | JoinError::WrongPassword
            | JoinError::TooManyAttempts { .. }
            | JoinError::AccountChanged),
        ) => {
            // The link still works: show the form again (as the account now is) with why.
            let (status, retry_after) = match &err {
                JoinError::WrongPassword => (StatusCode::UNAUTHORIZED, None),
                JoinError::TooManyAttempts { retry_after } => (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after)),
                JoinError::AccountChanged => (StatusCode::CONFLICT, None),
                _ => (StatusCode::BAD_REQUEST, None),
            };
            match state.joins.show(&app.id, &token).await {
                Ok(view) => {
                    let message = err.to_string();
                    let mut page = join_form(&state, &app, &token, &view, &form.full_name, Some(&message), status);
                    if let Some(retry_after) = retry_after {
                        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(ceil_secs(retry_after)));
                    }
                    page
                }
                Err(err) => problem_page(&state, &app, err),
            }
        }
        Err(err) => problem_page(&state, &app, err),
    }
}

#[utoipa::path(get, path = "/apps/{app_id}/welcome", tag = "pages", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The first app's stand-in landing page", content_type = "text/html", body = String), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_welcome_page(State(state): State<AppState>, AppContext(app): AppContext) -> Response {
    let me_url = format!("/api/apps/{}/entities/User/me", app.id);
    state.pages.render(StatusCode::OK, "welcome.html", context! { app_name => app.name, me_url }, Csp::Script)
}

fn join_form(
    state: &AppState,
    app: &App,
    token: &str,
    view: &usher_core::join::JoinView,
    full_name: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let invitation = &view.invitation;
    let context = context! {
        existing_account => view.existing_account,
        forgot_url => format!("/apps/{}/forgot-password", app.id),
        app_name => app.name,
        inviter_name => invitation.invited_by.display_name,
        email => invitation.email.as_str(),
        role => invitation.role.as_str(),
        expires_at => invitation.expires_at.to_human(),
        action => usher_mail::link::join_path(app.id.as_str()),
        opened_url => format!("{}/opened", usher_mail::link::join_path(app.id.as_str())),
        app_origin => app.landing_origin(),
        token,
        full_name,
        error,
        min_password => password::MIN_LEN,
        max_password => password::MAX_LEN,
    };
    state.pages.render(status, "join.html", context, Csp::JoinPage(app.landing_origin()))
}

/// A page that says why the link does not work, and what to do.
fn problem_page(state: &AppState, app: &App, err: JoinError) -> Response {
    let sign_in = matches!(err, JoinError::Link(LinkState::Used | LinkState::Revoked | LinkState::Unknown))
        .then(|| (format!("/apps/{}/login", app.id), format!("Sign in to {} instead", app.name)));
    let (status, title, explanation, next_step) = match err {
        JoinError::Link(LinkState::Used) => (
            StatusCode::GONE,
            "Invitation already accepted",
            format!("This invitation to {} was already used to join.", app.name),
            "If you already set a password, sign in with it.",
        ),
        JoinError::Link(LinkState::Replaced) => (
            StatusCode::GONE,
            "This link was replaced",
            format!("A newer invitation to {} was sent to you, so this link no longer works.", app.name),
            "Use the link in the most recent invitation email.",
        ),
        JoinError::Link(LinkState::Revoked) => (
            StatusCode::GONE,
            "Invitation revoked",
            format!("This invitation to {} was withdrawn.", app.name),
            "Ask the person who invited you to send a new invitation if this is a mistake.",
        ),
        JoinError::Link(LinkState::Expired) => (
            StatusCode::GONE,
            "Invitation expired",
            format!("This invitation to {} has expired.", app.name),
            "Ask the person who invited you to invite you again; the new email will have a fresh link.",
        ),
        JoinError::Link(LinkState::Unknown | LinkState::Valid) => (
            StatusCode::NOT_FOUND,
            "Invitation link not valid",
            "This link does not match any invitation. It may be incomplete: some email programs break long links."
                .to_owned(),
            "Copy the whole link from the email into the address bar, or ask for a new invitation.",
        ),
        JoinError::Disabled => (
            StatusCode::FORBIDDEN,
            "Account disabled",
            format!("Your account in {} is disabled, so this invitation cannot be accepted.", app.name),
            "Ask the person who invited you to enable your account.",
        ),
        JoinError::WeakPassword(_)
        | JoinError::InvalidName
        | JoinError::WrongPassword
        | JoinError::TooManyAttempts { .. }
        | JoinError::AccountChanged
        | JoinError::Store(_) => {
            tracing::error!(error = ?err, "join failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Usher could not complete this request.".to_owned(),
                "Please try again in a moment.",
            )
        }
    };
    let (link_href, link_text) = sign_in.unzip();
    let context = context! { title, explanation, next_step, link_href, link_text };
    state.pages.render(status, "link_problem.html", context, Csp::Form)
}

/// True when a browser tells us the form was posted from another origin. Modern browsers
/// send `Sec-Fetch-Site`, which is trusted when present; older ones only `Origin`. Our pages
/// use `Referrer-Policy: no-referrer`, under which a same-origin post may carry `Origin: null`,
/// so `Origin` alone is consulted only without `Sec-Fetch-Site`. Non-browser clients send
/// neither and cannot be used for cross-site request forgery.
pub(crate) fn is_cross_site(headers: &HeaderMap, public_url: &Url) -> bool {
    if let Some(fetch_site) = headers.get("sec-fetch-site") {
        return !matches!(fetch_site.to_str(), Ok("same-origin" | "none"));
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => false,
        Some(Ok(origin)) => !crate::origin::is_usher_origin(origin, public_url),
        Some(Err(_)) => true,
    }
}

/// The app URL with `access_token` added to its query (keeping any fragment last).
fn landing_url(joined: &Joined) -> String {
    match Url::parse(&joined.app.app_url) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("access_token", &joined.access_token);
            url.into()
        }
        // App URLs are validated on the way in; this only guards against a hand-edited row.
        Err(_) => joined.app.app_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> Url {
        Url::parse("http://127.0.0.1:8044").expect("url")
    }

    #[test]
    fn is_cross_site_refuses_foreign_origins_and_fetch_metadata() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "https://evil.example".parse().expect("header"));
        assert!(is_cross_site(&headers, &public()));

        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "cross-site".parse().expect("header"));
        assert!(is_cross_site(&headers, &public()));
    }

    #[test]
    fn is_cross_site_allows_own_origin_and_non_browser_clients() {
        let mut headers = HeaderMap::new();
        assert!(!is_cross_site(&headers, &public()));

        headers.insert(header::ORIGIN, "http://127.0.0.1:8044".parse().expect("header"));
        assert!(!is_cross_site(&headers, &public()));
    }

    #[test]
    fn is_cross_site_trusts_fetch_metadata_over_a_null_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "null".parse().expect("header"));
        headers.insert("sec-fetch-site", "same-origin".parse().expect("header"));

        assert!(!is_cross_site(&headers, &public()));
    }
}
