//! Usher's webhook endpoints of an app (API key or admin): not part of Base44's SDK, so they
//! work against Usher only.

use reqwest::Method;
use usher_api_types::{
    CreateWebhookRequest, WebhookDeleted, WebhookDeliveryInfo, WebhookDeliveryList, WebhookInfo, WebhookList,
};

use crate::{Client, ClientError, path_segment};

/// An app's webhook endpoints and their deliveries; see [`Client::webhooks`].
///
/// Events are posted as [Standard Webhooks](https://www.standardwebhooks.com/): verify them
/// with the endpoint's `whsec_…` secret, which only [`Webhooks::create`] and
/// [`Webhooks::rotate_secret`] return.
#[derive(Debug)]
pub struct Webhooks<'a> {
    pub(crate) client: &'a Client,
}

impl Webhooks<'_> {
    /// Adds an endpoint that receives `events` (e.g. `invitation.accepted`; at least one) at
    /// `url` (`http://` or `https://`, a public address unless the server allows private ones).
    /// The answer's `secret` is the only time the signing secret is shown.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// let hook = client.webhooks().create("https://example.com/usher-hooks", &["invitation.accepted"]).await?;
    /// println!("store this secret now: {}", hook.secret.as_deref().unwrap_or_default());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create(&self, url: &str, events: &[&str]) -> Result<WebhookInfo, ClientError> {
        let body = CreateWebhookRequest {
            url: url.to_owned(),
            events: events.iter().map(|event| (*event).to_owned()).collect(),
        };
        self.client.send(Method::POST, "webhooks", Some(&body)).await
    }

    /// The app's endpoints, oldest first, without their secrets.
    pub async fn list(&self) -> Result<Vec<WebhookInfo>, ClientError> {
        Ok(self.client.send::<(), WebhookList>(Method::GET, "webhooks", None).await?.items)
    }

    /// Removes an endpoint with its deliveries, undelivered ones included: it gets nothing
    /// more.
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        let _: WebhookDeleted =
            self.client.send::<(), _>(Method::DELETE, &format!("webhooks/{}", path_segment(id)?), None).await?;
        Ok(())
    }

    /// Replaces an endpoint's signing secret at once and returns the endpoint with the new
    /// one (shown only now); deliveries from then on are signed with it.
    pub async fn rotate_secret(&self, id: &str) -> Result<WebhookInfo, ClientError> {
        let path = format!("webhooks/{}/rotate-secret", path_segment(id)?);
        self.client.send::<(), _>(Method::POST, &path, None).await
    }

    /// An endpoint's latest deliveries (at most 100), newest first: status, attempts, the
    /// last answer's status code or error, and when the next attempt is due.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client, hook_id: &str) -> Result<(), base44::ClientError> {
    /// for delivery in client.webhooks().deliveries(hook_id).await? {
    ///     println!("{} {} {} attempt(s)", delivery.event_type, delivery.status, delivery.attempts);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn deliveries(&self, id: &str) -> Result<Vec<WebhookDeliveryInfo>, ClientError> {
        let path = format!("webhooks/{}/deliveries", path_segment(id)?);
        Ok(self.client.send::<(), WebhookDeliveryList>(Method::GET, &path, None).await?.items)
    }

    /// Makes a delivery due at once, under the same `webhook-id`: a pending one is sent now,
    /// a delivered or failed one gets a fresh round of attempts. One being sent at this
    /// moment is left as it is (the answer says `sending`). Returns the delivery.
    pub async fn retry_delivery(&self, id: &str, delivery_id: &str) -> Result<WebhookDeliveryInfo, ClientError> {
        let path = format!("webhooks/{}/deliveries/{}/retry", path_segment(id)?, path_segment(delivery_id)?);
        self.client.send::<(), _>(Method::POST, &path, None).await
    }
}
