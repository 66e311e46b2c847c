//! Forgotten passwords: a reset link by email, used once to set a new password.
//!
//! Asking for a link answers the same whether or not the address is a member, so the
//! endpoint cannot be used to find out who is: not in what it says, and not in how long it
//! takes. The store's work differs (a member's link and email are written and committed, a
//! stranger's request writes nothing), about 2.9 ms against 0.9 ms, which told the two apart
//! from a single request most of the time. So [`ResetService::request`] does not do that work
//! before the answer: it hands it back to run after answering, and the answer waits only for
//! what is the same for everyone (parsing the address, and a place among
//! [`MAX_PENDING_REQUESTS`], which bounds the work a flood of requests can queue).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::clock::Clock;
use crate::email::EmailAddress;
use crate::id::{AppId, MessageId};
use crate::model::{App, LinkState, User};
use crate::password::{self, Password, WeakPassword};
use crate::secret::ResetToken;
use crate::store::{ResetOutcome, ResetRequest, Store, StoreError};

/// How long a reset link works.
pub const RESET_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// Reset requests whose store work may be pending at once; further requests wait for a place
/// before they are answered.
pub const MAX_PENDING_REQUESTS: usize = 64;

/// The store work of a reset request, to run after the request is answered.
pub type RequestWork = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'static>>;

/// Why a reset link could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The link is unknown, used or expired.
    #[error("{}", link_message(*.0))]
    Link(LinkState),
    /// The new password breaks a rule.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn link_message(state: LinkState) -> &'static str {
    match state {
        LinkState::Used => "this reset link was already used; ask for a new one",
        LinkState::Expired => "this reset link has expired; ask for a new one",
        _ => "this reset link is not valid; ask for a new one",
    }
}

/// Sends reset links and uses them.
pub struct ResetService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    resend_interval: Duration,
    outbox: Arc<Notify>,
    pending: Arc<Semaphore>,
}

impl ResetService {
    /// A service over `store`; reset emails to one address are at least `resend_interval` apart.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, resend_interval: Duration, outbox: Arc<Notify>) -> Self {
        Self { store, clock, resend_interval, outbox, pending: Arc::new(Semaphore::new(MAX_PENDING_REQUESTS)) }
    }

    /// The work of asking for a reset of `email` in `app`: it emails a reset link if `email`
    /// is a member, and does nothing otherwise. The caller answers first and runs the work
    /// afterwards (see the module docs), so the answer takes the same time for both.
    pub async fn request(&self, app: &App, email: &str) -> RequestWork {
        let Ok(email) = EmailAddress::parse(email) else { return Box::pin(async { Ok(()) }) };
        // The semaphore is never closed, so this waits for a place and never fails.
        let place = self.pending.clone().acquire_owned().await;
        let now = self.clock.now();
        let request = ResetRequest {
            app_id: app.id.clone(),
            email,
            token: ResetToken::generate(),
            message_id: MessageId::generate(),
            expires_at: now.plus(RESET_LINK_TTL),
            resend_interval: self.resend_interval,
            now,
        };
        let (store, outbox) = (self.store.clone(), self.outbox.clone());
        Box::pin(async move {
            let _place = place;
            store.request_password_reset(request).await?;
            outbox.notify_one();
            Ok(())
        })
    }

    /// Waits until the work of every request handed out by [`ResetService::request`] has
    /// finished (or was dropped): a server that stops waits for it, as for its requests.
    pub async fn finish_pending(&self) {
        let all = u32::try_from(MAX_PENDING_REQUESTS).unwrap_or(u32::MAX);
        let _ = self.pending.acquire_many(all).await;
    }

    /// Sets `new_password` for the member of `app_id` whose reset link carries `token`.
    pub async fn reset(&self, app_id: &AppId, token: &str, new_password: String) -> Result<User, ResetError> {
        let token = ResetToken::parse(token.trim()).ok_or(ResetError::Link(LinkState::Unknown))?;
        let password = Password::new(new_password)?;
        let hash = password::off_thread(move || password.hash()).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        match self.store.reset_password(app_id, &token.hash(), hash, self.clock.now()).await? {
            ResetOutcome::Done(user) => Ok(user),
            ResetOutcome::Refused(state) => Err(ResetError::Link(state)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::{ManualClock, Timestamp};
    use crate::id::{ApiKeyId, InstanceId, InvitationId, MessageId, UserId};
    use crate::model::{Actor, ApiKeyRecord, AppSettings, AuditEvent, Invitation, OutboxMessage, TokenLookup, User};
    use crate::password::PasswordHash;
    use crate::secret::TokenHash;
    use crate::store::{
        AcceptCommand, AcceptOutcome, AppStore, AuditQuery, ConsoleLinkUse, InvitationQuery, InvitationStore,
        InviteCommand, Invited, KeyRevocation, MemberRemoval, MemberStore, MemberUpdate, NewApiKey, NewApp,
        OutboxStore, Renewal, SchemaVersion, SignupCommand, SignupOutcome, UserPatch, VerifyCommand, VerifyOutcome,
    };

    /// A store whose reset requests never finish, as if the database were slow for members.
    #[derive(Default)]
    struct StuckStore {
        requests: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl AppStore for StuckStore {
        async fn create_app(&self, _app: NewApp) -> Result<App, StoreError> {
            unreachable!("not used by these tests: create_app")
        }

        async fn create_first_app(&self, _app: NewApp) -> Result<Option<App>, StoreError> {
            unreachable!("not used by these tests: create_first_app")
        }

        async fn has_apps(&self) -> Result<bool, StoreError> {
            unreachable!("not used by these tests: has_apps")
        }

        async fn schema_version(&self) -> Result<SchemaVersion, StoreError> {
            unreachable!("not used by these tests: schema_version")
        }

        async fn app(&self, _id: &AppId) -> Result<Option<App>, StoreError> {
            unreachable!("not used by these tests: app")
        }

        async fn apps(&self) -> Result<Vec<App>, StoreError> {
            unreachable!("not used by these tests: apps")
        }

        async fn update_app(&self, _app: &App, _: &Actor, _: Timestamp) -> Result<Option<App>, StoreError> {
            unreachable!("not used by these tests: update_app")
        }

        async fn create_api_key(
            &self,
            _app_id: &AppId,
            _key: NewApiKey,
            _by: &Actor,
            _now: Timestamp,
        ) -> Result<ApiKeyRecord, StoreError> {
            unreachable!("not used by these tests: create_api_key")
        }

        async fn api_keys(&self, _app_id: &AppId) -> Result<Vec<ApiKeyRecord>, StoreError> {
            unreachable!("not used by these tests: api_keys")
        }

        async fn revoke_api_key(
            &self,
            _app_id: &AppId,
            _id: &ApiKeyId,
            _by: &Actor,
            _now: Timestamp,
        ) -> Result<KeyRevocation, StoreError> {
            unreachable!("not used by these tests: revoke_api_key")
        }

        async fn create_console_link(
            &self,
            _app_id: &AppId,
            _hash: &TokenHash,
            _now: Timestamp,
            _expires_at: Timestamp,
        ) -> Result<(), StoreError> {
            unreachable!("not used by these tests: create_console_link")
        }

        async fn use_console_link(
            &self,
            _hash: &TokenHash,
            _key: NewApiKey,
            _now: Timestamp,
        ) -> Result<ConsoleLinkUse, StoreError> {
            unreachable!("not used by these tests: use_console_link")
        }

        async fn audit_events(&self, _app_id: &AppId, _query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
            unreachable!("not used by these tests: audit_events")
        }

        async fn api_key(&self, _hash: &TokenHash) -> Result<Option<ApiKeyRecord>, StoreError> {
            unreachable!("not used by these tests: api_key")
        }

        async fn server_secret(&self, _name: &str, _candidate: String) -> Result<String, StoreError> {
            unreachable!("not used by these tests: server_secret")
        }
        async fn mail_templates(&self, _: &AppId) -> Result<Vec<crate::model::MailTemplate>, StoreError> {
            unreachable!("not used by these tests: mail_templates")
        }
        async fn put_mail_template(
            &self,
            _: &AppId,
            _: &crate::model::MailTemplate,
            _: &Actor,
        ) -> Result<(), StoreError> {
            unreachable!("not used by these tests: put_mail_template")
        }
        async fn delete_mail_template(
            &self,
            _: &AppId,
            _: crate::model::MailKind,
            _: crate::locale::Locale,
            _: &Actor,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            unreachable!("not used by these tests: delete_mail_template")
        }
    }

    #[async_trait::async_trait]
    impl MemberStore for StuckStore {
        async fn user(&self, _app_id: &AppId, _id: &UserId) -> Result<Option<User>, StoreError> {
            unreachable!("not used by these tests: user")
        }

        async fn user_credentials(
            &self,
            _app_id: &AppId,
            _email: &EmailAddress,
        ) -> Result<Option<(User, Option<PasswordHash>)>, StoreError> {
            unreachable!("not used by these tests: user_credentials")
        }

        async fn users(&self, _app_id: &AppId) -> Result<Vec<User>, StoreError> {
            unreachable!("not used by these tests: users")
        }

        async fn update_user(
            &self,
            _app_id: &AppId,
            _id: &UserId,
            _patch: UserPatch,
            _now: Timestamp,
        ) -> Result<MemberUpdate, StoreError> {
            unreachable!("not used by these tests: update_user")
        }

        async fn set_password(
            &self,
            _app_id: &AppId,
            _id: &UserId,
            _hash: PasswordHash,
            _now: Timestamp,
        ) -> Result<Option<User>, StoreError> {
            unreachable!("not used by these tests: set_password")
        }

        async fn delete_user(
            &self,
            _app_id: &AppId,
            _id: &UserId,
            _now: Timestamp,
        ) -> Result<MemberRemoval, StoreError> {
            unreachable!("not used by these tests: delete_user")
        }

        async fn request_password_reset(&self, _request: ResetRequest) -> Result<(), StoreError> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }

        async fn reset_password(
            &self,
            _app_id: &AppId,
            _hash: &TokenHash,
            _password: PasswordHash,
            _now: Timestamp,
        ) -> Result<ResetOutcome, StoreError> {
            unreachable!("not used by these tests: reset_password")
        }

        async fn send_signup_code(&self, _cmd: SignupCommand) -> Result<SignupOutcome, StoreError> {
            unreachable!("not used by these tests: send_signup_code")
        }

        async fn verify_signup(&self, _cmd: VerifyCommand) -> Result<VerifyOutcome, StoreError> {
            unreachable!("not used by these tests: verify_signup")
        }

        async fn create_console_session(
            &self,
            _: &TokenHash,
            _: &crate::console_session::ConsoleSessionRecord,
        ) -> Result<(), StoreError> {
            unreachable!("not used by these tests: create_console_session")
        }

        async fn console_session(
            &self,
            _: &TokenHash,
        ) -> Result<Option<crate::console_session::ConsoleSessionRecord>, StoreError> {
            unreachable!("not used by these tests: console_session")
        }

        async fn touch_console_session(&self, _: &TokenHash, _: Timestamp) -> Result<bool, StoreError> {
            unreachable!("not used by these tests: touch_console_session")
        }

        async fn delete_console_session(&self, _: &TokenHash) -> Result<bool, StoreError> {
            unreachable!("not used by these tests: delete_console_session")
        }

        async fn delete_ended_console_sessions(
            &self,
            _: crate::rules::console::EndedSessions,
        ) -> Result<u64, StoreError> {
            unreachable!("not used by these tests: delete_ended_console_sessions")
        }
    }

    #[async_trait::async_trait]
    impl InvitationStore for StuckStore {
        async fn invite(&self, _cmd: InviteCommand) -> Result<Invited, StoreError> {
            unreachable!("not used by these tests: invite")
        }

        async fn record_link_open(&self, _cmd: crate::store::LinkOpenCommand) -> Result<(), StoreError> {
            unreachable!("not used by these tests: record_link_open")
        }

        async fn invite_batch(&self, _cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
            unreachable!("not used by these tests: invite_batch")
        }

        async fn invite_dry_run(&self, _cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
            unreachable!("not used by these tests: invite_dry_run")
        }

        async fn invitation_emails_since(&self, _app_id: &AppId, _since: Timestamp) -> Result<u64, StoreError> {
            unreachable!("not used by these tests: invitation_emails_since")
        }

        async fn invitation(&self, _app_id: &AppId, _id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
            unreachable!("not used by these tests: invitation")
        }

        async fn list_invitations(
            &self,
            _app_id: &AppId,
            _query: InvitationQuery,
            _now: Timestamp,
        ) -> Result<Vec<Invitation>, StoreError> {
            unreachable!("not used by these tests: list_invitations")
        }

        async fn delivery_attempts(
            &self,
            _app_id: &AppId,
            _id: &InvitationId,
        ) -> Result<Vec<crate::model::DeliveryAttempt>, StoreError> {
            unreachable!("not used by these tests: delivery_attempts")
        }

        async fn revoke_invitation(
            &self,
            _app_id: &AppId,
            _id: &InvitationId,
            _by: &Actor,
            _now: Timestamp,
        ) -> Result<Option<Invitation>, StoreError> {
            unreachable!("not used by these tests: revoke_invitation")
        }

        async fn invitation_by_token(&self, _hash: &TokenHash) -> Result<Option<TokenLookup>, StoreError> {
            unreachable!("not used by these tests: invitation_by_token")
        }

        async fn accept_invitation(&self, _cmd: AcceptCommand) -> Result<AcceptOutcome, StoreError> {
            unreachable!("not used by these tests: accept_invitation")
        }
    }

    #[async_trait::async_trait]
    impl crate::idempotency::IdempotencyStore for StuckStore {
        async fn claim_key(
            &self,
            _claim: crate::idempotency::KeyClaim,
        ) -> Result<crate::idempotency::Claimed, StoreError> {
            unreachable!("not used by these tests: claim_key")
        }

        async fn complete_key(
            &self,
            _app_id: &AppId,
            _key: &str,
            _response: crate::rules::idempotency::StoredResponse,
        ) -> Result<(), StoreError> {
            unreachable!("not used by these tests: complete_key")
        }

        async fn release_key(&self, _app_id: &AppId, _key: &str) -> Result<(), StoreError> {
            unreachable!("not used by these tests: release_key")
        }

        async fn invite_keyed(
            &self,
            _cmds: Vec<InviteCommand>,
            _key: crate::idempotency::KeyedWrite<[Invited]>,
        ) -> Result<Vec<Invited>, StoreError> {
            unreachable!("not used by these tests: invite_keyed")
        }

        async fn revoke_keyed(
            &self,
            _app_id: &AppId,
            _id: &crate::id::InvitationId,
            _by: &crate::model::Actor,
            _now: crate::clock::Timestamp,
            _key: crate::idempotency::KeyedWrite<Option<crate::model::Invitation>>,
        ) -> Result<Option<crate::model::Invitation>, StoreError> {
            unreachable!("not used by these tests: revoke_keyed")
        }

        async fn invite_rows_keyed(
            &self,
            _cmds: Vec<InviteCommand>,
            _rows: crate::idempotency::KeyedRows,
        ) -> Result<Vec<crate::idempotency::RowDone>, StoreError> {
            unreachable!("not used by these tests: invite_rows_keyed")
        }
    }

    #[async_trait::async_trait]
    impl crate::store::WebhookStore for StuckStore {
        async fn create_webhook(&self, _: crate::webhooks::NewWebhook) -> Result<crate::webhooks::Webhook, StoreError> {
            unreachable!("not used by these tests: create_webhook")
        }
        async fn webhooks(&self, _: &AppId) -> Result<Vec<crate::webhooks::Webhook>, StoreError> {
            unreachable!("not used by these tests: webhooks")
        }
        async fn delete_webhook(&self, _: &AppId, _: &crate::WebhookId) -> Result<bool, StoreError> {
            unreachable!("not used by these tests: delete_webhook")
        }
        async fn rotate_webhook_secret(
            &self,
            _: &AppId,
            _: &crate::WebhookId,
            _: &crate::webhooks::WebhookSecret,
        ) -> Result<Option<crate::webhooks::Webhook>, StoreError> {
            unreachable!("not used by these tests: rotate_webhook_secret")
        }
        async fn webhook_deliveries(
            &self,
            _: &AppId,
            _: &crate::WebhookId,
            _: u32,
        ) -> Result<Option<Vec<crate::webhooks::WebhookDelivery>>, StoreError> {
            unreachable!("not used by these tests: webhook_deliveries")
        }
        async fn retry_webhook_delivery(
            &self,
            _: &AppId,
            _: &crate::WebhookId,
            _: &str,
            _: Timestamp,
        ) -> Result<Option<crate::webhooks::WebhookDelivery>, StoreError> {
            unreachable!("not used by these tests: retry_webhook_delivery")
        }
        async fn claim_webhook_deliveries(
            &self,
            _: Timestamp,
            _: Timestamp,
            _: u32,
        ) -> Result<Vec<crate::webhooks::DueDelivery>, StoreError> {
            unreachable!("not used by these tests: claim_webhook_deliveries")
        }
        async fn record_webhook_attempt(&self, _: crate::store::WebhookAttempt) -> Result<(), StoreError> {
            unreachable!("not used by these tests: record_webhook_attempt")
        }
        async fn announce_expired_invitations(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            unreachable!("not used by these tests: announce_expired_invitations")
        }
    }

    #[async_trait::async_trait]
    impl OutboxStore for StuckStore {
        async fn outbox_backlog(&self) -> Result<crate::store::OutboxBacklog, StoreError> {
            unreachable!("not used by these tests: outbox_backlog")
        }

        async fn register_instance(&self, _id: &InstanceId, _now: Timestamp) -> Result<(), StoreError> {
            unreachable!("not used by these tests: register_instance")
        }

        async fn renew_instance(
            &self,
            _id: &InstanceId,
            _now: Timestamp,
            _dead_after: Duration,
        ) -> Result<Renewal, StoreError> {
            unreachable!("not used by these tests: renew_instance")
        }

        async fn deregister_instance(&self, _id: &InstanceId) -> Result<(), StoreError> {
            unreachable!("not used by these tests: deregister_instance")
        }

        async fn claim_outbox(
            &self,
            _by: &InstanceId,
            _now: Timestamp,
            _limit: u32,
        ) -> Result<Vec<OutboxMessage>, StoreError> {
            unreachable!("not used by these tests: claim_outbox")
        }

        async fn mark_sent(&self, _sent: &[crate::store::SentMessage], _now: Timestamp) -> Result<(), StoreError> {
            unreachable!("not used by these tests: mark_sent")
        }

        async fn mark_failed(
            &self,
            _by: &InstanceId,
            _id: &MessageId,
            _error: &str,
            _retry_at: Option<Timestamp>,
        ) -> Result<(), StoreError> {
            unreachable!("not used by these tests: mark_failed")
        }
    }

    fn app() -> App {
        App {
            id: AppId::generate(),
            name: "Acme".into(),
            app_url: "https://app.example.test/".into(),
            settings: AppSettings::default(),
            created_at: Timestamp::from_millis(0),
        }
    }

    #[tokio::test]
    async fn request_answers_before_the_store_work_is_done() {
        let store = Arc::new(StuckStore::default());
        let service = ResetService::new(
            store.clone(),
            Arc::new(ManualClock::starting_now()),
            Duration::from_secs(60),
            Arc::new(Notify::new()),
        );

        let answered = tokio::time::timeout(Duration::from_secs(5), service.request(&app(), "ada@example.com")).await;

        let work = answered.expect("answered without waiting for the store");
        assert_eq!(store.requests.load(Ordering::SeqCst), 0, "no store work before the answer");
        let running = tokio::spawn(work);
        tokio::time::timeout(Duration::from_secs(5), async {
            while store.requests.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the work reaches the store once run");
        let waiting = tokio::time::timeout(Duration::from_millis(50), service.finish_pending()).await;
        assert!(waiting.is_err(), "shutdown waits for the pending work");
        running.abort();
        let _ = running.await;
        tokio::time::timeout(Duration::from_secs(5), service.finish_pending()).await.expect("nothing pending");
    }
}
