//! The delivery worker: claims due outbox messages, sends them concurrently, and records the
//! results. Every server instance runs one. A claim belongs to the instance that made it for as
//! long as that instance keeps renewing its registration (`presence`), so two live instances
//! never send one message, and a dead one's claims go to another within a lease.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinSet;
use usher_core::model::{MailKind, OutboxMessage};
use usher_core::store::{Renewal, SentMessage};
use usher_core::{Clock, InstanceId, MessageId, Store, StoreError, Timestamp};

use crate::backoff::RetryPolicy;
use crate::presence::Presence;
use crate::render::{MailerConfig, Renderer};
use crate::transport::{Transport, TransportError};

/// How the worker paces delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Messages sent at once.
    pub concurrency: usize,
    /// How long this instance may go without renewing its registration (renewed every fifth
    /// of this, at most every 5 s) before other instances presume it dead and send what it had
    /// claimed. A live instance keeps its claims however long a send takes.
    pub lease: Duration,
    /// How failures are retried.
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    /// 16 at once, a 15 s lease, the default retry policy.
    fn default() -> Self {
        Self { concurrency: 16, lease: Duration::from_secs(15), retry: RetryPolicy::default() }
    }
}

/// Messages claimed per pass.
const BATCH: u32 = 256;
/// How often to look for due messages without being woken (retries, other instances).
const POLL: Duration = Duration::from_secs(1);
/// How long a woken worker waits for more mail before claiming.
const GATHER: Duration = Duration::from_millis(20);
/// Threads the delivery worker may block in at once.
const BLOCKING_THREADS: usize = 4;
/// The delivery threads' nice value: a tenth of a request thread's share of a busy CPU.
#[cfg(target_os = "linux")]
const BACKGROUND_NICENESS: i32 = 10;

/// The [`Store`] calls the worker makes. A seam of its own so the worker's tests can make
/// these calls fail without implementing (and tracking every change to) the whole store.
#[async_trait::async_trait]
pub(crate) trait Outbox: Send + Sync {
    async fn register(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError>;
    async fn renew(&self, id: &InstanceId, now: Timestamp, dead_after: Duration) -> Result<Renewal, StoreError>;
    async fn deregister(&self, id: &InstanceId) -> Result<(), StoreError>;
    async fn claim(&self, by: &InstanceId, now: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>, StoreError>;
    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError>;
    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl Outbox for Arc<dyn Store> {
    async fn register(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError> {
        self.register_instance(id, now).await
    }

    async fn renew(&self, id: &InstanceId, now: Timestamp, dead_after: Duration) -> Result<Renewal, StoreError> {
        self.renew_instance(id, now, dead_after).await
    }

    async fn deregister(&self, id: &InstanceId) -> Result<(), StoreError> {
        self.deregister_instance(id).await
    }

    async fn claim(&self, by: &InstanceId, now: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>, StoreError> {
        self.claim_outbox(by, now, limit).await
    }

    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError> {
        <dyn Store>::mark_sent(&**self, sent, now).await
    }

    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        <dyn Store>::mark_failed(&**self, by, id, error, retry_at).await
    }
}

/// What a readiness check sees of a [`DeliveryWorker`]; cheap to clone.
#[derive(Clone)]
pub struct WorkerStatus(Arc<Presence>);

impl WorkerStatus {
    /// `None` while the worker runs and its instance's registration is fresh enough to claim
    /// email; otherwise why not, for people.
    pub fn problem(&self) -> Option<String> {
        self.0.problem()
    }
}

/// Clears the running flag however the delivery loop ends (also by a panic).
struct Running<'a>(&'a Presence);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.is_running.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Sends queued email.
pub struct DeliveryWorker {
    outbox: Arc<dyn Outbox>,
    transport: Arc<dyn Transport>,
    renderer: Arc<Renderer>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Wakes the webhook worker after this one wrote email events (`email.sent`,
    /// `email.failed`), as the services do after theirs.
    events: Arc<Notify>,
    config: WorkerConfig,
    presence: Arc<Presence>,
    /// Messages the transport accepted whose `sent` could not be recorded yet (the store
    /// failed); recorded before the next claim, which would otherwise send them again.
    unrecorded: std::sync::Mutex<Vec<SentMessage>>,
}

impl DeliveryWorker {
    /// A worker sending through `transport`, paced by `config`; `wake` is notified when new
    /// mail is queued. The worker notifies `events` (the webhook worker's wake-up) when it has
    /// recorded a message sent or failed for good, which writes `email.sent` or `email.failed`.
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        mailer: MailerConfig,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        events: Arc<Notify>,
        config: WorkerConfig,
    ) -> Result<Self, minijinja::Error> {
        Self::over(Arc::new(store), transport, mailer, clock, wake, events, config)
    }

    fn over(
        outbox: Arc<dyn Outbox>,
        transport: Arc<dyn Transport>,
        mailer: MailerConfig,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        events: Arc<Notify>,
        config: WorkerConfig,
    ) -> Result<Self, minijinja::Error> {
        let renderer = Arc::new(Renderer::new(mailer)?);
        let presence = Arc::new(Presence::new(config.lease, clock.clone()));
        Ok(Self { outbox, transport, renderer, clock, wake, events, config, presence, unrecorded: Default::default() })
    }

    /// A handle that tells whether this worker runs, for readiness checks.
    pub fn status(&self) -> WorkerStatus {
        WorkerStatus(self.presence.clone())
    }

    /// This instance's id in the store's registry.
    pub fn instance(&self) -> &InstanceId {
        &self.presence.instance
    }

    /// Runs until `shutdown` completes, renewing this instance's registration on the current
    /// runtime.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.run_with(&Handle::current(), shutdown).await;
    }

    /// Registers this instance, then delivers until `shutdown` completes while a task on
    /// `heartbeats` renews the registration; deregisters at the end, which hands whatever is
    /// still claimed to the other instances at once.
    async fn run_with(self, heartbeats: &Handle, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.presence.is_running.store(true, std::sync::atomic::Ordering::Release);
        let _running = Running(&self.presence);
        // Registered before the first claim (on SQLite this also releases at once what a dead
        // process had claimed).
        while let Err(err) = self.presence.beat(&*self.outbox, &self.wake).await {
            tracing::warn!(error = ?err, "cannot register this instance for delivery; retrying");
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.presence.interval()) => {}
            }
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let keeper = heartbeats.spawn(self.presence.clone().keep(self.outbox.clone(), self.wake.clone(), stopped));
        loop {
            let backlog = if self.presence.may_claim() {
                match self.deliver_due().await {
                    Ok(n) => n == BATCH as usize,
                    Err(err) => {
                        tracing::warn!(error = ?err, "outbox store failed; retrying");
                        false
                    }
                }
            } else {
                // Another instance may presume this one dead soon: claim nothing until the
                // heartbeat gets through again.
                false
            };
            let more_due = async {
                if backlog {
                    return;
                }
                tokio::select! {
                    () = self.wake.notified() => {
                        // Every invite wakes the worker; a moment's wait lets the ones behind
                        // it join the same claim, so a busy server claims and records mail in
                        // batches instead of one message at a time.
                        tokio::time::sleep(GATHER).await;
                    }
                    () = self.presence.renewed.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            };
            // Shutdown is looked at first, also between the passes of a long backlog: what
            // is left stays queued for the next start.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = more_due => {}
            }
        }
        drop(stop);
        if keeper.await.is_err() {
            tracing::error!("the heartbeat task stopped abnormally");
        }
    }

    /// Runs the worker until `shutdown` completes, on threads of its own that yield the CPU
    /// to the rest of the process: under a burst of requests, answering them comes first and
    /// the queued email follows as soon as there is CPU to spare (the outbox holds it safely
    /// meanwhile). When nothing else runs, the worker gets the whole machine.
    ///
    /// The heartbeat runs on the caller's runtime when there is one, at the normal priority:
    /// under a burst that starves the delivery threads, the instance must still not be
    /// presumed dead.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<JoinHandle<()>> {
        let caller = Handle::try_current().ok();
        // Running from now: what a readiness check sees next is registration, not a start-up race.
        self.presence.is_running.store(true, std::sync::atomic::Ordering::Release);
        std::thread::Builder::new().name("usher-mail".into()).spawn(move || {
            // On Linux a thread's nice value is its own, and threads inherit it from the thread
            // that starts them: the runtime's workers and blocking threads start below.
            // Elsewhere the call would lower the whole process, so it is Linux only.
            #[cfg(target_os = "linux")]
            if let Err(err) = rustix::process::setpriority_process(None, BACKGROUND_NICENESS) {
                tracing::warn!(error = %err, "cannot lower the delivery worker's CPU priority");
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name("usher-mail")
                // File writes (the file transport) and DNS lookups: a few threads do them as
                // fast as the disk and resolver allow, without a thread (and its memory) each.
                .max_blocking_threads(BLOCKING_THREADS)
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(err) => return tracing::error!(error = %err, "cannot start the delivery worker's runtime"),
            };
            let heartbeats = caller.unwrap_or_else(|| runtime.handle().clone());
            runtime.block_on(self.run_with(&heartbeats, shutdown));
        })
    }

    /// One pass: claims the due messages and tries each once. Returns how many were claimed.
    /// The instance must be registered (as [`DeliveryWorker::run`] does first).
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let unrecorded =
            std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if !unrecorded.is_empty() {
            if let Err(err) = self.outbox.mark_sent(&unrecorded, self.clock.now()).await {
                self.unrecorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(unrecorded);
                return Err(err);
            }
            self.events.notify_one();
        }
        let claimed = self.outbox.claim(&self.presence.instance, self.clock.now(), BATCH).await?;
        let count = claimed.len();
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut attempts = JoinSet::new();
        for msg in claimed {
            let (transport, renderer, clock) = (self.transport.clone(), self.renderer.clone(), self.clock.clone());
            let (presence, slots) = (self.presence.clone(), slots.clone());
            attempts.spawn(async move {
                // Waiting for a slot inside the task lets finished sends be recorded while
                // the rest of the claim still waits for its turn.
                let Ok(slot) = slots.acquire_owned().await else {
                    return (msg, Err(TransportError::temporary("the delivery slots were closed")), None);
                };
                let result = tokio::select! {
                    result = attempt(&*transport, &renderer, &msg, clock.now()) => result,
                    // Dropping the send closes its connection before the end of the message,
                    // so the server discards it: the instance that takes the claim over sends
                    // it alone.
                    () = presence.lapsed() => Err(TransportError::temporary(
                        "abandoned: this instance could not renew its registration in the database",
                    )),
                };
                (msg, result, Some(slot))
            });
        }
        // Sent messages are recorded as they finish, one commit at a time, each taking all
        // that finished during the previous one. A sent message keeps its delivery slot until
        // the commit that records it is done, so at most `concurrency` messages are ever in an
        // SMTP conversation or sent but not yet recorded: all that a kill can send twice, even
        // when the store is slow to commit (a burst of invites ahead of the recording).
        let mut sent = Vec::new();
        let mut recording = JoinSet::new();
        // Every outcome is recorded before a store error is returned: returning at once would
        // drop the JoinSet, aborting sends in flight, and leave messages the transport already
        // took unrecorded, to be sent a second time after the next claim releases them.
        let mut first_error = None;
        loop {
            if recording.is_empty() && !sent.is_empty() {
                let (outbox, ids, now) = (self.outbox.clone(), std::mem::take(&mut sent), self.clock.now());
                let (ids, slots): (Vec<SentMessage>, Vec<_>) = ids.into_iter().unzip();
                let events = self.events.clone();
                recording.spawn(async move {
                    let recorded = outbox.mark_sent(&ids, now).await;
                    drop(slots);
                    if recorded.is_ok() {
                        events.notify_one();
                    }
                    (ids, recorded)
                });
            }
            tokio::select! {
                Some(joined) = attempts.join_next(), if !attempts.is_empty() => match joined {
                    Ok((msg, Ok(reply), slot)) => {
                        let queued_for = self.clock.now().as_millis().saturating_sub(msg.created_at.as_millis());
                        metrics::counter!("usher_mail_delivery_attempts_total", "result" => "sent").increment(1);
                        metrics::histogram!("usher_mail_delivery_latency_seconds", "kind" => msg.kind.as_str())
                            .record(queued_for as f64 / 1000.0);
                        sent.push((SentMessage { id: msg.id, reply }, slot));
                    }
                    Ok((msg, Err(err), _slot)) => {
                        if let Err(store_err) = self.record_failure(&msg, &err).await {
                            first_error.get_or_insert(store_err);
                        }
                    }
                    // The message stays claimed; the next claim releases it and tries it again.
                    Err(err) => tracing::error!(error = %err, "a delivery attempt panicked"),
                },
                Some(recorded) = recording.join_next(), if !recording.is_empty() => match recorded {
                    Ok((_, Ok(()))) => {}
                    Ok((ids, Err(err))) => {
                        self.unrecorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(ids);
                        first_error.get_or_insert(err);
                    }
                    Err(err) => tracing::error!(error = %err, "recording sent messages panicked"),
                },
                else => break,
            }
        }
        first_error.map_or(Ok(count), Err)
    }

    async fn record_failure(&self, msg: &OutboxMessage, err: &TransportError) -> Result<(), StoreError> {
        let now = self.clock.now();
        let retry_at = err
            .is_temporary
            .then(|| self.config.retry.retry_at(msg.created_at, msg.attempts + 1, now, jitter()))
            .flatten();
        tracing::warn!(message.id = %msg.id, to = %msg.to.masked(), error = %err, will_retry = retry_at.is_some(), "email not sent");
        let result = if retry_at.is_some() { "retry" } else { "failed" };
        metrics::counter!("usher_mail_delivery_attempts_total", "result" => result).increment(1);
        self.outbox.mark_failed(&self.presence.instance, &msg.id, &err.message, retry_at).await?;
        if retry_at.is_none() {
            self.events.notify_one();
        }
        Ok(())
    }
}

/// Renders and sends one message; what the receiver answered.
async fn attempt(
    transport: &dyn Transport,
    renderer: &Renderer,
    msg: &OutboxMessage,
    now: Timestamp,
) -> Result<String, TransportError> {
    let email = renderer.render(msg, now).map_err(|err| TransportError::permanent(err.to_string()))?;
    let answer = transport.send(&email, msg.id.as_str()).await?;
    tracing::info!(message.id = %msg.id, to = %msg.to.masked(), answer = %answer, "email sent");
    if renderer.config().log_links
        && let Some(link) = &email.link
    {
        let what = match msg.kind {
            MailKind::Invitation | MailKind::Reminder => "join link",
            MailKind::SignIn => "sign-in link",
            MailKind::PasswordReset => "password reset link",
            MailKind::SignupCode | MailKind::AccountExists => "link",
        };
        tracing::info!("{what} for {}: {link}", msg.to.masked());
    }
    Ok(answer)
}

/// A number in `0..=1` from the OS random source, to spread retries apart.
fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    getrandom::getrandom(&mut byte).map_or(0.5, |()| f64::from(byte[0]) / 255.0)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use usher_core::model::{Actor, AppSettings, DeliveryStatus, Inviter, MailKind};
    use usher_core::secret::{ApiKey, InvitationToken};
    use usher_core::store::{InviteCommand, NewApiKey, NewApp};
    use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, ManualClock, Role};

    use super::*;
    use crate::render::RenderedEmail;
    use crate::render::tests::config;

    /// How the scripted transport answers a message.
    type Answer = fn(&RenderedEmail) -> Result<(), TransportError>;

    /// A transport that answers with a scripted result and remembers what it was given.
    struct ScriptedTransport {
        answer: Answer,
        sent: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Transport for ScriptedTransport {
        async fn send(&self, email: &RenderedEmail, _message_id: &str) -> Result<String, TransportError> {
            self.sent.lock().expect("lock").push(email.to.to_string());
            (self.answer)(email).map(|()| "250 ok".to_owned())
        }
    }

    /// The real store, except that `mark_failed` always fails, as when the database goes away
    /// mid-pass.
    struct MarkFailedBreaks(Arc<dyn Store>);

    #[async_trait::async_trait]
    impl Outbox for MarkFailedBreaks {
        async fn register(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError> {
            self.0.register(id, now).await
        }

        async fn renew(&self, id: &InstanceId, now: Timestamp, dead_after: Duration) -> Result<Renewal, StoreError> {
            self.0.renew(id, now, dead_after).await
        }

        async fn deregister(&self, id: &InstanceId) -> Result<(), StoreError> {
            self.0.deregister(id).await
        }

        async fn claim(&self, by: &InstanceId, now: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>, StoreError> {
            self.0.claim(by, now, limit).await
        }

        async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError> {
            Outbox::mark_sent(&self.0, sent, now).await
        }

        async fn mark_failed(
            &self,
            _: &InstanceId,
            _: &MessageId,
            _: &str,
            _: Option<Timestamp>,
        ) -> Result<(), StoreError> {
            Err(StoreError::Backend("database is locked".into()))
        }
    }

    struct Fixture {
        worker: DeliveryWorker,
        store: Arc<dyn Store>,
        /// A second instance, registered, that looks at the outbox as another server would.
        other: InstanceId,
        clock: Arc<ManualClock>,
        transport: Arc<ScriptedTransport>,
        token: InvitationToken,
        _dir: tempfile::TempDir,
    }

    /// A real SQLite store holding one queued invitation email to ada@example.com, and a
    /// worker over it.
    async fn fixture(answer: Answer) -> Fixture {
        fixture_with(answer, &[], |store| Arc::new(store)).await
    }

    /// Like [`fixture`], with invitations to `others` queued too and the worker reaching the
    /// outbox through `wrap`.
    async fn fixture_with(answer: Answer, others: &[&str], wrap: fn(Arc<dyn Store>) -> Arc<dyn Outbox>) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            usher_store::connect(&format!("sqlite://{}", dir.path().join("usher.db").display())).await.expect("store");
        let clock = Arc::new(ManualClock::starting_now());
        let key = ApiKeyId::generate();
        let app_id = AppId::generate();
        let new_app = NewApp {
            id: app_id.clone(),
            name: "Acme".into(),
            app_url: "https://app.example.test/".into(),
            settings: AppSettings::default(),
            api_key: NewApiKey { id: key.clone(), name: "default".into(), hash: ApiKey::generate().hash() },
            now: clock.now(),
        };
        store.create_app(new_app).await.expect("app");
        let first = InvitationToken::generate();
        for (address, token) in std::iter::once(("ada@example.com", first.clone()))
            .chain(others.iter().map(|address| (*address, InvitationToken::generate())))
        {
            let cmd = InviteCommand {
                app_id: app_id.clone(),
                email: EmailAddress::parse(address).expect("address"),
                role: Role::User,
                inviter: Inviter { actor: Actor::ApiKey(key.clone()), display_name: "Acme".into() },
                invitation_id: InvitationId::generate(),
                token,
                message_id: MessageId::generate(),
                reminder: None,
                expires_at: clock.now().plus(Duration::from_secs(3600)),
                resend_interval: Duration::ZERO,
                may_invite_admins: true,
                email_domain_allowed: true,
                daily_allowance: None,
                locale: None,
                now: clock.now(),
            };
            store.invite(cmd).await.expect("invite");
        }
        let transport = Arc::new(ScriptedTransport { answer, sent: Mutex::default() });
        let worker = DeliveryWorker::over(
            wrap(store.clone()),
            transport.clone(),
            config(),
            clock.clone(),
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
            WorkerConfig::default(),
        )
        .expect("worker");
        worker.presence.beat(&*worker.outbox, &worker.wake).await.expect("the worker registers");
        let other = InstanceId::generate();
        store.register_instance(&other, clock.now()).await.expect("the other instance registers");
        Fixture { worker, store, other, clock, transport, token: first, _dir: dir }
    }

    #[tokio::test]
    async fn deliver_due_marks_the_message_sent_when_the_transport_accepts_it() {
        let f = fixture(|_| Ok(())).await;

        let delivered = f.worker.deliver_due().await.expect("pass");

        assert_eq!(delivered, 1);
        assert_eq!(*f.transport.sent.lock().expect("lock"), ["ada@example.com"]);
        f.clock.advance(Duration::from_secs(3600));
        assert!(f.store.claim_outbox(&f.other, f.clock.now(), BATCH).await.expect("claim").is_empty(), "nothing left");
    }

    #[tokio::test]
    async fn run_stops_between_passes_when_shut_down_during_a_backlog() {
        let others: Vec<String> = (0..BATCH).map(|n| format!("member{n}@example.com")).collect();
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        let f = fixture_with(|_| Ok(()), &others, |store| Arc::new(store)).await;

        f.worker.run(std::future::ready(())).await;

        assert_eq!(f.transport.sent.lock().expect("lock").len(), BATCH as usize, "one pass, not the whole backlog");
        let left = f.store.claim_outbox(&f.other, f.clock.now(), BATCH).await.expect("claim");
        assert_eq!(left.len(), 1, "the rest stays queued for the next start");
    }

    #[tokio::test]
    async fn deliver_due_retries_later_when_the_transport_fails_temporarily() {
        let f = fixture(|_| Err(TransportError::temporary("connection refused"))).await;

        f.worker.deliver_due().await.expect("pass");

        assert_eq!(f.worker.deliver_due().await.expect("second pass"), 0, "not due again at once");
        f.clock.advance(Duration::from_secs(40));
        let again = f.store.claim_outbox(&f.other, f.clock.now(), BATCH).await.expect("claim");
        assert_eq!(again.len(), 1, "due again after the backoff");
        assert_eq!((again[0].attempts, again[0].kind), (1, MailKind::Invitation));
    }

    #[tokio::test]
    async fn deliver_due_fails_the_message_at_once_when_the_transport_refuses_it_permanently() {
        let f = fixture(|_| Err(TransportError::permanent("550 no such user"))).await;

        f.worker.deliver_due().await.expect("pass");

        f.clock.advance(Duration::from_secs(48 * 3600));
        assert!(f.store.claim_outbox(&f.other, f.clock.now(), BATCH).await.expect("claim").is_empty(), "never retried");
        assert_eq!(f.transport.sent.lock().expect("lock").len(), 1);
        let lookup = f.store.invitation_by_token(&f.token.hash()).await.expect("lookup").expect("invitation");
        let delivery = lookup.invitation.delivery;
        assert_eq!(
            (delivery.status, delivery.last_error.as_deref()),
            (DeliveryStatus::Failed, Some("550 no such user"))
        );
    }

    #[tokio::test]
    async fn deliver_due_still_records_sent_messages_when_recording_a_failure_fails() {
        let answer: Answer = |email| {
            if email.to.as_str() == "ada@example.com" { Err(TransportError::temporary("421 busy")) } else { Ok(()) }
        };
        let f = fixture_with(answer, &["bob@example.com"], |store| Arc::new(MarkFailedBreaks(store))).await;

        let pass = f.worker.deliver_due().await;

        assert!(matches!(pass, Err(StoreError::Backend(_))), "{pass:?}");
        assert_eq!(f.transport.sent.lock().expect("lock").len(), 2);
        let _ = f.worker.deliver_due().await;
        let sent = f.transport.sent.lock().expect("lock").clone();
        assert_eq!(sent[2..], ["ada@example.com"], "the unrecorded failure is tried again; bob is not sent twice");
    }

    #[tokio::test]
    async fn claims_of_a_live_worker_are_not_taken_over_however_long_its_send_takes() {
        let f = fixture(|_| Ok(())).await;
        let claimed = f.store.claim_outbox(f.worker.instance(), f.clock.now(), BATCH).await.expect("claim");

        f.clock.advance(Duration::from_secs(3600));
        f.worker.presence.beat(&*f.worker.outbox, &f.worker.wake).await.expect("renewal");
        let meanwhile = f.store.claim_outbox(&f.other, f.clock.now(), BATCH).await.expect("claim");

        assert_eq!(claimed.len(), 1);
        assert!(meanwhile.is_empty(), "{meanwhile:?}");
    }
}
