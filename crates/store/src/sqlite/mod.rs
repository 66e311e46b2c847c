//! The SQLite backend: one database file, one writing connection owned by one thread, and a
//! few reading connections beside it.
//!
//! [`SqliteStore`] hands every write to that thread (see `worker`), which commits writes that
//! queued up together (group commit) and answers each after the commit; reads run on the
//! reader connections. The file uses write-ahead logging with `synchronous=FULL`, so a
//! committed invitation survives a power cut, and enforces foreign keys.

mod apps;
mod audit;
mod checkpoint;
mod console;
mod idempotency;
mod instances;
mod invitations;
mod management;
mod outbox;
mod resets;
mod rows;
mod signups;
mod users;
mod webhooks;
mod worker;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use usher_core::console_session::ConsoleSessionRecord;
use usher_core::idempotency::{Claimed, IdempotencyStore, KeyClaim, KeyedRows, KeyedWrite, RowDone};
use usher_core::model::InvitationStatus;
use usher_core::model::{
    Actor, ApiKeyRecord, App, AuditEvent, DeliveryAttempt, Invitation, MailKind, MailTemplate, OutboxMessage,
    TokenLookup, User,
};
use usher_core::password::PasswordHash;
use usher_core::rules::console::EndedSessions;
use usher_core::rules::idempotency::StoredResponse;
use usher_core::secret::TokenHash;
use usher_core::store::{
    AcceptCommand, AcceptOutcome, AppStore, AuditQuery, ConsoleLinkUse, InvitationQuery, InvitationStore,
    InviteCommand, Invited, KeyRevocation, LinkOpenCommand, MemberRemoval, MemberStore, MemberUpdate, NewApiKey,
    NewApp, OutboxBacklog, OutboxStore, Renewal, ResetOutcome, ResetRequest, SchemaVersion, SentMessage, SignupCommand,
    SignupOutcome, UserPatch, VerifyCommand, VerifyOutcome, WebhookAttempt, WebhookStore,
};
use usher_core::webhooks::{DueDelivery, Event, EventType, NewWebhook, Webhook, WebhookDelivery, WebhookSecret};
use usher_core::{
    ApiKeyId, AppId, Clock, EmailAddress, InstanceId, InvitationId, Locale, MessageId, StoreError, SystemClock,
    Timestamp, UserId, WebhookId,
};

use crate::{OpenError, migrate};
use checkpoint::Checkpointer;
use instances::LockFiles;
use worker::Worker;

/// Connections that serve reads next to the writer; one per core of the machine it was
/// measured on.
const READERS: usize = 2;

/// Prepared statements kept per connection. rusqlite's default, 16, is fewer than one invite
/// and the delivery worker use between them, so statements were parsed again and again.
const STATEMENT_CACHE: usize = 128;

/// How long a statement waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// A [`Store`](usher_core::Store) in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    worker: Worker,
    locks: LockFiles,
    // Held for its thread. After the worker: the last connection to close checkpoints the log
    // and removes it.
    _checkpointer: Checkpointer,
}

impl SqliteStore {
    /// How SQLite plans the invitation list for `query` (`EXPLAIN QUERY PLAN`, one line a
    /// step). For tests that check each filter reads an index in list order.
    #[cfg(feature = "test-support")]
    pub async fn invitation_list_plan(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| management::list_plan(tx, &app_id, &query, now)).await
    }

    /// Opens (creating it and its directory when missing) and migrates the database at `path`.
    ///
    /// Dropping the store closes the database; the dropping thread waits for the operations
    /// already queued to finish first.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir { path: dir.to_owned(), source })?;
        }
        let failed = |source| OpenError::Open { path: path.to_owned(), source };
        let mut conn = connect(path).map_err(failed)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(failed)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::NoWriteAheadLog { path: path.to_owned(), mode });
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(failed)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(failed)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES).map_err(failed)?;
        migrate::run(&mut conn)?;
        let readers = (0..READERS).map(|_| connect(path).map_err(failed)).collect::<Result<Vec<_>, OpenError>>()?;
        let checkpointer = Checkpointer::spawn(connect(path).map_err(failed)?).map_err(OpenError::Thread)?;
        let worker = Worker::spawn(conn, readers).map_err(OpenError::Thread)?;
        Ok(Self { path: path.to_owned(), worker, locks: LockFiles::beside(path), _checkpointer: checkpointer })
    }
}

/// Opens a connection to `path` set up the same way for the writer and the readers.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans must not depend on bound values: otherwise a query that may use a partial index
    // (`status = 'pending'`) is parsed again every time a parameter is bound, which cost the
    // writer a tenth of its time.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Every write job runs in a savepoint, whose journal of original pages would otherwise be
    // a temporary file written page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        self.worker.write(move |tx| apps::create(tx, &app)).await
    }

    async fn create_first_app(&self, app: NewApp) -> Result<Option<App>, StoreError> {
        // The single writer makes the check and the insert one step.
        self.worker
            .write(move |tx| if apps::any_exist(tx)? { Ok(None) } else { apps::create(tx, &app).map(Some) })
            .await
    }

    async fn has_apps(&self) -> Result<bool, StoreError> {
        self.worker.read(apps::any_exist).await
    }

    async fn schema_version(&self) -> Result<SchemaVersion, StoreError> {
        let applied = self.worker.read(|tx| tx.pragma_query_value(None, "user_version", |row| row.get(0))).await?;
        Ok(SchemaVersion { applied, expected: migrate::latest_version() })
    }

    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        let id = id.clone();
        self.worker.read(move |tx| rows::app_by_id(tx, &id)).await
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.worker.read(rows::all_apps).await
    }

    async fn update_app(&self, app: &App, by: &Actor, now: Timestamp) -> Result<Option<App>, StoreError> {
        let (app, by) = (app.clone(), by.clone());
        self.worker.write(move |tx| apps::update(tx, &app, &by, now)).await
    }

    async fn create_api_key(
        &self,
        app_id: &AppId,
        key: NewApiKey,
        by: &Actor,
        now: Timestamp,
    ) -> Result<ApiKeyRecord, StoreError> {
        let (app_id, by) = (app_id.clone(), by.clone());
        self.worker.write(move |tx| apps::create_api_key(tx, &app_id, &key, &by, now)).await
    }

    async fn api_keys(&self, app_id: &AppId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| apps::api_keys(tx, &app_id)).await
    }

    async fn revoke_api_key(
        &self,
        app_id: &AppId,
        id: &ApiKeyId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<KeyRevocation, StoreError> {
        let (app_id, id, by) = (app_id.clone(), id.clone(), by.clone());
        self.worker.write(move |tx| apps::revoke_api_key(tx, &app_id, &id, &by, now)).await
    }

    async fn create_console_link(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let (app_id, hash) = (app_id.clone(), hash.clone());
        self.worker.write(move |tx| console::create_link(tx, &app_id, &hash, now, expires_at)).await
    }

    async fn use_console_link(
        &self,
        hash: &TokenHash,
        key: NewApiKey,
        now: Timestamp,
    ) -> Result<ConsoleLinkUse, StoreError> {
        let hash = hash.clone();
        self.worker.write(move |tx| console::use_link(tx, &hash, &key, now)).await
    }

    async fn audit_events(&self, app_id: &AppId, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let (app_id, query) = (app_id.clone(), query.clone());
        self.worker.read(move |tx| audit::list(tx, &app_id, &query)).await
    }

    async fn api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        let hash = hash.clone();
        self.worker.read(move |tx| apps::api_key(tx, &hash)).await
    }

    async fn server_secret(&self, name: &str, candidate: String) -> Result<String, StoreError> {
        let name = name.to_owned();
        // The contract passes no time; the creation stamp is informational only.
        let now = SystemClock.now();
        self.worker.write(move |tx| apps::server_secret(tx, &name, &candidate, now)).await
    }

    async fn mail_templates(&self, app_id: &AppId) -> Result<Vec<MailTemplate>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| apps::mail_templates(tx, &app_id)).await
    }

    async fn put_mail_template(&self, app_id: &AppId, template: &MailTemplate, by: &Actor) -> Result<(), StoreError> {
        let (app_id, template, by) = (app_id.clone(), template.clone(), by.clone());
        self.worker.write(move |tx| apps::put_mail_template(tx, &app_id, &template, &by)).await
    }

    async fn delete_mail_template(
        &self,
        app_id: &AppId,
        kind: MailKind,
        locale: Locale,
        by: &Actor,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (app_id, by) = (app_id.clone(), by.clone());
        self.worker.write(move |tx| apps::delete_mail_template(tx, &app_id, kind, locale, &by, now)).await
    }
}

#[async_trait::async_trait]
impl MemberStore for SqliteStore {
    async fn user(&self, app_id: &AppId, id: &UserId) -> Result<Option<User>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.read(move |tx| rows::user_by_id(tx, &app_id, &id)).await
    }

    async fn user_credentials(
        &self,
        app_id: &AppId,
        email: &EmailAddress,
    ) -> Result<Option<(User, Option<PasswordHash>)>, StoreError> {
        let (app_id, email) = (app_id.clone(), email.clone());
        self.worker.read(move |tx| users::credentials(tx, &app_id, &email)).await
    }

    async fn users(&self, app_id: &AppId) -> Result<Vec<User>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| users::list(tx, &app_id)).await
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        id: &UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<MemberUpdate, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.write(move |tx| users::update(tx, &app_id, &id, &patch, now)).await
    }

    async fn set_password(
        &self,
        app_id: &AppId,
        id: &UserId,
        hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.write(move |tx| users::set_password(tx, &app_id, &id, &hash, now)).await
    }

    async fn delete_user(&self, app_id: &AppId, id: &UserId, now: Timestamp) -> Result<MemberRemoval, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker
            .write(move |tx| {
                let (removal, removed) = users::delete(tx, &app_id, &id)?;
                if let Some(member) = removed {
                    webhooks::emit(tx, &app_id, EventType::MemberRemoved, |kind| Event::member(kind, &member, now))?;
                }
                Ok(removal)
            })
            .await
    }

    async fn request_password_reset(&self, request: ResetRequest) -> Result<(), StoreError> {
        self.worker.write(move |tx| resets::request(tx, &request)).await
    }

    async fn reset_password(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<ResetOutcome, StoreError> {
        let (app_id, hash) = (app_id.clone(), hash.clone());
        self.worker.write(move |tx| resets::reset(tx, &app_id, &hash, &password, now)).await
    }

    async fn send_signup_code(&self, cmd: SignupCommand) -> Result<SignupOutcome, StoreError> {
        self.worker.write(move |tx| signups::send_code(tx, &cmd)).await
    }

    async fn verify_signup(&self, cmd: VerifyCommand) -> Result<VerifyOutcome, StoreError> {
        self.worker.write(move |tx| signups::verify(tx, &cmd)).await
    }

    async fn create_console_session(&self, hash: &TokenHash, session: &ConsoleSessionRecord) -> Result<(), StoreError> {
        let (hash, session) = (hash.clone(), session.clone());
        self.worker.write(move |tx| console::create_session(tx, &hash, &session)).await
    }

    async fn console_session(&self, hash: &TokenHash) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        let hash = hash.clone();
        self.worker.read(move |tx| console::session(tx, &hash)).await
    }

    async fn touch_console_session(&self, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        let hash = hash.clone();
        self.worker.write(move |tx| console::touch_session(tx, &hash, now)).await
    }

    async fn delete_console_session(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        self.worker.write(move |tx| console::delete_session(tx, &hash)).await
    }

    async fn delete_ended_console_sessions(&self, ended: EndedSessions) -> Result<u64, StoreError> {
        self.worker.write(move |tx| console::delete_ended_sessions(tx, ended)).await
    }
}

#[async_trait::async_trait]
impl InvitationStore for SqliteStore {
    async fn invite(&self, cmd: InviteCommand) -> Result<Invited, StoreError> {
        self.worker
            .write(move |tx| {
                let invited = invitations::invite(tx, &cmd)?;
                webhooks::after_invite(tx, &invited, cmd.now)?;
                Ok(invited)
            })
            .await
    }

    async fn invite_batch(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.worker.write(move |tx| invite_batch(tx, &cmds)).await
    }

    async fn invite_dry_run(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.worker.write(move |tx| invitations::rehearse(tx, &cmds)).await
    }

    async fn invitation_emails_since(&self, app_id: &AppId, since: Timestamp) -> Result<u64, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| Ok(u64::from(outbox::invitation_emails_since(tx, &app_id, since)?.count))).await
    }

    async fn invitation(&self, app_id: &AppId, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.read(move |tx| rows::invitation_in_app(tx, &app_id, &id)).await
    }

    async fn list_invitations(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<Invitation>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| management::list(tx, &app_id, &query, now)).await
    }

    async fn delivery_attempts(&self, app_id: &AppId, id: &InvitationId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.read(move |tx| outbox::attempts(tx, &app_id, &id)).await
    }

    async fn revoke_invitation(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError> {
        let (app_id, id, by) = (app_id.clone(), id.clone(), by.clone());
        self.worker.write(move |tx| revoke(tx, &app_id, &id, &by, now)).await
    }

    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<TokenLookup>, StoreError> {
        let hash = hash.clone();
        self.worker.read(move |tx| rows::token_lookup(tx, &hash)).await
    }

    async fn accept_invitation(&self, cmd: AcceptCommand) -> Result<AcceptOutcome, StoreError> {
        self.worker
            .write(move |tx| {
                let outcome = invitations::accept(tx, &cmd)?;
                webhooks::after_accept(tx, &outcome, &cmd.token_hash, cmd.now)?;
                Ok(outcome)
            })
            .await
    }
    async fn record_link_open(&self, cmd: LinkOpenCommand) -> Result<(), StoreError> {
        self.worker.write(move |tx| invitations::record_open(tx, &cmd)).await
    }
}

#[async_trait::async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError> {
        self.worker.write(move |tx| idempotency::claim(tx, &claim)).await
    }

    async fn complete_key(&self, app_id: &AppId, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        let (app_id, key) = (app_id.clone(), key.to_owned());
        self.worker.write(move |tx| idempotency::complete(tx, &app_id, &key, &response)).await
    }

    async fn release_key(&self, app_id: &AppId, key: &str) -> Result<(), StoreError> {
        let (app_id, key) = (app_id.clone(), key.to_owned());
        self.worker.write(move |tx| idempotency::release(tx, &app_id, &key)).await
    }

    async fn invite_keyed(
        &self,
        cmds: Vec<InviteCommand>,
        key: KeyedWrite<[Invited]>,
    ) -> Result<Vec<Invited>, StoreError> {
        self.worker
            .write(move |tx| {
                let outcomes = invite_batch(tx, &cmds)?;
                idempotency::finish(tx, &key, outcomes.as_slice())?;
                Ok(outcomes)
            })
            .await
    }

    async fn invite_rows_keyed(&self, cmds: Vec<InviteCommand>, rows: KeyedRows) -> Result<Vec<RowDone>, StoreError> {
        self.worker.write(move |tx| idempotency::invite_rows(tx, &cmds, &rows)).await
    }

    async fn revoke_keyed(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
        key: KeyedWrite<Option<Invitation>>,
    ) -> Result<Option<Invitation>, StoreError> {
        let (app_id, id, by) = (app_id.clone(), id.clone(), by.clone());
        self.worker
            .write(move |tx| {
                let after = revoke(tx, &app_id, &id, &by, now)?;
                idempotency::finish(tx, &key, &after)?;
                Ok(after)
            })
            .await
    }
}

/// Every command of a batch, each with its event, in one transaction.
fn invite_batch(tx: &rusqlite::Transaction<'_>, cmds: &[InviteCommand]) -> rusqlite::Result<Vec<Invited>> {
    cmds.iter()
        .map(|cmd| {
            let invited = invitations::invite(tx, cmd)?;
            webhooks::after_invite(tx, &invited, cmd.now)?;
            Ok(invited)
        })
        .collect()
}

/// Revokes an invitation, with its event when it was pending.
fn revoke(
    tx: &rusqlite::Transaction<'_>,
    app_id: &AppId,
    id: &InvitationId,
    by: &Actor,
    now: Timestamp,
) -> rusqlite::Result<Option<Invitation>> {
    let was_pending =
        rows::invitation_in_app(tx, app_id, id)?.is_some_and(|before| before.status == InvitationStatus::Pending);
    let after = management::revoke(tx, app_id, id, by, now)?;
    if let Some(revoked) = after.as_ref().filter(|after| was_pending && after.status == InvitationStatus::Revoked) {
        webhooks::emit(tx, app_id, EventType::InvitationRevoked, |kind| Event::invitation(kind, revoked, now))?;
    }
    Ok(after)
}

#[async_trait::async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.worker.read(outbox::backlog).await
    }

    async fn register_instance(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError> {
        // The lock is taken before the row exists, so no one can see the row unlocked.
        self.locks.hold(id).map_err(|err| StoreError::Backend(Box::new(err)))?;
        let registered = self.worker.read(instances::all).await?;
        let gone = self.locks.gone(&registered).map_err(|err| StoreError::Backend(Box::new(err)))?;
        let gone_ids: Vec<String> = gone.iter().map(|(id, _)| id.clone()).collect();
        let id = id.clone();
        let released = self
            .worker
            .write(move |tx| {
                instances::register(tx, &id, now)?;
                instances::forget(tx, &gone_ids)
            })
            .await?;
        if released > 0 {
            tracing::info!(released, "released the emails that stopped instances had claimed");
        }
        self.locks.remove_all(gone);
        Ok(())
    }

    async fn renew_instance(
        &self,
        id: &InstanceId,
        now: Timestamp,
        dead_after: Duration,
    ) -> Result<Renewal, StoreError> {
        let id = id.clone();
        self.worker.write(move |tx| instances::renew(tx, &id, now, dead_after)).await
    }

    async fn deregister_instance(&self, id: &InstanceId) -> Result<(), StoreError> {
        let owned = id.clone();
        self.worker.write(move |tx| instances::deregister(tx, &owned)).await?;
        self.locks.remove(id);
        Ok(())
    }

    async fn claim_outbox(
        &self,
        by: &InstanceId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let by = by.clone();
        self.worker.write(move |tx| outbox::claim(tx, &by, now, limit)).await
    }

    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError> {
        let sent = sent.to_vec();
        self.worker
            .write(move |tx| {
                sent.iter().try_for_each(|message| {
                    outbox::mark_sent(tx, &message.id, &message.reply, now)?;
                    webhooks::after_sent(tx, &message.id, now)
                })
            })
            .await
    }

    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (by, id, error) = (by.clone(), id.clone(), error.to_owned());
        self.worker
            .write(move |tx| {
                let was_failed = webhooks::is_failed(tx, &id)?;
                outbox::mark_failed(tx, &by, &id, &error, retry_at)?;
                if !was_failed {
                    webhooks::after_failed(tx, &id, SystemClock.now())?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait::async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook, StoreError> {
        self.worker.write(move |tx| webhooks::create(tx, &hook)).await
    }

    async fn webhooks(&self, app_id: &AppId) -> Result<Vec<Webhook>, StoreError> {
        let app_id = app_id.clone();
        self.worker.read(move |tx| webhooks::list(tx, &app_id)).await
    }

    async fn delete_webhook(&self, app_id: &AppId, id: &WebhookId) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.write(move |tx| webhooks::delete(tx, &app_id, &id)).await
    }

    async fn rotate_webhook_secret(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        secret: &WebhookSecret,
    ) -> Result<Option<Webhook>, StoreError> {
        let (app_id, id, secret) = (app_id.clone(), id.clone(), secret.clone());
        self.worker.write(move |tx| webhooks::rotate(tx, &app_id, &id, &secret)).await
    }

    async fn webhook_deliveries(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<WebhookDelivery>>, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.worker.read(move |tx| webhooks::deliveries(tx, &app_id, &id, limit)).await
    }

    async fn retry_webhook_delivery(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        delivery_id: &str,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let (app_id, id, delivery_id) = (app_id.clone(), id.clone(), delivery_id.to_owned());
        self.worker.write(move |tx| webhooks::retry(tx, &app_id, &id, &delivery_id, now)).await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.worker.write(move |tx| webhooks::claim(tx, now, lease_until, limit)).await
    }

    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError> {
        self.worker.write(move |tx| webhooks::record(tx, &attempt)).await
    }

    async fn announce_expired_invitations(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.worker.write(move |tx| webhooks::announce_expired(tx, now, limit)).await
    }
}

#[cfg(test)]
mod tests {
    //! What the contract cannot show: where the plaintext token rests, and the file's life.

    use usher_core::model::{Actor, AppSettings, Inviter};
    use usher_core::secret::{ApiKey, InvitationToken};
    use usher_core::store::NewApiKey;
    use usher_core::{ApiKeyId, EmailAddress, InvitationId, Role};

    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const LEASE: Duration = Duration::from_secs(60);

    async fn store_with_app(dir: &tempfile::TempDir) -> (SqliteStore, AppId) {
        let store = SqliteStore::open(&dir.path().join("usher.db")).expect("database opens");
        let id = AppId::generate();
        let key = NewApiKey { id: ApiKeyId::generate(), name: "k".into(), hash: ApiKey::generate().hash() };
        let new = NewApp {
            id: id.clone(),
            name: "Acme".into(),
            app_url: "https://acme.example".into(),
            settings: AppSettings::default(),
            api_key: key,
            now: T0,
        };
        store.create_app(new).await.expect("app is created");
        (store, id)
    }

    /// Invites `to` at `now` and returns the queued message's id.
    async fn invite(store: &SqliteStore, app_id: &AppId, to: &str, now: Timestamp) -> MessageId {
        let message_id = MessageId::generate();
        let cmd = InviteCommand {
            app_id: app_id.clone(),
            email: EmailAddress::parse(to).expect("valid"),
            role: Role::User,
            inviter: Inviter { actor: Actor::ApiKey(ApiKeyId::generate()), display_name: "Acme".into() },
            invitation_id: InvitationId::generate(),
            token: InvitationToken::generate(),
            message_id: message_id.clone(),
            reminder: None,
            expires_at: now.plus(AppSettings::DEFAULT_INVITATION_TTL),
            resend_interval: Duration::ZERO,
            may_invite_admins: true,
            email_domain_allowed: true,
            daily_allowance: None,
            locale: None,
            now,
        };
        store.invite(cmd).await.expect("invite");
        message_id
    }

    /// Whether the message's row still holds a plaintext token.
    async fn holds_token(store: &SqliteStore, id: &MessageId) -> bool {
        let id = id.clone();
        store
            .worker
            .read(move |tx| {
                tx.query_row("SELECT token IS NOT NULL FROM outbox_messages WHERE id = ?1", [id.as_str()], |row| {
                    row.get(0)
                })
            })
            .await
            .expect("message exists")
    }

    #[tokio::test]
    async fn outbox_erases_the_token_when_message_is_sent_failed_or_cancelled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, app) = store_with_app(&dir).await;
        let sent = invite(&store, &app, "sent@example.org", T0).await;
        let failed = invite(&store, &app, "failed@example.org", T0).await;
        let retried = invite(&store, &app, "retried@example.org", T0).await;
        let cancelled = invite(&store, &app, "again@example.org", T0).await;
        let me = InstanceId::generate();
        store.register_instance(&me, T0).await.expect("register");
        store.claim_outbox(&me, T0, 10).await.expect("claim");
        let queued_before = holds_token(&store, &sent).await;

        store.mark_sent(&[SentMessage { id: sent.clone(), reply: "250 Ok".into() }], T0).await.expect("mark sent");
        store.mark_failed(&me, &failed, "550", None).await.expect("mark failed");
        store.mark_failed(&me, &retried, "451", Some(T0)).await.expect("mark failed");
        store.mark_failed(&me, &cancelled, "451", Some(T0)).await.expect("mark failed");
        invite(&store, &app, "again@example.org", T0.plus(LEASE)).await;

        assert!(queued_before, "a claimed message keeps its token until it is done");
        assert!(!holds_token(&store, &sent).await);
        assert!(!holds_token(&store, &failed).await);
        assert!(holds_token(&store, &retried).await, "a retry needs its token");
        assert!(!holds_token(&store, &cancelled).await, "a re-sent invitation's old message is cancelled");
    }

    #[tokio::test]
    async fn claim_outbox_gives_up_on_an_invitation_message_when_its_token_is_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, app) = store_with_app(&dir).await;
        let broken = invite(&store, &app, "ada@example.org", T0).await;
        let id = broken.clone();
        store
            .worker
            .write(move |tx| tx.execute("UPDATE outbox_messages SET token = NULL WHERE id = ?1", [id.as_str()]))
            .await
            .expect("token is erased behind the store's back");

        let me = InstanceId::generate();
        store.register_instance(&me, T0).await.expect("register");
        let claimed = store.claim_outbox(&me, T0, 10).await.expect("claim");

        let id = broken.clone();
        let status: String = store
            .worker
            .read(move |tx| {
                tx.query_row("SELECT status FROM outbox_messages WHERE id = ?1", [id.as_str()], |r| r.get(0))
            })
            .await
            .expect("message exists");
        assert!(claimed.is_empty(), "{claimed:?}");
        assert_eq!(status, "failed");
    }

    #[tokio::test]
    async fn register_instance_releases_at_once_the_claims_of_a_process_that_is_gone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (dead, app) = store_with_app(&dir).await;
        invite(&dead, &app, "ada@example.org", T0).await;
        let dead_instance = InstanceId::generate();
        dead.register_instance(&dead_instance, T0).await.expect("register");
        dead.claim_outbox(&dead_instance, T0, 10).await.expect("claim");
        // Closing the store without deregistering is what a killed process leaves: its lock
        // file is no longer locked, its heartbeat is a moment old.
        drop(dead);
        let restarted = SqliteStore::open(&dir.path().join("usher.db")).expect("database reopens");
        let me = InstanceId::generate();

        restarted.register_instance(&me, T0.plus(Duration::from_millis(100))).await.expect("register");

        let claimed = restarted.claim_outbox(&me, T0.plus(Duration::from_millis(100)), 10).await.expect("claim");
        assert_eq!(claimed.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), ["ada@example.org"]);
        assert_eq!(claimed[0].attempts, 1, "the interrupted attempt counts");
    }

    #[tokio::test]
    async fn register_instance_keeps_the_claims_of_a_process_that_still_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (live, app) = store_with_app(&dir).await;
        invite(&live, &app, "ada@example.org", T0).await;
        let live_instance = InstanceId::generate();
        live.register_instance(&live_instance, T0).await.expect("register");
        live.claim_outbox(&live_instance, T0, 10).await.expect("claim");
        // A second store in this process locks files as a second process would.
        let other = SqliteStore::open(&dir.path().join("usher.db")).expect("database opens again");
        let me = InstanceId::generate();

        other.register_instance(&me, T0.plus(Duration::from_secs(3600))).await.expect("register");

        let claimed = other.claim_outbox(&me, T0.plus(Duration::from_secs(3600)), 10).await.expect("claim");
        assert!(claimed.is_empty(), "{claimed:?}");
    }

    #[tokio::test]
    async fn open_keeps_the_data_when_the_database_is_reopened() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, app) = store_with_app(&dir).await;
        drop(store);

        let reopened = SqliteStore::open(&dir.path().join("usher.db")).expect("database reopens");

        assert!(reopened.app(&app).await.expect("lookup").is_some());
    }

    #[tokio::test]
    async fn drop_closes_the_database_when_the_store_goes_away() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = store_with_app(&dir).await;
        let wal = dir.path().join("usher.db-wal");
        let open_wal = wal.exists();

        drop(store);

        // SQLite checkpoints and deletes the write-ahead log when its last connection closes.
        assert!(open_wal && !wal.exists());
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_while_the_store_is_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, _) = store_with_app(&dir).await;
        let file = dir.path().join("usher.db");

        // Far below the writer's own checkpoint threshold: only the checkpointing thread
        // copies the log back.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&file).expect("database file").len() <= 4096 {
            assert!(std::time::Instant::now() < deadline, "nothing was checkpointed into {}", file.display());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
