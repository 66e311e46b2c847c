//! Webhook endpoints of an app (admins and API keys only): add one (its secret shown once),
//! list, remove, rotate the secret, list an endpoint's deliveries and retry one, through
//! `usher_core::webhooks::WebhookService`. What events are and how they are signed is
//! `usher_core::webhooks`; the delivery is `usher_mail`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use usher_core::WebhookId;
use usher_core::webhooks::{Webhook, WebhookDelivery, WebhookSecret};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::ApiError;
use crate::extract::{Admin, ApiJson};
use crate::state::AppState;

/// Most deliveries one listing shows.
const DELIVERY_PAGE: u32 = 100;

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}

fn info(hook: &Webhook, secret: Option<&WebhookSecret>) -> api::WebhookInfo {
    api::WebhookInfo {
        id: hook.id.to_string(),
        url: hook.url.clone(),
        events: hook.events.iter().map(|kind| kind.as_str().to_owned()).collect(),
        created_date: hook.created_at.to_offset_date_time(),
        secret: secret.map(|secret| secret.expose().to_owned()),
    }
}

fn delivery_info(delivery: &WebhookDelivery) -> api::WebhookDeliveryInfo {
    api::WebhookDeliveryInfo {
        id: delivery.id.clone(),
        event_type: delivery.event_type.clone(),
        status: delivery.status.as_str().to_owned(),
        attempts: delivery.attempts,
        last_status_code: delivery.last_status_code,
        last_error: delivery.last_error.clone(),
        next_attempt_date: delivery.next_attempt_at.map(|at| at.to_offset_date_time()),
        created_date: delivery.created_at.to_offset_date_time(),
    }
}

fn webhook_id(text: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(text).map_err(|_| ApiError::WebhookNotFound)
}

#[utoipa::path(post, path = "/api/apps/{app_id}/webhooks", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id")), request_body = api::CreateWebhookRequest, responses((status = 201, description = "The endpoint, its signing secret shown this once", body = api::WebhookInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<api::CreateWebhookRequest>,
) -> Result<(StatusCode, Json<api::WebhookInfo>), ApiError> {
    let (hook, secret) = state.webhooks.create(&caller.app, &caller.principal, &body.url, &body.events).await?;
    Ok((StatusCode::CREATED, Json(info(&hook, Some(&secret)))))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/webhooks", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items}`", body = api::WebhookList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<api::WebhookList>, ApiError> {
    let hooks = state.webhooks.list(&caller.app, &caller.principal).await?;
    Ok(Json(api::WebhookList { items: hooks.iter().map(|hook| info(hook, None)).collect() }))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/webhooks/{webhook_id}", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "`{id, deleted}`", body = api::WebhookDeleted), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookDeleted>, ApiError> {
    let id = webhook_id(&id)?;
    state.webhooks.delete(&caller.app, &caller.principal, &id).await?;
    Ok(Json(api::WebhookDeleted { id: id.to_string(), deleted: true }))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "The endpoint with its new secret, shown this once", body = api::WebhookInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookInfo>, ApiError> {
    let id = webhook_id(&id)?;
    let (hook, secret) = state.webhooks.rotate_secret(&caller.app, &caller.principal, &id).await?;
    Ok(Json(info(&hook, Some(&secret))))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "`{items}`, newest first", body = api::WebhookDeliveryList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookDeliveryList>, ApiError> {
    let id = webhook_id(&id)?;
    let deliveries = state.webhooks.deliveries(&caller.app, &caller.principal, &id, DELIVERY_PAGE).await?;
    Ok(Json(api::WebhookDeliveryList { items: deliveries.iter().map(delivery_info).collect() }))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id"), ("delivery_id" = String, Path, description = "The delivery's id (its webhook-id)")), responses((status = 200, description = "The delivery, due again at once", body = api::WebhookDeliveryInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn retry_delivery(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id, delivery_id)): Path<(String, String, String)>,
) -> Result<Json<api::WebhookDeliveryInfo>, ApiError> {
    let id = webhook_id(&id)?;
    let delivery = state.webhooks.retry(&caller.app, &caller.principal, &id, &delivery_id).await?;
    Ok(Json(delivery_info(&delivery)))
}
