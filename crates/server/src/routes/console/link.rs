//! Signing in with a one-time link from `usher console link`: the link's page asks before the
//! link is used (so a mail scanner or link preview that fetches it uses nothing), and the
//! confirmation signs the browser in to the link's app.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use usher_core::console_link::ConsoleLinkError;
use usher_core::console_session::SessionCredential;

use super::session::{FromThisSite, SessionCookie, failed};
use crate::extract::{PageForm, PageQuery};
use crate::pages::Csp;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/link", get(show).post(use_link))
}

#[derive(Deserialize)]
struct LinkParams {
    #[serde(default)]
    token: String,
}

/// The link's page: one button that uses it.
async fn show(State(state): State<AppState>, PageQuery(params): PageQuery<LinkParams>) -> Response {
    let context = context! { token => params.token };
    state.pages.render(StatusCode::OK, "console/link.html", context, Csp::Form)
}

/// Uses the link: a session of the link's app, as its operator's new key.
async fn use_link(State(state): State<AppState>, _: FromThisSite, PageForm(form): PageForm<LinkParams>) -> Response {
    let key = match state.console_links.sign_in(&form.token).await {
        Ok(key) => key,
        Err(ConsoleLinkError::Store(err)) => return failed(&state, &err),
        Err(err) => {
            let status = match err {
                ConsoleLinkError::Unknown => StatusCode::NOT_FOUND,
                _ => StatusCode::GONE,
            };
            let error = err.to_string();
            let mut letters = error.chars();
            let first = letters.next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
            let context = context! { error => format!("{first}{}.", letters.as_str()) };
            return state.pages.render(status, "console/link.html", context, Csp::Form);
        }
    };
    // The cookie names the key by id: its secret was never kept (see `console_link`).
    let cookie = SessionCookie::open(&state, &key.app_id, &SessionCredential::LinkKey(key.id.clone()).text());
    (cookie, Redirect::to(&format!("/console/apps/{}/invitations", key.app_id))).into_response()
}
