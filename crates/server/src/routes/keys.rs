//! API keys and the audit log of an app (admins and API keys only); the rules are
//! `usher_core::api_keys`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use usher_core::model::{Actor, ApiKeyRecord, App};
use usher_core::store::AuditQuery;
use usher_core::{ApiKeyId, UserId};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, Paging};
use crate::state::AppState;

/// Largest page of the audit log.
const MAX_AUDIT_PAGE: u32 = 1000;

/// The key and audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_key, list_keys)).routes(routes!(revoke_key)).routes(routes!(list_audit))
}

/// A key as listed; its secret is never kept, so only [`create_key`] can add it.
fn key_info(key: &ApiKeyRecord) -> api::ApiKeyInfo {
    api::ApiKeyInfo {
        id: key.id.to_string(),
        name: key.name.clone(),
        created_date: key.created_at.to_offset_date_time(),
        api_key: None,
    }
}

#[utoipa::path(post, path = "/api/apps/{app_id}/keys", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), request_body = api::CreateApiKeyRequest, responses((status = 201, description = "The key, its secret shown this once", body = api::ApiKeyInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<api::CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<api::ApiKeyInfo>), ApiError> {
    let (record, secret) = state.keys.create(&caller.app, &caller.principal, &body.name).await?;
    let info = api::ApiKeyInfo { api_key: Some(secret.expose().to_owned()), ..key_info(&record) };
    Ok((StatusCode::CREATED, Json(info)))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/keys", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items}`", body = api::ApiKeyList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_keys(State(state): State<AppState>, Admin(caller): Admin) -> Result<Json<api::ApiKeyList>, ApiError> {
    let keys = state.keys.list(&caller.app, &caller.principal).await?;
    Ok(Json(api::ApiKeyList { items: keys.iter().map(key_info).collect() }))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/keys/{key_id}", tag = "keys", params(("app_id" = String, Path, description = "The app's id"), ("key_id" = String, Path, description = "The API key's id")), responses((status = 200, description = "`{id, revoked}`", body = api::ApiKeyRevoked), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<Json<api::ApiKeyRevoked>, ApiError> {
    let id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::KeyNotFound)?;
    state.keys.revoke(&caller.app, &caller.principal, &id).await?;
    Ok(Json(api::ApiKeyRevoked { id: id.to_string(), revoked: true }))
}

/// The audit log, newest first: `{items, next_cursor, has_more}`.
#[utoipa::path(get, path = "/api/apps/{app_id}/audit", tag = "keys", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items, next_cursor, has_more}`; query: limit, cursor", body = api::Page<api::AuditEvent>), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    Admin(caller): Admin,
    paging: Paging<MAX_AUDIT_PAGE>,
) -> Result<Json<api::Page<api::AuditEvent>>, ApiError> {
    let events = state
        .keys
        .audit(
            &caller.app,
            &caller.principal,
            &AuditQuery { before: paging.numeric_cursor()?, limit: paging.fetch_limit(), ..AuditQuery::default() },
        )
        .await?;
    Ok(Json(paging.page(events, |e| e.id.to_string(), |e| audit_event(&caller.app, e))))
}

fn audit_event(app: &App, event: &usher_core::model::AuditEvent) -> api::AuditEvent {
    let actor = match &event.actor {
        Actor::ApiKey(id) => api::AuditActor { kind: api::AuditActorKind::ApiKey, id: id.to_string() },
        Actor::User(id) => api::AuditActor { kind: api::AuditActorKind::User, id: UserId::to_string(id) },
    };
    api::AuditEvent {
        id: event.id,
        app_id: app.id.to_string(),
        action: event.action.clone(),
        actor,
        email: event.subject_email.clone(),
        invitation_id: event.invitation_id.clone(),
        detail: event.detail.clone(),
        created_date: event.created_at.to_offset_date_time(),
    }
}
