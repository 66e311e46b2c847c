//! The console's API keys page: the live keys, a new one shown once, and revoking (never the
//! last key), through the same service as `…/api-keys`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::ApiKeyId;
use usher_core::api_keys::ApiKeyError;

use super::session::Session;
use crate::extract::{PageForm, PageQuery};
use crate::routes::join::is_cross_site;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/apps/{app_id}/keys", get(list).post(create))
        .route("/console/apps/{app_id}/keys/{key_id}/revoke", get(confirm_revocation).post(revoke))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    done: String,
}

async fn list(State(state): State<AppState>, session: Session, PageQuery(query): PageQuery<ListQuery>) -> Response {
    page(&state, &session, StatusCode::OK, context! { done => query.done }).await
}

/// The keys page with `extra` in its context (a new key, a message).
async fn page(state: &AppState, session: &Session, status: StatusCode, extra: Value) -> Response {
    let keys = match state.keys.list(&session.app, &session.principal).await {
        Ok(keys) => keys,
        Err(err) => return failed(state, &err),
    };
    let rows: Vec<Value> = keys
        .iter()
        .map(|key| context! { id => key.id.as_str(), name => key.name, created => key.created_at.to_human() })
        .collect();
    session.page(state, status, "console/keys.html", context! { section => "keys", rows, ..extra })
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
}

/// Creates a key and shows its secret, this once.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    PageForm(form): PageForm<CreateForm>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the console");
    }
    match state.keys.create(&session.app, &session.principal, &form.name).await {
        Ok((record, secret)) => {
            let created = context! { name => record.name, secret => secret.expose() };
            page(&state, &session, StatusCode::CREATED, context! { created }).await
        }
        Err(ApiKeyError::Store(err)) => failed(&state, &ApiKeyError::Store(err)),
        Err(err) => {
            page(&state, &session, StatusCode::BAD_REQUEST, context! { error => err.to_string(), name => form.name })
                .await
        }
    }
}

async fn confirm_revocation(
    State(state): State<AppState>,
    session: Session,
    Path((_, key_id)): Path<(String, String)>,
) -> Response {
    let keys = match state.keys.list(&session.app, &session.principal).await {
        Ok(keys) => keys,
        Err(err) => return failed(&state, &err),
    };
    let Some(key) = keys.iter().find(|key| key.id.as_str() == key_id) else {
        return back(&session, "That key was already revoked.");
    };
    let context = context! { section => "keys", id => key.id.as_str(), name => key.name };
    session.page(&state, StatusCode::OK, "console/revoke_key.html", context)
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path((_, key_id)): Path<(String, String)>,
) -> Response {
    if is_cross_site(&headers, &state.public_url) {
        return state.pages.cross_site("the console");
    }
    let Ok(id) = ApiKeyId::parse(&key_id) else { return back(&session, "That key was already revoked.") };
    let done = match state.keys.revoke(&session.app, &session.principal, &id).await {
        Ok(()) => "Revoked: the key stopped working at once.".to_owned(),
        Err(ApiKeyError::NotFound) => "That key was already revoked.".to_owned(),
        Err(ApiKeyError::Store(err)) => return failed(&state, &ApiKeyError::Store(err)),
        Err(err) => format!("Not revoked: {err}."),
    };
    back(&session, &done)
}

fn back(session: &Session, done: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("done", done).finish();
    Redirect::to(&format!("/console/apps/{}/keys?{query}", session.app.id)).into_response()
}

fn failed(state: &AppState, err: &ApiKeyError) -> Response {
    tracing::error!(error = ?err, "a console keys page failed");
    state.pages.failed(StatusCode::SERVICE_UNAVAILABLE)
}
