//! This instance's registration in the store, renewed by a heartbeat: what keeps the emails it
//! claimed its own while it lives, and hands them to another instance soon after it dies.
//!
//! The heartbeat runs every fifth of the lease (at most every 5 s). Other instances presume
//! this one dead once its heartbeat is a whole lease old; to stay clear of that, the worker
//! claims nothing while its last renewal is more than half a lease old, and abandons a send in
//! progress once it is three quarters of a lease old (an SMTP server then drops the unfinished
//! message, so the instance that takes the claim over does not send it twice).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};
use usher_core::{Clock, InstanceId, StoreError};

use crate::worker::Outbox;

/// Shortest heartbeat interval, for tests with leases of a second.
const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Longest heartbeat interval: "every few seconds", whatever the lease.
const MAX_INTERVAL: Duration = Duration::from_secs(5);

/// The instance's registration and what it knows of its own liveness.
pub(crate) struct Presence {
    pub(crate) instance: InstanceId,
    lease: Duration,
    clock: Arc<dyn Clock>,
    is_registered: AtomicBool,
    /// True while the delivery loop runs.
    pub(crate) is_running: AtomicBool,
    renewed_at: Mutex<Option<Instant>>,
    /// Notified when the registration is renewed after being stale, so the worker resumes.
    pub(crate) renewed: Notify,
}

impl Presence {
    pub(crate) fn new(lease: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            instance: InstanceId::generate(),
            lease,
            clock,
            is_registered: AtomicBool::new(false),
            is_running: AtomicBool::new(false),
            renewed_at: Mutex::new(None),
            renewed: Notify::new(),
        }
    }

    /// Time between two heartbeats.
    pub(crate) fn interval(&self) -> Duration {
        (self.lease / 5).clamp(MIN_INTERVAL, MAX_INTERVAL)
    }

    /// True when the last renewal is recent enough to claim: no instance can presume this one
    /// dead for at least another half lease.
    pub(crate) fn may_claim(&self) -> bool {
        self.renewed_within(self.lease / 2)
    }

    /// Why the worker cannot deliver right now, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if !self.is_running.load(Ordering::Acquire) {
            return Some("the delivery worker is not running".into());
        }
        if self.may_claim() {
            return None;
        }
        Some(match *self.renewed_at.lock().unwrap_or_else(PoisonError::into_inner) {
            None => "the delivery worker has not registered with the database yet".into(),
            Some(at) => format!(
                "the delivery worker could not renew its registration in the database for {:.0} s",
                at.elapsed().as_secs_f64()
            ),
        })
    }

    fn renewed_within(&self, age: Duration) -> bool {
        self.renewed_at.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|at| at.elapsed() < age)
    }

    /// Completes once the last renewal is three quarters of a lease old: a send still running
    /// then must stop before another instance may take its claim over.
    pub(crate) async fn lapsed(&self) {
        let limit = self.lease * 3 / 4;
        while self.renewed_within(limit) {
            tokio::time::sleep(self.interval() / 2).await;
        }
    }

    /// Registers (the first time, or again after being presumed dead) or renews; on success
    /// the instance may claim for another half lease. `wake` is told when claims of dead
    /// instances were released, so they are sent at once.
    pub(crate) async fn beat(&self, outbox: &dyn Outbox, wake: &Notify) -> Result<(), StoreError> {
        let (now, started) = (self.clock.now(), Instant::now());
        if !self.is_registered.load(Ordering::Acquire) {
            outbox.register(&self.instance, now).await?;
            self.is_registered.store(true, Ordering::Release);
            wake.notify_one();
        } else {
            let renewal = outbox.renew(&self.instance, now, self.lease).await?;
            if !renewal.is_registered {
                tracing::warn!(
                    instance = %self.instance,
                    "this instance was presumed dead (no heartbeat for {} s); emails it was sending may go out twice",
                    self.lease.as_secs_f32()
                );
                self.is_registered.store(false, Ordering::Release);
                *self.renewed_at.lock().unwrap_or_else(PoisonError::into_inner) = None;
                return Box::pin(self.beat(outbox, wake)).await;
            }
            if renewal.released > 0 {
                tracing::info!(released = renewal.released, "took over the emails of instances that stopped");
                wake.notify_one();
            }
        }
        let was_stale = !self.may_claim();
        // The time taken before the call: the store recorded a heartbeat no later than that.
        *self.renewed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(started);
        if was_stale {
            self.renewed.notify_waiters();
        }
        Ok(())
    }

    /// Renews every [`Self::interval`] until `stop` fires, then deregisters, which releases at
    /// once whatever the instance still held.
    pub(crate) async fn keep(self: Arc<Self>, outbox: Arc<dyn Outbox>, wake: Arc<Notify>, stop: oneshot::Receiver<()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = tokio::time::sleep(self.interval()) => {}
            }
            if let Err(err) = self.beat(&*outbox, &wake).await {
                tracing::warn!(error = ?err, "cannot renew this instance's heartbeat; retrying");
            }
        }
        if self.is_registered.load(Ordering::Acquire)
            && let Err(err) = outbox.deregister(&self.instance).await
        {
            tracing::warn!(error = ?err, "cannot deregister this instance; its claims end when its heartbeat is missed");
        }
    }
}
