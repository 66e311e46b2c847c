//! The PostgreSQL backend: a pool of connections to one database that any number of Usher
//! instances share.
//!
//! [`PgStore`] runs every [`Store`] method as one transaction (a single-statement read as one
//! statement) and behaves as [`crate::SqliteStore`] does, which the conformance suite checks
//! on both. Where SQLite gets that for free from its single writer, this backend takes locks:
//! transactions about one address take turns on an advisory lock (`locks`), so two instances
//! inviting the same address at once produce one invitation and one re-send; the delivery
//! workers of all instances claim outbox rows with `FOR UPDATE SKIP LOCKED` (`outbox`); and a
//! transaction that still loses a race is run once more (`pool`). Single invites arriving at
//! once share a transaction (`group`).

mod apps;
mod audit;
mod console;
mod group;
mod idempotency;
mod instances;
mod invitations;
mod locks;
mod management;
mod migrate;
mod outbox;
mod pool;
mod resets;
mod rows;
mod signups;
mod tls;
mod users;
mod webhooks;

use std::fmt;
use std::time::Duration;

use sqlx_core::connection::Connection;
use sqlx_postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgSslMode};
use usher_core::console_session::ConsoleSessionRecord;
use usher_core::idempotency::{Claimed, IdempotencyStore, KeyClaim, KeyedRows, KeyedWrite, RowDone};
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
use usher_core::webhooks::{DueDelivery, NewWebhook, Webhook, WebhookDelivery, WebhookSecret};
use usher_core::{
    ApiKeyId, AppId, Clock, EmailAddress, InstanceId, InvitationId, Locale, MessageId, StoreError, SystemClock,
    Timestamp, UserId, WebhookId,
};

use crate::OpenError;
use group::InviteQueue;
use pool::Db;

/// Connections each instance keeps at most (sqlx's default). A transaction holds one for its
/// whole length, so this bounds the transactions an instance runs at once.
const MAX_CONNECTIONS: u32 = 10;

/// How long opening the store waits for the server to answer, so a wrong host fails start-up
/// in seconds rather than after the operating system's TCP time-out.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an operation waits for a connection (including opening one when the server was
/// away) before it fails as unavailable: during an outage a request is answered 503 within
/// this, instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](usher_core::Store) in a PostgreSQL database.
pub struct PgStore {
    /// `host:port/database`, for messages; never the user or password.
    server: String,
    db: Db,
    invites: InviteQueue,
}

impl PgStore {
    /// How PostgreSQL plans the invitation list for `query` (`EXPLAIN`, one line a row), with
    /// sequential scans, bitmap scans and sorts discouraged: a test's few rows would otherwise
    /// get them for any query. For tests that check each filter reads an index in list order.
    #[cfg(feature = "test-support")]
    pub async fn invitation_list_plan(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let input = (app_id, query, now);
        self.db
            .rehearse(&input, |conn, (app_id, query, now)| Box::pin(management::list_plan(conn, app_id, query, *now)))
            .await
    }

    /// Connects to the database `database_url` names and brings its schema up to date.
    ///
    /// The URL has libpq's form, `postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?PARAMS]`
    /// (`postgresql://` too); what it leaves out comes from the `PG*` environment variables, as
    /// with `psql`. TLS follows libpq's `sslmode` (`disable`, `allow`, `prefer` — the default —,
    /// `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file, or `system` for
    /// the public CAs), also from `PGSSLMODE` and `PGSSLROOTCERT`; see `tls` for the details.
    /// The database must exist; its tables are created or migrated here, safely while other
    /// instances start too.
    pub async fn connect(database_url: &str) -> Result<Self, OpenError> {
        let (conn, options, server) = open(database_url).await?;
        // Closing politely only tells the server sooner; the migrations are committed either way.
        let _ = conn.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| OpenError::PostgresConnect { server: server.clone(), source })?;
        let db = Db::new(pool);
        Ok(Self { invites: InviteQueue::start(db.clone()), db, server })
    }
}

/// One connection to the database `database_url` names, its schema brought up to date (for
/// `usher migrate --from sqlite://…`, which copies into it in one transaction).
pub(crate) async fn migrated_connection(database_url: &str) -> Result<PgConnection, OpenError> {
    Ok(open(database_url).await?.0)
}

/// One connection to the database `database_url` names, after migrating its schema; with the
/// options that worked and the server as `host:port/database` for messages.
async fn open(database_url: &str) -> Result<(PgConnection, PgConnectOptions, String), OpenError> {
    let mut options = tls::options(database_url)?.application_name("usher");
    let host = options.get_host().to_owned();
    let server =
        format!("{}:{}/{}", host, options.get_port(), options.get_database().unwrap_or(options.get_username()));
    let mode = options.get_ssl_mode();
    let failed = |source: sqlx_core::Error| match tls::failure_reason(&source, &host, mode) {
        Some(reason) => OpenError::PostgresTls { server: server.clone(), reason, source },
        None => OpenError::PostgresConnect { server: server.clone(), source },
    };

    let mut conn = match connect_once(&options).await {
        // libpq's `allow`: plain text first, and TLS when the server refuses that (a
        // `hostssl`-only pg_hba.conf). What worked is what the pool uses.
        Err(sqlx_core::Error::Database(_)) if matches!(options.get_ssl_mode(), PgSslMode::Allow) => {
            options = options.ssl_mode(PgSslMode::Require);
            connect_once(&options).await
        }
        Ok(conn) if matches!(options.get_ssl_mode(), PgSslMode::Allow) => {
            options = options.ssl_mode(PgSslMode::Disable);
            Ok(conn)
        }
        result => result,
    }
    .map_err(failed)?;
    migrate::run(&mut conn).await?;
    Ok((conn, options, server))
}

/// One connection to the server, given [`CONNECT_TIMEOUT`] to answer.
async fn connect_once(options: &PgConnectOptions) -> Result<PgConnection, sqlx_core::Error> {
    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options))
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

/// The error a connection attempt that got no answer in time reports.
fn timed_out() -> sqlx_core::Error {
    let message = format!("no answer within {} s", CONNECT_TIMEOUT.as_secs());
    sqlx_core::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("server", &self.server).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AppStore for PgStore {
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        self.db.write(&app, |tx, app| Box::pin(apps::create(tx, app))).await
    }

    async fn create_first_app(&self, app: NewApp) -> Result<Option<App>, StoreError> {
        self.db.write(&app, |tx, app| Box::pin(apps::create_first(tx, app))).await
    }

    async fn has_apps(&self) -> Result<bool, StoreError> {
        self.db.read(&(), |conn, ()| Box::pin(apps::any_exist(conn))).await
    }

    async fn schema_version(&self) -> Result<SchemaVersion, StoreError> {
        let applied = self.db.read(&(), |conn, ()| Box::pin(migrate::applied_version(conn))).await?;
        let version = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(SchemaVersion { applied: version(applied), expected: version(migrate::latest_version()) })
    }

    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        self.db.read(id, |conn, id| Box::pin(rows::app_by_id(conn, id))).await
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.db.read(&(), |conn, ()| Box::pin(rows::all_apps(conn))).await
    }

    async fn update_app(&self, app: &App, by: &Actor, now: Timestamp) -> Result<Option<App>, StoreError> {
        let input = (app, by, now);
        self.db.write(&input, |tx, (app, by, now)| Box::pin(apps::update(tx, app, by, *now))).await
    }

    async fn create_api_key(
        &self,
        app_id: &AppId,
        key: NewApiKey,
        by: &Actor,
        now: Timestamp,
    ) -> Result<ApiKeyRecord, StoreError> {
        let input = (app_id, key, by, now);
        self.db
            .write(&input, |tx, (app_id, key, by, now)| Box::pin(apps::create_api_key(tx, app_id, key, by, *now)))
            .await
    }

    async fn create_console_link(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let input = (app_id, hash, now, expires_at);
        self.db
            .write(&input, |tx, (app_id, hash, now, expires_at)| {
                Box::pin(console::create_link(tx, app_id, hash, *now, *expires_at))
            })
            .await
    }

    async fn use_console_link(
        &self,
        hash: &TokenHash,
        key: NewApiKey,
        now: Timestamp,
    ) -> Result<ConsoleLinkUse, StoreError> {
        let input = (hash, key, now);
        self.db.write(&input, |tx, (hash, key, now)| Box::pin(console::use_link(tx, hash, key, *now))).await
    }

    async fn api_keys(&self, app_id: &AppId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.db.read(app_id, |conn, app_id| Box::pin(apps::api_keys(conn, app_id))).await
    }

    async fn revoke_api_key(
        &self,
        app_id: &AppId,
        id: &ApiKeyId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<KeyRevocation, StoreError> {
        let input = (app_id, id, by, now);
        self.db
            .write(&input, |tx, (app_id, id, by, now)| Box::pin(apps::revoke_api_key(tx, app_id, id, by, *now)))
            .await
    }

    async fn audit_events(&self, app_id: &AppId, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.db.read(&(app_id, query), |conn, (app_id, query)| Box::pin(audit::list(conn, app_id, query))).await
    }

    async fn api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.db.read(hash, |conn, hash| Box::pin(apps::api_key(conn, hash))).await
    }

    async fn server_secret(&self, name: &str, candidate: String) -> Result<String, StoreError> {
        // The contract passes no time; the creation stamp is informational only.
        let input = (name, candidate, SystemClock.now());
        self.db
            .write(&input, |tx, (name, candidate, now)| Box::pin(apps::server_secret(tx, name, candidate, *now)))
            .await
    }

    async fn mail_templates(&self, app_id: &AppId) -> Result<Vec<MailTemplate>, StoreError> {
        self.db.read(app_id, |conn, app_id| Box::pin(apps::mail_templates(conn, app_id))).await
    }

    async fn put_mail_template(&self, app_id: &AppId, template: &MailTemplate, by: &Actor) -> Result<(), StoreError> {
        self.db
            .write(&(app_id, template, by), |tx, (app_id, template, by)| {
                Box::pin(apps::put_mail_template(tx, app_id, template, by))
            })
            .await
    }

    async fn delete_mail_template(
        &self,
        app_id: &AppId,
        kind: MailKind,
        locale: Locale,
        by: &Actor,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.db
            .write(&(app_id, kind, locale, by, now), |tx, (app_id, kind, locale, by, now)| {
                Box::pin(apps::delete_mail_template(tx, app_id, *kind, *locale, by, *now))
            })
            .await
    }
}

#[async_trait::async_trait]
impl MemberStore for PgStore {
    async fn user(&self, app_id: &AppId, id: &UserId) -> Result<Option<User>, StoreError> {
        self.db.read(&(app_id, id), |conn, (app_id, id)| Box::pin(rows::user_by_id(conn, app_id, id))).await
    }

    async fn user_credentials(
        &self,
        app_id: &AppId,
        email: &EmailAddress,
    ) -> Result<Option<(User, Option<PasswordHash>)>, StoreError> {
        self.db.read(&(app_id, email), |conn, (app_id, email)| Box::pin(users::credentials(conn, app_id, email))).await
    }

    async fn users(&self, app_id: &AppId) -> Result<Vec<User>, StoreError> {
        self.db.read(app_id, |conn, app_id| Box::pin(users::list(conn, app_id))).await
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        id: &UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<MemberUpdate, StoreError> {
        let input = (app_id, id, patch, now);
        self.db.write(&input, |tx, (app_id, id, patch, now)| Box::pin(users::update(tx, app_id, id, patch, *now))).await
    }

    async fn set_password(
        &self,
        app_id: &AppId,
        id: &UserId,
        hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let input = (app_id, id, hash, now);
        self.db
            .write(&input, |tx, (app_id, id, hash, now)| Box::pin(users::set_password(tx, app_id, id, hash, *now)))
            .await
    }

    async fn delete_user(&self, app_id: &AppId, id: &UserId, now: Timestamp) -> Result<MemberRemoval, StoreError> {
        self.db
            .write(&(app_id, id, now), |tx, (app_id, id, now)| Box::pin(webhooks::delete_user(tx, app_id, id, *now)))
            .await
    }

    async fn request_password_reset(&self, request: ResetRequest) -> Result<(), StoreError> {
        self.db.write(&request, |tx, request| Box::pin(resets::request(tx, request))).await
    }

    async fn reset_password(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<ResetOutcome, StoreError> {
        let input = (app_id, hash, password, now);
        self.db
            .write(&input, |tx, (app_id, hash, password, now)| {
                Box::pin(resets::reset(tx, app_id, hash, password, *now))
            })
            .await
    }

    async fn send_signup_code(&self, cmd: SignupCommand) -> Result<SignupOutcome, StoreError> {
        self.db.write(&cmd, |tx, cmd| Box::pin(signups::send_code(tx, cmd))).await
    }

    async fn verify_signup(&self, cmd: VerifyCommand) -> Result<VerifyOutcome, StoreError> {
        self.db.write(&cmd, |tx, cmd| Box::pin(signups::verify(tx, cmd))).await
    }

    async fn create_console_session(&self, hash: &TokenHash, session: &ConsoleSessionRecord) -> Result<(), StoreError> {
        self.db
            .write(&(hash, session), |tx, (hash, session)| Box::pin(console::create_session(tx, hash, session)))
            .await
    }

    async fn console_session(&self, hash: &TokenHash) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        self.db.read(hash, |conn, hash| Box::pin(console::session(conn, hash))).await
    }

    async fn touch_console_session(&self, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        self.db.write(&(hash, now), |tx, (hash, now)| Box::pin(console::touch_session(tx, hash, *now))).await
    }

    async fn delete_console_session(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.db.write(hash, |tx, hash| Box::pin(console::delete_session(tx, hash))).await
    }

    async fn delete_ended_console_sessions(&self, ended: EndedSessions) -> Result<u64, StoreError> {
        self.db.write(&ended, |tx, ended| Box::pin(console::delete_ended_sessions(tx, *ended))).await
    }
}

#[async_trait::async_trait]
impl InvitationStore for PgStore {
    async fn invite(&self, cmd: InviteCommand) -> Result<Invited, StoreError> {
        self.invites.invite(cmd).await
    }

    async fn invite_batch(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.db.write(cmds.as_slice(), |tx, cmds| Box::pin(webhooks::invite_batch(tx, cmds))).await
    }

    async fn invite_dry_run(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.db.rehearse(cmds.as_slice(), |tx, cmds| Box::pin(invitations::invite_batch(tx, cmds))).await
    }

    async fn invitation_emails_since(&self, app_id: &AppId, since: Timestamp) -> Result<u64, StoreError> {
        self.db.read(&(app_id, since), |conn, input| Box::pin(invitations::invitation_emails_since(conn, input))).await
    }

    async fn invitation(&self, app_id: &AppId, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        self.db.read(&(app_id, id), |conn, (app_id, id)| Box::pin(rows::invitation_in_app(conn, app_id, id))).await
    }

    async fn list_invitations(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<Invitation>, StoreError> {
        let input = (app_id, query, now);
        self.db.read(&input, |conn, (app_id, query, now)| Box::pin(management::list(conn, app_id, query, *now))).await
    }

    async fn delivery_attempts(&self, app_id: &AppId, id: &InvitationId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.db.read(&(app_id, id), |conn, (app_id, id)| Box::pin(outbox::attempts(conn, app_id, id))).await
    }

    async fn revoke_invitation(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError> {
        let input = (app_id, id, by, now);
        self.db.write(&input, |tx, (app_id, id, by, now)| Box::pin(webhooks::revoke(tx, app_id, id, by, *now))).await
    }

    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<TokenLookup>, StoreError> {
        self.db.snapshot(hash, |tx, hash| Box::pin(rows::token_lookup(tx, hash))).await
    }

    async fn accept_invitation(&self, cmd: AcceptCommand) -> Result<AcceptOutcome, StoreError> {
        self.db.write(&cmd, |tx, cmd| Box::pin(webhooks::accept(tx, cmd))).await
    }
    async fn record_link_open(&self, cmd: LinkOpenCommand) -> Result<(), StoreError> {
        self.db.write(&cmd, |tx, cmd| Box::pin(invitations::record_open(tx, cmd))).await
    }
}

#[async_trait::async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError> {
        self.db.write(&claim, |tx, claim| Box::pin(idempotency::claim(tx, claim))).await
    }

    async fn complete_key(&self, app_id: &AppId, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        let input = (app_id, key, response);
        self.db
            .write(&input, |tx, (app_id, key, response)| Box::pin(idempotency::complete(tx, app_id, key, response)))
            .await
    }

    async fn release_key(&self, app_id: &AppId, key: &str) -> Result<(), StoreError> {
        let input = (app_id, key);
        self.db.write(&input, |tx, (app_id, key)| Box::pin(idempotency::release(tx, app_id, key))).await
    }

    async fn invite_keyed(
        &self,
        cmds: Vec<InviteCommand>,
        key: KeyedWrite<[Invited]>,
    ) -> Result<Vec<Invited>, StoreError> {
        let input = (cmds, key);
        self.db
            .write(&input, |tx, (cmds, key)| {
                Box::pin(async move {
                    let outcomes = webhooks::invite_batch(tx, cmds).await?;
                    idempotency::finish(tx, key, outcomes.as_slice()).await?;
                    Ok(outcomes)
                })
            })
            .await
    }

    async fn invite_rows_keyed(&self, cmds: Vec<InviteCommand>, rows: KeyedRows) -> Result<Vec<RowDone>, StoreError> {
        let input = (cmds, rows);
        self.db.write(&input, |tx, (cmds, rows)| Box::pin(idempotency::invite_rows(tx, cmds, rows))).await
    }

    async fn revoke_keyed(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
        key: KeyedWrite<Option<Invitation>>,
    ) -> Result<Option<Invitation>, StoreError> {
        let input = (app_id, id, by, now, key);
        self.db
            .write(&input, |tx, (app_id, id, by, now, key)| {
                Box::pin(async move {
                    let after = webhooks::revoke(tx, app_id, id, by, *now).await?;
                    idempotency::finish(tx, key, &after).await?;
                    Ok(after)
                })
            })
            .await
    }
}

#[async_trait::async_trait]
impl OutboxStore for PgStore {
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.db.read(&(), |conn, ()| Box::pin(outbox::backlog(conn))).await
    }

    async fn register_instance(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError> {
        self.db.write(&(id, now), |tx, (id, now)| Box::pin(instances::register(tx, id, *now))).await
    }

    async fn renew_instance(
        &self,
        id: &InstanceId,
        now: Timestamp,
        dead_after: Duration,
    ) -> Result<Renewal, StoreError> {
        let input = (id, now, dead_after);
        self.db.write(&input, |tx, (id, now, dead_after)| Box::pin(instances::renew(tx, id, *now, *dead_after))).await
    }

    async fn deregister_instance(&self, id: &InstanceId) -> Result<(), StoreError> {
        self.db.write(id, |tx, id| Box::pin(instances::deregister(tx, id))).await
    }

    async fn claim_outbox(
        &self,
        by: &InstanceId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let input = (by, now, limit);
        self.db.write(&input, |tx, (by, now, limit)| Box::pin(outbox::claim(tx, by, *now, *limit))).await
    }

    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError> {
        self.db.write(&(sent, now), |tx, (sent, now)| Box::pin(webhooks::mark_sent(tx, sent, *now))).await
    }

    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let input = (by, id, error, retry_at);
        self.db
            .write(&input, |tx, (by, id, error, retry_at)| {
                Box::pin(webhooks::mark_failed(tx, by, id, error, *retry_at))
            })
            .await
    }
}

#[async_trait::async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook, StoreError> {
        self.db.write(&hook, |tx, hook| Box::pin(webhooks::create(tx, hook))).await
    }

    async fn webhooks(&self, app_id: &AppId) -> Result<Vec<Webhook>, StoreError> {
        self.db.read(app_id, |conn, app_id| Box::pin(webhooks::list(conn, app_id))).await
    }

    async fn delete_webhook(&self, app_id: &AppId, id: &WebhookId) -> Result<bool, StoreError> {
        self.db.write(&(app_id, id), |tx, (app_id, id)| Box::pin(webhooks::delete(tx, app_id, id))).await
    }

    async fn rotate_webhook_secret(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        secret: &WebhookSecret,
    ) -> Result<Option<Webhook>, StoreError> {
        let input = (app_id, id, secret);
        self.db.write(&input, |tx, (app_id, id, secret)| Box::pin(webhooks::rotate(tx, app_id, id, secret))).await
    }

    async fn webhook_deliveries(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<WebhookDelivery>>, StoreError> {
        let input = (app_id, id, limit);
        self.db.read(&input, |conn, (app_id, id, limit)| Box::pin(webhooks::deliveries(conn, app_id, id, *limit))).await
    }

    async fn retry_webhook_delivery(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        delivery_id: &str,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let input = (app_id, id, delivery_id, now);
        self.db
            .write(&input, |tx, (app_id, id, delivery_id, now)| {
                Box::pin(webhooks::retry(tx, app_id, id, delivery_id, *now))
            })
            .await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let input = (now, lease_until, limit);
        self.db
            .write(&input, |tx, (now, lease_until, limit)| Box::pin(webhooks::claim(tx, *now, *lease_until, *limit)))
            .await
    }

    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError> {
        self.db.write(&attempt, |tx, attempt| Box::pin(webhooks::record(tx, attempt))).await
    }

    async fn announce_expired_invitations(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.db.write(&(now, limit), |tx, (now, limit)| Box::pin(webhooks::announce_expired(tx, *now, *limit))).await
    }
}
