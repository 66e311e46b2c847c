//! The console's API keys page: the live keys, a new one shown once, and revoking (never the
//! last key), through the same service as `…/api-keys`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::ApiKeyId;
use usher_core::api_keys::ApiKeyError;

use super::session::{FromThisSite, Session, back_with_notice, failed};
use crate::extract::{PageForm, PageQuery};
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
    _: FromThisSite,
    session: Session,
    PageForm(form): PageForm<CreateForm>,
) -> Response {
    match state.keys.create(&session.app, &session.principal, &form.name).await {
        Ok((record, secret)) => {
            let created = context! { name => record.name, secret => secret.expose() };
            page(&state, &session, StatusCode::CREATED, context! { created }).await
        }
        Err(ApiKeyError::Store(err)) => failed(&state, &err),
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
        return back_with_notice(&session, "keys", "That key was already revoked.");
    };
    let context = context! { section => "keys", id => key.id.as_str(), name => key.name };
    session.page(&state, StatusCode::OK, "console/revoke_key.html", context)
}

async fn revoke(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    Path((_, key_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = ApiKeyId::parse(&key_id) else {
        return back_with_notice(&session, "keys", "That key was already revoked.");
    };
    let done = match state.keys.revoke(&session.app, &session.principal, &id).await {
        Ok(()) => "Revoked: the key stopped working at once.".to_owned(),
        Err(ApiKeyError::NotFound) => "That key was already revoked.".to_owned(),
        Err(ApiKeyError::Store(err)) => return failed(&state, &err),
        Err(err) => format!("Not revoked: {err}."),
    };
    back_with_notice(&session, "keys", &done)
}
