//! API keys and the audit log of an app (admins and API keys only).
//!
//! A new key is shown once, in the answer that creates it; only its hash is kept. Revoking
//! takes effect at once (keys are looked up on every request). The last key of an app cannot
//! be revoked, so its servers are never locked out by accident.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use usher_core::access::Principal;
use usher_core::model::{Actor, ApiKeyRecord, App};
use usher_core::secret::ApiKey;
use usher_core::store::{KeyRevocation, NewApiKey};
use usher_core::{ApiKeyId, UserId};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{ApiJson, Caller};
use crate::state::AppState;

/// Largest page of the audit log.
const MAX_AUDIT_PAGE: u32 = 1000;

/// The key and audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_key, list_keys)).routes(routes!(revoke_key)).routes(routes!(list_audit))
}

/// The admin or API key acting, as the audit log records it.
fn actor(caller: &Caller) -> Result<Actor, ApiError> {
    match &caller.principal {
        Principal::ApiKey(key) => Ok(Actor::ApiKey(key.id.clone())),
        Principal::Member(user) if caller.principal.is_admin() => Ok(Actor::User(user.id.clone())),
        Principal::Member(_) => Err(ApiError::AdminOnly),
    }
}

fn key_json(key: &ApiKeyRecord) -> Value {
    json!({ "id": key.id.as_str(), "name": key.name, "created_date": key.created_at.to_rfc3339() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    name: String,
}

#[utoipa::path(post, path = "/api/apps/{app_id}/keys", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), request_body = serde_json::Value, responses((status = 201, description = "The key, its secret shown this once", body = api::ApiKeyInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let by = actor(&caller)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidBody("name must be 1 to 100 characters".into()));
    }
    let secret = ApiKey::generate();
    let key = NewApiKey { id: ApiKeyId::generate(), name: name.to_owned(), hash: secret.hash() };
    let record = state.store.create_api_key(&caller.app.id, key, &by, state.clock.now()).await?;
    let mut body = key_json(&record);
    body["api_key"] = Value::from(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/keys", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items}`", body = api::ApiKeyList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    actor(&caller)?;
    let keys = state.store.api_keys(&caller.app.id).await?;
    Ok(Json(json!({ "items": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/keys/{key_id}", tag = "keys", params(("app_id" = String, Path, description = "The app's id"), ("key_id" = String, Path, description = "The API key's id")), responses((status = 200, description = "`{id, revoked}`", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let by = actor(&caller)?;
    let id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::KeyNotFound)?;
    match state.store.revoke_api_key(&caller.app.id, &id, &by, state.clock.now()).await? {
        KeyRevocation::Revoked => Ok(Json(json!({ "id": id.as_str(), "revoked": true }))),
        KeyRevocation::NotFound => Err(ApiError::KeyNotFound),
        KeyRevocation::LastKey => Err(ApiError::LastApiKey),
    }
}

/// The audit log, newest first: `{items, next_cursor, has_more}`.
#[utoipa::path(get, path = "/api/apps/{app_id}/audit", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items, next_cursor, has_more}`; query: limit, cursor", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    actor(&caller)?;
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        query
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(|_| ApiError::InvalidQuery(format!("`{name}` must be a whole number"))))
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(100);
    let limit = u32::try_from(limit)
        .ok()
        .filter(|l| (1..=MAX_AUDIT_PAGE).contains(l))
        .ok_or_else(|| ApiError::InvalidQuery(format!("`limit` must be between 1 and {MAX_AUDIT_PAGE}")))?;
    let mut events = state.store.audit_events(&caller.app.id, number("cursor")?, limit + 1).await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let items: Vec<Value> = events.iter().map(|e| event_json(&caller.app, e)).collect();
    let next_cursor = has_more.then(|| events.last().map(|e| e.id.to_string())).flatten();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor, "has_more": has_more })))
}

fn event_json(app: &App, event: &usher_core::model::AuditEvent) -> Value {
    let (actor_kind, actor_id) = match &event.actor {
        Actor::ApiKey(id) => ("api_key", id.as_str().to_owned()),
        Actor::User(id) => ("user", UserId::as_str(id).to_owned()),
    };
    json!({
        "id": event.id,
        "app_id": app.id.as_str(),
        "action": event.action,
        "actor": { "kind": actor_kind, "id": actor_id },
        "email": event.subject_email,
        "invitation_id": event.invitation_id,
        "created_date": event.created_at.to_rfc3339(),
    })
}
