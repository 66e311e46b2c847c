//! Webhook endpoints of an app (admins and API keys only): add one (its secret shown once),
//! list, remove, rotate the secret, list an endpoint's deliveries and retry one. What events
//! are and how they are signed is `usher_core::webhooks`; the delivery is `usher_mail`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use usher_core::WebhookId;
use usher_core::webhooks::{EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret, parse_webhook_url};

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
    let url = parse_webhook_url(body.url.trim(), state.webhook_allow_private)
        .map_err(|err| ApiError::InvalidWebhook(err.to_string()))?;
    if body.events.is_empty() {
        return Err(ApiError::InvalidWebhook("name at least one event type".to_owned()));
    }
    let events = body
        .events
        .iter()
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
                ApiError::InvalidWebhook(format!("unknown event type {name:?}; known: {}", known.join(", ")))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let secret = WebhookSecret::generate();
    let new = NewWebhook {
        id: WebhookId::generate(),
        app_id: caller.app.id.clone(),
        url: url.to_string(),
        events,
        secret: secret.clone(),
        now: state.clock.now(),
    };
    let hook = state.store.create_webhook(new).await?;
    Ok((StatusCode::CREATED, Json(info(&hook, Some(&secret)))))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/webhooks", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items}`", body = api::WebhookList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<api::WebhookList>, ApiError> {
    let hooks = state.store.webhooks(&caller.app.id).await?;
    Ok(Json(api::WebhookList { items: hooks.iter().map(|hook| info(hook, None)).collect() }))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/webhooks/{webhook_id}", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "`{id, deleted}`", body = api::WebhookDeleted), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookDeleted>, ApiError> {
    let id = webhook_id(&id)?;
    if !state.store.delete_webhook(&caller.app.id, &id).await? {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(Json(api::WebhookDeleted { id: id.to_string(), deleted: true }))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "The endpoint with its new secret, shown this once", body = api::WebhookInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookInfo>, ApiError> {
    let id = webhook_id(&id)?;
    let secret = WebhookSecret::generate();
    let hook =
        state.store.rotate_webhook_secret(&caller.app.id, &id, &secret).await?.ok_or(ApiError::WebhookNotFound)?;
    Ok(Json(info(&hook, Some(&secret))))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id")), responses((status = 200, description = "`{items}`, newest first", body = api::WebhookDeliveryList), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::WebhookDeliveryList>, ApiError> {
    let id = webhook_id(&id)?;
    let deliveries =
        state.store.webhook_deliveries(&caller.app.id, &id, DELIVERY_PAGE).await?.ok_or(ApiError::WebhookNotFound)?;
    Ok(Json(api::WebhookDeliveryList { items: deliveries.iter().map(delivery_info).collect() }))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "webhooks", params(("app_id" = String, Path, description = "The app's id"), ("webhook_id" = String, Path, description = "The endpoint's id"), ("delivery_id" = String, Path, description = "The delivery's id (its webhook-id)")), responses((status = 200, description = "The delivery, due again at once", body = api::WebhookDeliveryInfo), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn retry_delivery(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, id, delivery_id)): Path<(String, String, String)>,
) -> Result<Json<api::WebhookDeliveryInfo>, ApiError> {
    let id = webhook_id(&id)?;
    let delivery = state
        .store
        .retry_webhook_delivery(&caller.app.id, &id, &delivery_id, state.clock.now())
        .await?
        .ok_or(ApiError::DeliveryNotFound)?;
    Ok(Json(delivery_info(&delivery)))
}
