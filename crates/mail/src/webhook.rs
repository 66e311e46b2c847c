//! The webhook worker: posts the events the stores wrote (see `usher_core::webhooks`) to their
//! endpoints, signed the Standard Webhooks way, and records each attempt as
//! `usher_core::rules::webhooks::after_attempt` decides. It also announces invitations whose
//! expiry passed (`invitation.expired`, once each).
//!
//! A claim is a lease well past the attempt timeout: a worker that dies mid-attempt leaves the
//! delivery to be claimed again when the lease runs out, so an event is delivered at least once,
//! with the same `webhook-id` every time.
//!
//! Destinations: loopback, private, link-local and metadata addresses are refused on the
//! address actually connected to. The client resolves names itself and drops every forbidden
//! address before connecting, so a name that resolved to a public address when the endpoint
//! was added and to a private one now (DNS rebinding) reaches nothing; literal addresses are
//! checked before the request; redirects are not followed, and no proxy is used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use usher_core::rules::webhooks::{ATTEMPT_TIMEOUT, AttemptResult, after_attempt, attempt_error};
use usher_core::store::WebhookAttempt;
use usher_core::webhooks::{DueDelivery, is_forbidden_address, parse_webhook_url};
use usher_core::{Clock, Store};

/// How long a claim lasts if its worker dies: well past [`ATTEMPT_TIMEOUT`].
const LEASE: Duration = Duration::from_secs(60);
/// Deliveries claimed at once.
const BATCH: u32 = 16;
/// How often the worker looks for due deliveries when nothing wakes it (retries, and events
/// other instances wrote); what this instance writes wakes it at once.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);
/// How often it looks for expired invitations to announce.
const EXPIRY_SWEEP: Duration = Duration::from_secs(5);
/// Expired invitations announced in one transaction.
const EXPIRY_BATCH: u32 = 500;

/// Resolves names and keeps only addresses a webhook may reach.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|addr| !is_forbidden_address(addr.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    format!("{host} resolves only to private, loopback, link-local or metadata addresses").into()
                );
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Posts signed events to endpoints.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    /// A sender; `allow_private` (`USHER_WEBHOOK_ALLOW_PRIVATE=true`) lets endpoints on
    /// private addresses be reached, for development and tests.
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Usher-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self { client: builder.build()?, allow_private })
    }

    /// Posts one delivery, signed with its endpoint's current secret, and says how it ended.
    pub async fn send(&self, delivery: &DueDelivery, now_secs: i64) -> AttemptResult {
        if let Err(err) = parse_webhook_url(&delivery.url, self.allow_private) {
            return AttemptResult::NoAnswer(err.to_string());
        }
        let signature = delivery.secret.sign(&delivery.id, now_secs, &delivery.payload);
        let sent = self
            .client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", now_secs.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => AttemptResult::Answered(response.status().as_u16()),
            Err(err) if err.is_timeout() => AttemptResult::NoAnswer("timed out after 10 s".to_owned()),
            Err(err) => AttemptResult::NoAnswer(usher_core::error_chain(&err)),
        }
    }
}

/// Claims due deliveries, posts them, records the attempts; sweeps expired invitations.
pub struct WebhookWorker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sender: WebhookSender,
    wake: Arc<Notify>,
    poll: Duration,
}

impl WebhookWorker {
    /// A worker over `store`; `wake` makes it look at once (the services notify it after a
    /// change wrote events), else it looks every `poll`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        allow_private: bool,
        wake: Arc<Notify>,
        poll: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self { store, clock, sender: WebhookSender::new(allow_private)?, wake, poll })
    }

    /// Runs until `shutdown` completes; attempts in progress finish first (at most the timeout).
    /// It looks for due deliveries when woken, every poll, and after a sweep that announced
    /// expiries; a sweep that found nothing does not make it look.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut poll = tokio::time::interval(self.poll);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(EXPIRY_SWEEP);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let look = tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => true,
                _ = poll.tick() => true,
                _ = sweep.tick() => self.announce_expired().await > 0,
            };
            if look {
                self.deliver_all_due().await;
            }
        }
    }

    /// Writes `invitation.expired` for invitations whose expiry passed; how many. A backlog
    /// (many invitations expiring at once, or a first start on old data) is worked off in
    /// batches at once rather than one batch per sweep: until an expiry is announced, the
    /// pending list reads past that invitation (see migration 0015).
    async fn announce_expired(&self) -> u64 {
        let mut total = 0;
        loop {
            match self.store.announce_expired_invitations(self.clock.now(), EXPIRY_BATCH).await {
                Ok(announced) => {
                    total += announced;
                    if announced < u64::from(EXPIRY_BATCH) {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot announce expired invitations");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(announced = total, "announced expired invitations");
        }
        total
    }

    /// Delivers batches until nothing is due.
    async fn deliver_all_due(&self) {
        loop {
            match self.deliver_due().await {
                Ok(0) => return,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim webhook deliveries");
                    return;
                }
            }
        }
    }

    /// Claims what is due now, posts it all at once, records each attempt; how many it posted.
    pub async fn deliver_due(&self) -> Result<usize, usher_core::StoreError> {
        let now = self.clock.now();
        let due = self.store.claim_webhook_deliveries(now, now.plus(LEASE), BATCH).await?;
        let count = due.len();
        let mut attempts = JoinSet::new();
        for delivery in due {
            let (sender, store, clock) = (self.sender.clone(), self.store.clone(), self.clock.clone());
            attempts.spawn(async move {
                // The header is when the attempt is made, by the wall clock receivers compare it to.
                let result = sender.send(&delivery, usher_core::SystemClock.now().as_unix_seconds()).await;
                let now = clock.now();
                let plan = after_attempt(delivery.attempts, &result, now);
                let status_code = match result {
                    AttemptResult::Answered(code) => Some(code),
                    AttemptResult::NoAnswer(_) => None,
                };
                let error = attempt_error(&result);
                if let Some(error) = &error {
                    tracing::info!(delivery = %delivery.id, attempt = delivery.attempts, error = %error, "webhook attempt failed");
                }
                let attempt = WebhookAttempt { delivery_id: delivery.id, status_code, error, plan, now };
                if let Err(err) = store.record_webhook_attempt(attempt).await {
                    tracing::warn!(error = %err, "cannot record a webhook attempt; its lease will run out");
                }
            });
        }
        while attempts.join_next().await.is_some() {}
        Ok(count)
    }
}
