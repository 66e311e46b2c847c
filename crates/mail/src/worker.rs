//! The delivery worker: claims due outbox messages, sends them, and records the result.
//! Every server instance runs one; leases keep two instances from sending one message.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use usher_core::model::OutboxMessage;
use usher_core::{Clock, Store, StoreError};

use crate::backoff;
use crate::render::{MailerConfig, Renderer};
use crate::transport::{Transport, TransportError};

/// How long a claimed message is reserved for this worker before another may retry it.
const LEASE: Duration = Duration::from_secs(5 * 60);
/// Messages claimed per pass.
const BATCH: u32 = 100;
/// How often to look for due messages without being woken (retries, other instances).
const POLL: Duration = Duration::from_secs(1);

/// Sends queued email.
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    renderer: Renderer,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl DeliveryWorker {
    /// A worker sending through `transport`; `wake` is notified when new mail is queued.
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        config: MailerConfig,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Result<Self, minijinja::Error> {
        Ok(Self { store, transport, renderer: Renderer::new(config)?, clock, wake })
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.deliver_due().await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = ?err, "cannot claim outbox messages; retrying"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass: claims the due messages and tries each once. Returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let claimed = self.store.claim_outbox(self.clock.now(), LEASE, BATCH).await?;
        for msg in &claimed {
            self.deliver(msg).await?;
        }
        Ok(claimed.len())
    }

    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), StoreError> {
        let result = match self.renderer.render(msg, self.clock.now()) {
            Ok(email) => {
                let sent = self.transport.send(&email, msg.id.as_str()).await;
                if sent.is_ok()
                    && self.renderer.config().log_links
                    && let Some(link) = &email.link
                {
                    tracing::info!("invitation for {}: {link}", msg.to.masked());
                }
                sent
            }
            Err(err) => Err(TransportError::permanent(err.to_string())),
        };
        let now = self.clock.now();
        match result {
            Ok(()) => {
                tracing::info!(message.id = %msg.id, to = %msg.to.masked(), "email sent");
                self.store.mark_sent(&msg.id, now).await
            }
            Err(err) => {
                let retry_at = err
                    .is_temporary
                    .then(|| backoff::retry_at(msg.created_at, msg.attempts + 1, now, jitter()))
                    .flatten();
                tracing::warn!(message.id = %msg.id, to = %msg.to.masked(), error = %err, will_retry = retry_at.is_some(), "email not sent");
                self.store.mark_failed(&msg.id, &err.message, retry_at).await
            }
        }
    }
}

/// A number in `0..=1` from the OS random source, to spread retries apart.
fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    getrandom::getrandom(&mut byte).map_or(0.5, |()| f64::from(byte[0]) / 255.0)
}
