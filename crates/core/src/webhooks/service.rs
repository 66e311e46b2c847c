//! Managing an app's webhook endpoints, for its admins and API keys: add one (its secret
//! returned this once), list, remove, rotate the secret, read an endpoint's deliveries and
//! retry one. The routes call this; the store only keeps what it decides.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret, WebhookUrlError, parse_webhook_url};
use crate::access::Principal;
use crate::clock::Clock;
use crate::id::WebhookId;
use crate::model::App;
use crate::store::{Store, StoreError};

/// Why a webhook operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Only admins and API keys manage webhooks.
    #[error("only admins of this app and API keys may do this")]
    AdminRequired,
    /// The URL was refused.
    #[error(transparent)]
    Url(#[from] WebhookUrlError),
    /// No event type was named.
    #[error("name at least one event type")]
    NoEvents,
    /// An event type is not one of [`EventType::ALL`].
    #[error("unknown event type {name:?}; known: {}", known_event_types())]
    UnknownEvent {
        /// The name given.
        name: String,
    },
    /// The app has no endpoint with this id.
    #[error("webhook not found")]
    NotFound,
    /// The endpoint has no delivery with this id.
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn known_event_types() -> String {
    EventType::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(", ")
}

/// Adds, lists, removes and rotates an app's endpoints; reads and retries their deliveries.
pub struct WebhookService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    allow_private: bool,
    events: Arc<Notify>,
}

impl WebhookService {
    /// A service over `store`; `allow_private` (`USHER_WEBHOOK_ALLOW_PRIVATE`) lets URLs name
    /// private addresses, for development and tests. A retry wakes the webhook worker through
    /// `events`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, allow_private: bool, events: Arc<Notify>) -> Self {
        Self { store, clock, allow_private, events }
    }

    /// A new endpoint posting `events` to `url` (trimmed); its signing secret is returned this
    /// once.
    pub async fn create(
        &self,
        app: &App,
        by: &Principal,
        url: &str,
        events: &[String],
    ) -> Result<(Webhook, WebhookSecret), WebhookError> {
        admin(by)?;
        let url = parse_webhook_url(url.trim(), self.allow_private)?;
        if events.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        let events = events
            .iter()
            .map(|name| EventType::parse(name).ok_or_else(|| WebhookError::UnknownEvent { name: name.clone() }))
            .collect::<Result<Vec<_>, _>>()?;
        let secret = WebhookSecret::generate();
        let new = NewWebhook {
            id: WebhookId::generate(),
            app_id: app.id.clone(),
            url: url.to_string(),
            events,
            secret: secret.clone(),
            now: self.clock.now(),
        };
        Ok((self.store.create_webhook(new).await?, secret))
    }

    /// The app's endpoints, oldest first (without their secrets).
    pub async fn list(&self, app: &App, by: &Principal) -> Result<Vec<Webhook>, WebhookError> {
        admin(by)?;
        Ok(self.store.webhooks(&app.id).await?)
    }

    /// Removes an endpoint and its undelivered events.
    pub async fn delete(&self, app: &App, by: &Principal, id: &WebhookId) -> Result<(), WebhookError> {
        admin(by)?;
        if self.store.delete_webhook(&app.id, id).await? { Ok(()) } else { Err(WebhookError::NotFound) }
    }

    /// Gives an endpoint a new secret, returned this once; deliveries not yet made are signed
    /// with it.
    pub async fn rotate_secret(
        &self,
        app: &App,
        by: &Principal,
        id: &WebhookId,
    ) -> Result<(Webhook, WebhookSecret), WebhookError> {
        admin(by)?;
        let secret = WebhookSecret::generate();
        let hook = self.store.rotate_webhook_secret(&app.id, id, &secret).await?.ok_or(WebhookError::NotFound)?;
        Ok((hook, secret))
    }

    /// An endpoint's deliveries, newest first, at most `limit`.
    pub async fn deliveries(
        &self,
        app: &App,
        by: &Principal,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, WebhookError> {
        admin(by)?;
        self.store.webhook_deliveries(&app.id, id, limit).await?.ok_or(WebhookError::NotFound)
    }

    /// Makes a delivery due at once (a delivered or failed one gets a fresh round of attempts).
    pub async fn retry(
        &self,
        app: &App,
        by: &Principal,
        id: &WebhookId,
        delivery_id: &str,
    ) -> Result<WebhookDelivery, WebhookError> {
        admin(by)?;
        if self.store.webhooks(&app.id).await?.iter().all(|hook| &hook.id != id) {
            return Err(WebhookError::NotFound);
        }
        let delivery = self
            .store
            .retry_webhook_delivery(&app.id, id, delivery_id, self.clock.now())
            .await?
            .ok_or(WebhookError::DeliveryNotFound)?;
        self.events.notify_one();
        Ok(delivery)
    }
}

fn admin(by: &Principal) -> Result<(), WebhookError> {
    if by.is_admin() { Ok(()) } else { Err(WebhookError::AdminRequired) }
}
