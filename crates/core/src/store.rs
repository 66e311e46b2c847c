//! The persistence contract. Every method is one transaction; both backends must behave
//! identically, which the storage conformance suite checks.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::console_session::ConsoleSessionRecord;
use crate::email::EmailAddress;
use crate::id::{ApiKeyId, AppId, InstanceId, InvitationId, MessageId, UserId, WebhookId};
use crate::idempotency::IdempotencyStore;
use crate::locale::Locale;
use crate::model::{
    Actor, ApiKeyRecord, App, AppSettings, AuditEvent, Delivery, DeliveryAttempt, Invitation, InvitationStatus,
    Inviter, LinkOpens, MailKind, MailTemplate, OutboxMessage, ReminderTimes, TokenLookup, User,
};
use crate::password::PasswordHash;
use crate::role::Role;
use crate::rules::console::EndedSessions;
use crate::secret::{InvitationToken, OneTimeCode, ResetToken, TokenHash};
use crate::webhooks::{DueDelivery, NewWebhook, Webhook, WebhookDelivery, WebhookSecret};

/// A storage failure. Rule violations are not errors here; they come back as outcomes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row the operation depends on does not exist (e.g. the app was deleted meanwhile).
    #[error("row not found")]
    NotFound,
    /// A uniqueness rule was violated.
    #[error("unique constraint `{0}` violated")]
    Conflict(String),
    /// The database failed.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached right now (stopped, restarting, unreachable, out of
    /// connections, or locked for longer than the wait allows): the same request may succeed
    /// in a moment. Nothing was written.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database has no space left to write (a full disk). Nothing was written.
    #[error("the database has no space left")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A new app and its first API key, created together.
#[derive(Debug)]
pub struct NewApp {
    /// Its id.
    pub id: AppId,
    /// Its name.
    pub name: String,
    /// Where members land.
    pub app_url: String,
    /// Its settings.
    pub settings: AppSettings,
    /// The first API key.
    pub api_key: NewApiKey,
    /// Creation time.
    pub now: Timestamp,
}

/// An API key to store: only its hash.
#[derive(Debug)]
pub struct NewApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The operator's label for it.
    pub name: String,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
}

/// The reminder a link gets ([`crate::rules::reminders`]): an outbox message with the same
/// link, queued with the invitation email and due before the link expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReminder {
    /// The id of the reminder's outbox message.
    pub message_id: MessageId,
    /// When it falls due.
    pub due_at: Timestamp,
}

impl LinkReminder {
    /// The reminder of a link issued at `now` and expiring at `expires_at`, for an app whose
    /// `reminder_before_expiry_hours` is `hours`. `None` when reminders are off or the link
    /// lives no longer than the lead: then no message id is made (most apps have them off).
    pub fn when_due(hours: Option<u32>, expires_at: Timestamp, now: Timestamp) -> Option<Self> {
        crate::rules::reminders::reminder_due_at(hours, expires_at, now)
            .map(|due_at| Self { message_id: MessageId::generate(), due_at })
    }
}

/// Everything [`InvitationStore::invite`] needs. Inside one transaction the store reads the address's
/// situation and carries out what [`crate::rules::invite::invite_resend_or_remind`] decides
/// (new invitation, pending one re-sent, or existing member reminded), so two concurrent
/// invites of one address cannot both create an invitation.
#[derive(Debug)]
pub struct InviteCommand {
    /// The app.
    pub app_id: AppId,
    /// The invited address.
    pub email: EmailAddress,
    /// The role offered.
    pub role: Role,
    /// Who invites.
    pub inviter: Inviter,
    /// The id a new invitation gets (unused when one is pending).
    pub invitation_id: InvitationId,
    /// The link secret of a new or re-sent invitation (unused for a member).
    pub token: InvitationToken,
    /// The id of the outbox message to queue.
    pub message_id: MessageId,
    /// The reminder to queue with a new or re-sent link; `None` when the app has reminders off
    /// or the link lives no longer than the lead ([`LinkReminder::when_due`]).
    pub reminder: Option<LinkReminder>,
    /// When the (new) link expires.
    pub expires_at: Timestamp,
    /// The minimum time between two emails to this address in this app.
    pub resend_interval: Duration,
    /// Whether the inviter may invite admins (API keys and admins). One who may not (a plain
    /// member, where the app lets members invite) may not touch a pending invitation with role
    /// `admin` either: re-sending it would rewrite its role, inviter and link.
    pub may_invite_admins: bool,
    /// Whether the app's domain lists let the address in ([`crate::rules::domains`]); a
    /// refused address that is already a member is still reminded.
    pub email_domain_allowed: bool,
    /// The app's daily allowance of invitation emails (`max_invites_per_day`), if it has one.
    pub daily_allowance: Option<u32>,
    /// The language the invite asked for: a new invitation keeps it; a re-sent one takes it
    /// (and keeps its own when `None`); a member's sign-in reminder is written in it. `None`:
    /// the app's default at sending time.
    pub locale: Option<crate::locale::Locale>,
    /// The current time.
    pub now: Timestamp,
}

impl InviteCommand {
    /// Rule 3 applied to a pending invitation with role `pending_role`: may this command
    /// re-send (and so rewrite) it? Only if its inviter could have created it.
    pub fn may_resend(&self, pending_role: Role) -> bool {
        self.may_invite_admins || pending_role == Role::User
    }

    /// The start of the resend interval: emails queued before it no longer throttle.
    pub fn throttle_since(&self) -> Timestamp {
        self.now.minus(self.resend_interval)
    }

    /// The start of the daily allowance's rolling window, when the app has an allowance: the
    /// store reads the invitation emails queued after it
    /// ([`crate::rules::invite::InviteSituation::sent_today`]), and nothing when `None`.
    pub fn allowance_since(&self) -> Option<Timestamp> {
        self.daily_allowance.map(|_| self.now.minus(crate::rules::invite::ALLOWANCE_WINDOW))
    }

    /// The invitation this command creates when the address has none pending: what a backend
    /// would read back right after writing it, so it need not.
    pub fn created_invitation(&self) -> Invitation {
        Invitation {
            id: self.invitation_id.clone(),
            app_id: self.app_id.clone(),
            email: self.email.clone(),
            role: self.role,
            status: InvitationStatus::Pending,
            invited_by: self.inviter.clone(),
            expires_at: self.expires_at,
            times_sent: 1,
            last_sent_at: self.now,
            delivery: Delivery::queued(),
            created_at: self.now,
            updated_at: self.now,
            opens: LinkOpens::default(),
            reminder: ReminderTimes { due_at: self.reminder.as_ref().map(|r| r.due_at), reminded_at: None },
            locale: self.locale,
        }
    }
}

/// What [`InvitationStore::invite`] did (an outcome, not a row: rows are `…Record`s, e.g.
/// [`ApiKeyRecord`]). [`crate::invite::InviteService`] turns it into what its caller may see,
/// [`crate::invite::InviteOutcome`], or a refusal.
#[derive(Debug, Clone)]
pub enum Invited {
    /// A new invitation was stored and its email queued.
    Created(Invitation),
    /// The pending invitation got a fresh token, expiry and role, and its email was queued.
    Resent(Invitation),
    /// The address is a member already; a sign-in email was queued, nothing else changed.
    AlreadyMember(User),
    /// The address has a pending invitation that the inviter could not have created (see
    /// [`InviteCommand::may_resend`]); nothing was written.
    NotAllowed,
    /// An email went to this address less than the resend interval ago; nothing was written.
    Throttled {
        /// How long until the next email is allowed.
        retry_after: Duration,
    },
    /// The app's domain lists refuse the address, which is no member; nothing was written.
    DomainNotAllowed,
    /// The app's daily allowance of invitation emails is used up; nothing was written.
    DailyLimit {
        /// How long until the oldest counted email leaves the window.
        retry_after: Duration,
    },
}

/// Changes to a member; `None` leaves a field as it is.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UserPatch {
    /// A new name.
    pub full_name: Option<String>,
    /// A new role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub is_disabled: Option<bool>,
    /// The complete new set of custom fields.
    pub custom: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What [`MemberStore::update_user`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberUpdate {
    /// The member as they now are.
    Updated(User),
    /// The app has no such member.
    NotFound,
    /// Nothing changed: the member is the app's last active admin and the patch would demote
    /// or disable them (see [`crate::rules::members`]).
    LastAdmin,
}

/// What [`MemberStore::delete_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    /// The member is gone.
    Removed,
    /// The app has no such member.
    NotFound,
    /// Nothing changed: the member is the app's last active admin.
    LastAdmin,
}

/// Everything [`MemberStore::request_password_reset`] needs.
#[derive(Debug)]
pub struct ResetRequest {
    /// The app.
    pub app_id: AppId,
    /// The address the request names (a member or not).
    pub email: EmailAddress,
    /// The new link's secret.
    pub token: ResetToken,
    /// The id of the outbox message to queue.
    pub message_id: MessageId,
    /// When the link expires.
    pub expires_at: Timestamp,
    /// The minimum time between two reset emails to one address.
    pub resend_interval: Duration,
    /// The current time.
    pub now: Timestamp,
}

/// What [`MemberStore::reset_password`] did.
#[derive(Debug)]
pub enum ResetOutcome {
    /// The password is set and the link used up.
    Done(User),
    /// Nothing was written: the link is unknown, used or expired.
    Refused(crate::model::LinkState),
}

/// Everything [`MemberStore::send_signup_code`] needs.
#[derive(Debug)]
pub struct SignupCommand {
    /// The app.
    pub app_id: AppId,
    /// The address signing up.
    pub email: EmailAddress,
    /// The chosen password, hashed: starts a sign-up, replacing any earlier one of the address
    /// (its password and code; the code is then refused as replaced) even within the resend
    /// interval. `None` only re-sends a code for a sign-up already started, at most once per
    /// resend interval.
    pub password_hash: Option<PasswordHash>,
    /// The new code, for its email.
    pub code: OneTimeCode,
    /// What the database keeps of the new code (keyed: see [`crate::secret::CodeKey`]).
    pub code_hash: TokenHash,
    /// The id of the outbox message to queue.
    pub message_id: MessageId,
    /// When the code expires.
    pub expires_at: Timestamp,
    /// Whether only addresses with a pending invitation may sign up.
    pub is_invitation_only: bool,
    /// The minimum time between two emails to one address.
    pub resend_interval: Duration,
    /// The current time.
    pub now: Timestamp,
}

/// What [`MemberStore::send_signup_code`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    /// A code is on its way (or one went out within the resend interval), or there was
    /// nothing to re-send: the same answer either way.
    CodeSent,
    /// The address is a member; they were emailed that they already have an account.
    AlreadyMember,
    /// The app is invitation-only and the address has no pending invitation.
    NotInvited,
}

/// Everything [`MemberStore::verify_signup`] needs.
#[derive(Debug)]
pub struct VerifyCommand {
    /// The app.
    pub app_id: AppId,
    /// The address signing up.
    pub email: EmailAddress,
    /// Hash of the code typed.
    pub code_hash: TokenHash,
    /// The id the new member gets.
    pub user_id: UserId,
    /// Wrong codes allowed before the sign-up must be restarted.
    pub max_attempts: u32,
    /// The current time.
    pub now: Timestamp,
}

/// What [`MemberStore::verify_signup`] did.
#[derive(Debug)]
pub enum VerifyOutcome {
    /// The member exists, verified, with the chosen password.
    Joined(User),
    /// No sign-up is waiting for this address.
    NoSignup,
    /// The code is wrong; the attempt was counted.
    WrongCode,
    /// The code is one that a newer registration (or re-send) of the address replaced; not
    /// counted as a wrong guess.
    Replaced,
    /// The code ran out of time.
    Expired,
    /// Too many wrong codes; the sign-up must be restarted.
    TooManyAttempts,
}

/// A message the transport accepted, and what the receiver answered: an SMTP server's reply
/// (`250 2.0.0 Ok: queued as 4Z1k…`), or where the file transport wrote it. Kept with the
/// attempt, as a failed attempt's error is, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message.
    pub id: MessageId,
    /// The receiver's answer.
    pub reply: String,
}

/// Which invitations [`InvitationStore::list_invitations`] returns.
#[derive(Debug, Clone, Default)]
pub struct InvitationQuery {
    /// Only this status (as of `now`: a pending invitation past its expiry is expired).
    pub status: Option<crate::model::InvitationStatus>,
    /// Only this address.
    pub email: Option<EmailAddress>,
    /// Only those whose latest email is in this delivery state.
    pub delivery: Option<crate::model::DeliveryStatus>,
    /// Only those a person opened (`Some(true)`) or did not (`Some(false)`) — see
    /// [`crate::model::LinkOpens::opened_by_person_at`].
    pub opened_by_person: Option<bool>,
    /// Only those after this one in the listing order (creation time, then id).
    pub after: Option<(Timestamp, InvitationId)>,
    /// At most this many.
    pub limit: u32,
}

/// Which entries of the audit log [`AppStore::audit_events`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<crate::model::AuditAction>,
    /// Only what this API key or member did.
    pub actor: Option<Actor>,
    /// Only entries about this invitation.
    pub invitation_id: Option<InvitationId>,
    /// Only entries older than the entry with this id.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// What [`AppStore::revoke_api_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRevocation {
    /// The key no longer works.
    Revoked,
    /// The app has no live key with this id.
    NotFound,
    /// It is the app's last key; revoking it would lock the app's servers out.
    LastKey,
}

/// What [`AppStore::use_console_link`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleLinkUse {
    /// The link is used up and the operator's new key of the link's app is this one.
    SignedIn(ApiKeyRecord),
    /// No link has this hash.
    Unknown,
    /// The link was used before.
    Used,
    /// The link expired.
    Expired,
}

/// Everything [`InvitationStore::accept_invitation`] needs.
#[derive(Debug)]
pub struct AcceptCommand {
    /// Hash of the token from the link.
    pub token_hash: TokenHash,
    /// The name the invitee typed.
    pub full_name: String,
    /// How the invitee proves who they are: a new password, or the existing password of the
    /// member the address already is.
    pub credential: JoinCredential,
    /// The id the member gets if they are not one already.
    pub user_id: UserId,
    /// The current time.
    pub now: Timestamp,
}

/// What an invitee joins with (issue 18, item 4).
#[derive(Debug, Clone)]
pub enum JoinCredential {
    /// A new password, hashed: for a new member, or a member without a password yet.
    NewPassword(PasswordHash),
    /// The address is a member with a password, and the invitee typed it: this member's
    /// password was verified, and it stays as it is.
    ExistingPassword(UserId),
}

/// What [`InvitationStore::accept_invitation`] did.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one value per join, moved once; boxing would buy nothing")]
pub enum AcceptOutcome {
    /// The invitation is accepted and the member exists with the new password.
    Joined {
        /// The member.
        user: User,
        /// Their app.
        app: App,
    },
    /// Nothing was written: the link was not valid at `now` (never `LinkState::Valid`).
    Refused(crate::model::LinkState),
    /// Nothing was written: the credential does not fit the address's account as it is now
    /// (it has a password that was not verified, or the verified member is gone).
    AccountChanged,
}

/// What [`OutboxStore::renew_instance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    /// False when the instance was not registered (any more): other instances presumed it dead
    /// and released its claims. It must register again before it claims anything.
    pub is_registered: bool,
    /// Messages released because the instances that had claimed them were presumed dead; they
    /// are queued again (or cancelled, when a newer message replaced them).
    pub released: u64,
}

/// How far the database's schema is migrated, beside what this build expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The newest migration applied to the database.
    pub applied: u32,
    /// The newest migration this build knows.
    pub expected: u32,
}

/// Outbox messages not yet settled, by status: the mail backlog that `/metrics` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Waiting for their first attempt or for a retry.
    pub queued: u64,
    /// Claimed by an instance and being sent.
    pub sending: u64,
}

/// Persistence for the service: every concern, as the services and the server hold it
/// (`Arc<dyn Store>`). Implement the four concern traits; `Store` follows.
pub trait Store:
    AppStore + MemberStore + InvitationStore + OutboxStore + IdempotencyStore + WebhookStore + 'static
{
}

impl<T: AppStore + MemberStore + InvitationStore + OutboxStore + IdempotencyStore + WebhookStore + 'static> Store
    for T
{
}

/// Apps, their API keys, the audit log and server-wide secrets. [`AppStore::app`] and
/// [`AppStore::api_key`] run on every API request; this is the concern a cache in front of a
/// backend takes over (see `usher_store::CachedStore`).
#[async_trait::async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an app with its first API key (and an audit record).
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError>;

    /// Creates `app` as [`AppStore::create_app`] does, but only when the database has no app yet;
    /// `None` when it has one. Atomic, so of several instances starting at once on an empty
    /// database exactly one creates the first app.
    async fn create_first_app(&self, app: NewApp) -> Result<Option<App>, StoreError>;

    /// True when at least one app exists.
    async fn has_apps(&self) -> Result<bool, StoreError>;

    /// The database's schema version, read from the database (so it also shows the database
    /// answers), beside the one this build expects.
    async fn schema_version(&self) -> Result<SchemaVersion, StoreError>;

    /// The app with this id.
    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError>;

    /// Every app, oldest first.
    async fn apps(&self) -> Result<Vec<App>, StoreError>;

    /// Stores `app`'s name, URL and settings; `None` when there is no such app. What changed
    /// against the stored app is audited as made by `by` at `now`, in the same transaction
    /// ([`crate::rules::app_changes::settings_changed`]).
    async fn update_app(&self, app: &App, by: &Actor, now: Timestamp) -> Result<Option<App>, StoreError>;

    /// Adds an API key to the app (only its hash is stored).
    async fn create_api_key(
        &self,
        app_id: &AppId,
        key: NewApiKey,
        by: &Actor,
        now: Timestamp,
    ) -> Result<ApiKeyRecord, StoreError>;

    /// The app's live API keys, oldest first.
    async fn api_keys(&self, app_id: &AppId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes one of the app's API keys; it stops working at once.
    async fn revoke_api_key(
        &self,
        app_id: &AppId,
        id: &ApiKeyId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<KeyRevocation, StoreError>;

    /// Stores a one-time console sign-in link of the app (only its hash), valid until `expires_at`.
    async fn create_console_link(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Uses the console link with this hash as [`crate::rules::console::use_console_link`]
    /// decides: when it signs in, `key` becomes a key of the link's app, in the same
    /// transaction that marks the link used.
    async fn use_console_link(
        &self,
        hash: &TokenHash,
        key: NewApiKey,
        now: Timestamp,
    ) -> Result<ConsoleLinkUse, StoreError>;

    /// The entries of the app's audit log that `query` asks for, newest first.
    async fn audit_events(&self, app_id: &AppId, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;

    /// The live API key with this hash.
    async fn api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// The server-wide secret named `name`, stored as `candidate` if none exists yet. Every
    /// instance sharing the database gets the same value.
    async fn server_secret(&self, name: &str, candidate: String) -> Result<String, StoreError>;

    /// The app's own email templates, by kind and locale.
    async fn mail_templates(&self, app_id: &AppId) -> Result<Vec<MailTemplate>, StoreError>;

    /// Stores (or replaces) one of the app's own email templates; the caller checked it. The
    /// save is audited as made by `by` at the template's `updated_at`, in the same transaction.
    async fn put_mail_template(&self, app_id: &AppId, template: &MailTemplate, by: &Actor) -> Result<(), StoreError>;

    /// Removes the app's own template of `kind` in `locale`; false when it had none. A removal
    /// is audited as made by `by` at `now`, in the same transaction.
    async fn delete_mail_template(
        &self,
        app_id: &AppId,
        kind: MailKind,
        locale: Locale,
        by: &Actor,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// Members, their passwords, and the sign-up and reset flows that create or change them.
#[async_trait::async_trait]
pub trait MemberStore: Send + Sync {
    /// A member of the app.
    async fn user(&self, app_id: &AppId, id: &UserId) -> Result<Option<User>, StoreError>;

    /// The member with this address and their password hash (`None` until they set one).
    async fn user_credentials(
        &self,
        app_id: &AppId,
        email: &EmailAddress,
    ) -> Result<Option<(User, Option<PasswordHash>)>, StoreError>;

    /// Every member of the app, oldest first.
    async fn users(&self, app_id: &AppId) -> Result<Vec<User>, StoreError>;

    /// Applies `patch` to the member unless [`crate::rules::members::update_keeps_an_admin`]
    /// refuses it, deciding on the app's active admins as read in the same transaction.
    async fn update_user(
        &self,
        app_id: &AppId,
        id: &UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<MemberUpdate, StoreError>;

    /// Replaces the member's password and moves their [`User::session_epoch`] on, so every
    /// access token issued before stops working; the member as they now are, or `None` when
    /// there is no such member.
    async fn set_password(
        &self,
        app_id: &AppId,
        id: &UserId,
        hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError>;

    /// Removes the member unless [`crate::rules::members::removal_keeps_an_admin`] refuses it.
    /// Their invitations stay, for the record. `now` stamps the `member.removed` event.
    async fn delete_user(&self, app_id: &AppId, id: &UserId, now: Timestamp) -> Result<MemberRemoval, StoreError>;

    /// If `request.email` is a member (and no reset email went to them within the resend
    /// interval), stores a reset link and queues its email; otherwise does nothing, so the
    /// caller's answer cannot tell members from strangers.
    async fn request_password_reset(&self, request: ResetRequest) -> Result<(), StoreError>;

    /// Sets the password of the member of `app_id` whose reset link has this hash, if it is
    /// unused and unexpired at `now`; the link is used up.
    async fn reset_password(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<ResetOutcome, StoreError>;

    /// Starts a sign-up (or re-sends its code) and queues the code email, or tells a member
    /// they already have an account, within one transaction.
    async fn send_signup_code(&self, cmd: SignupCommand) -> Result<SignupOutcome, StoreError>;

    /// Checks a sign-up code; the right one creates the member (with the role of a pending
    /// invitation, which it accepts) and ends the sign-up.
    async fn verify_signup(&self, cmd: VerifyCommand) -> Result<VerifyOutcome, StoreError>;

    /// Stores a console session of an admin who signed in with a password, under the hash of
    /// its id.
    async fn create_console_session(&self, hash: &TokenHash, session: &ConsoleSessionRecord) -> Result<(), StoreError>;

    /// The console session with this hash, if it was not deleted.
    async fn console_session(&self, hash: &TokenHash) -> Result<Option<ConsoleSessionRecord>, StoreError>;

    /// Records `now` as the console session's last page view; false when there is no such session.
    async fn touch_console_session(&self, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError>;

    /// Deletes the console session (at sign-out, or when it was found ended); false when there
    /// was none.
    async fn delete_console_session(&self, hash: &TokenHash) -> Result<bool, StoreError>;

    /// Deletes every console session, of any app, that [`EndedSessions::contains`]; how many.
    async fn delete_ended_console_sessions(&self, ended: EndedSessions) -> Result<u64, StoreError>;
}

/// Invitations: inviting (one or a batch), listing, revoking, and joining with a link.
#[async_trait::async_trait]
pub trait InvitationStore: Send + Sync {
    /// Applies the rules of inviting atomically: the invitation, its outbox message and its
    /// audit record are written together or not at all.
    async fn invite(&self, cmd: InviteCommand) -> Result<Invited, StoreError>;

    /// [`InvitationStore::invite`] for many commands in one transaction (one commit for the batch); each
    /// gets its own outcome, in order.
    async fn invite_batch(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError>;

    /// What [`InvitationStore::invite_batch`] would answer for `cmds` now, found by running it
    /// (the same reads, the same decisions, each command seeing what the earlier ones would
    /// have written) in a transaction that is then rolled back: nothing is kept and no email
    /// is queued. A dry run therefore cannot disagree with the real run that follows it on the
    /// same data.
    async fn invite_dry_run(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError>;

    /// How many invitation emails (new invitations and re-sends) the app queued after `since`:
    /// what its daily allowance counts.
    async fn invitation_emails_since(&self, app_id: &AppId, since: Timestamp) -> Result<u64, StoreError>;

    /// The invitation of this app with this id.
    async fn invitation(&self, app_id: &AppId, id: &InvitationId) -> Result<Option<Invitation>, StoreError>;

    /// The app's invitations matching `query` at `now`, oldest first.
    async fn list_invitations(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<Invitation>, StoreError>;

    /// Every delivery attempt of the emails of the app's invitation `id`, newest first.
    async fn delivery_attempts(&self, app_id: &AppId, id: &InvitationId) -> Result<Vec<DeliveryAttempt>, StoreError>;

    /// Revokes a pending invitation (its links then say so, its unsent email is cancelled)
    /// and records who did it. Returns the invitation as it now is, or `None` if the app has
    /// no such invitation; one that was not pending is returned unchanged.
    async fn revoke_invitation(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError>;

    /// The invitation that this token (current or replaced) belongs to.
    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<TokenLookup>, StoreError>;

    /// Accepts the invitation if its link is valid at `cmd.now`: creates the member (or sets
    /// the password of an existing one, keeping their role) and marks the invitation accepted,
    /// so a token can be used once.
    async fn accept_invitation(&self, cmd: AcceptCommand) -> Result<AcceptOutcome, StoreError>;

    /// Records a request to the join link behind `cmd.token_hash` as
    /// [`crate::rules::opens::record_open`] decides: only the invitation's open counts change,
    /// never its status, token or `updated_at`.
    async fn record_link_open(&self, cmd: LinkOpenCommand) -> Result<(), StoreError>;
}

/// A request to a join link, to record.
#[derive(Clone, Debug)]
pub struct LinkOpenCommand {
    /// The app whose join path it came to.
    pub app_id: AppId,
    /// The hash of the link's token.
    pub token_hash: TokenHash,
    /// What it was.
    pub request: crate::rules::opens::LinkRequest,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl LinkOpenCommand {
    /// The open, as the rule reads it.
    pub fn open(&self) -> crate::rules::opens::LinkOpen<'_> {
        crate::rules::opens::LinkOpen { request: self.request, user_agent: self.user_agent.as_deref(), at: self.at }
    }
}

/// The outbox and the server instances whose delivery workers claim from it.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// How many outbox messages are queued and being sent (an index scan of those statuses
    /// only, however many messages were sent before).
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError>;

    /// Records that the server instance `id` runs, as of `now`: its claims stay its own while
    /// it renews ([`OutboxStore::renew_instance`]). Registering an id again (after it was presumed
    /// dead) starts it afresh.
    ///
    /// SQLite also finds out at once which of the other registered instances are gone (each
    /// holds an operating-system lock on a file beside the database for as long as its
    /// process lives) and releases their claims here, so a restart resends at once what the
    /// dead process was sending. On PostgreSQL, instances run on other machines; there a dead
    /// instance is found by [`OutboxStore::renew_instance`] when its heartbeat stops.
    async fn register_instance(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError>;

    /// Renews the heartbeat of instance `id` at `now`. An instance that has renewed without a
    /// gap longer than half of `dead_after` for at least `dead_after` (so the database was
    /// reachable all that time) also presumes dead every instance whose heartbeat is older than
    /// `dead_after`: it forgets them and releases their claims.
    async fn renew_instance(
        &self,
        id: &InstanceId,
        now: Timestamp,
        dead_after: Duration,
    ) -> Result<Renewal, StoreError>;

    /// Forgets instance `id` (at a clean shutdown) and releases whatever it still had claimed.
    async fn deregister_instance(&self, id: &InstanceId) -> Result<(), StoreError>;

    /// Claims up to `limit` messages that are due at `now` for the registered instance `by`,
    /// counting one more attempt for each. A claim lasts until the message is recorded sent or
    /// failed, or until `by` is deregistered or presumed dead; `NotFound` when `by` is not
    /// registered. An instance claims again only after recording the outcome of everything it
    /// claimed before, so whatever `by` still holds is released first (its outcome was never
    /// recorded: the database failed meanwhile) and may be claimed again at once.
    async fn claim_outbox(&self, by: &InstanceId, now: Timestamp, limit: u32)
    -> Result<Vec<OutboxMessage>, StoreError>;

    /// Records that the transport accepted these messages (one transaction for all, so a
    /// fast worker does not pay a commit per email), each attempt with the receiver's reply;
    /// their link secrets are erased.
    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError>;

    /// Records a failed attempt: retried at `retry_at`, or failed for good (secret erased) when
    /// `None`. Does nothing when `by` no longer holds the claim (it was presumed dead and the
    /// message went to another instance).
    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
}

/// An app's webhook endpoints and the deliveries of their events. Events themselves are
/// written by the operations that cause them (invite, accept, revoke, remove a member, the
/// outcome of an email), in their transactions; see [`crate::webhooks`].
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint.
    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook, StoreError>;

    /// The app's endpoints, oldest first.
    async fn webhooks(&self, app_id: &AppId) -> Result<Vec<Webhook>, StoreError>;

    /// Removes an endpoint and its undelivered events; false when the app has no such endpoint.
    async fn delete_webhook(&self, app_id: &AppId, id: &WebhookId) -> Result<bool, StoreError>;

    /// Replaces an endpoint's secret (deliveries not yet made are signed with the new one);
    /// `None` when the app has no such endpoint.
    async fn rotate_webhook_secret(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        secret: &WebhookSecret,
    ) -> Result<Option<Webhook>, StoreError>;

    /// An endpoint's deliveries, newest first, at most `limit`; `None` when the app has no
    /// such endpoint.
    async fn webhook_deliveries(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<WebhookDelivery>>, StoreError>;

    /// Makes a delivered or failed delivery due again at `now` (one more round of attempts);
    /// a pending one is made due at once. `None` when the endpoint has no such delivery.
    async fn retry_webhook_delivery(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        delivery_id: &str,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, StoreError>;

    /// Claims up to `limit` deliveries due at `now` (pending, or sending with a lease that ran
    /// out: the instance that claimed it died), leased until `lease_until`, counting one more
    /// attempt for each.
    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records how an attempt ended, as [`crate::rules::webhooks::after_attempt`] decided.
    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError>;

    /// Writes `invitation.expired` for up to `limit` pending invitations whose expiry passed by
    /// `now` and was not announced yet, each once however many instances sweep at the same
    /// time; how many it announced.
    async fn announce_expired_invitations(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;
}

/// What [`WebhookStore::record_webhook_attempt`] records.
#[derive(Debug, Clone)]
pub struct WebhookAttempt {
    /// The delivery.
    pub delivery_id: String,
    /// The HTTP status of the answer, if one came.
    pub status_code: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// What follows.
    pub plan: crate::rules::webhooks::AttemptPlan,
    /// Now.
    pub now: Timestamp,
}

/// A store in front of another that changes only [`AppStore`] (as `usher_store::CachedStore`
/// does): members, invitations and the outbox go to [`PassThrough::inner`] untouched, so the
/// wrapper implements only the concern it changes.
pub trait PassThrough: Send + Sync {
    /// The store behind this one.
    fn inner(&self) -> &dyn Store;
}

#[async_trait::async_trait]
impl<T: PassThrough> MemberStore for T {
    async fn user(&self, app_id: &AppId, id: &UserId) -> Result<Option<User>, StoreError> {
        self.inner().user(app_id, id).await
    }

    async fn user_credentials(
        &self,
        app_id: &AppId,
        email: &EmailAddress,
    ) -> Result<Option<(User, Option<PasswordHash>)>, StoreError> {
        self.inner().user_credentials(app_id, email).await
    }

    async fn users(&self, app_id: &AppId) -> Result<Vec<User>, StoreError> {
        self.inner().users(app_id).await
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        id: &UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<MemberUpdate, StoreError> {
        self.inner().update_user(app_id, id, patch, now).await
    }

    async fn set_password(
        &self,
        app_id: &AppId,
        id: &UserId,
        hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        self.inner().set_password(app_id, id, hash, now).await
    }

    async fn delete_user(&self, app_id: &AppId, id: &UserId, now: Timestamp) -> Result<MemberRemoval, StoreError> {
        self.inner().delete_user(app_id, id, now).await
    }

    async fn request_password_reset(&self, request: ResetRequest) -> Result<(), StoreError> {
        self.inner().request_password_reset(request).await
    }

    async fn reset_password(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<ResetOutcome, StoreError> {
        self.inner().reset_password(app_id, hash, password, now).await
    }

    async fn send_signup_code(&self, cmd: SignupCommand) -> Result<SignupOutcome, StoreError> {
        self.inner().send_signup_code(cmd).await
    }

    async fn verify_signup(&self, cmd: VerifyCommand) -> Result<VerifyOutcome, StoreError> {
        self.inner().verify_signup(cmd).await
    }

    async fn create_console_session(&self, hash: &TokenHash, session: &ConsoleSessionRecord) -> Result<(), StoreError> {
        self.inner().create_console_session(hash, session).await
    }

    async fn console_session(&self, hash: &TokenHash) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        self.inner().console_session(hash).await
    }

    async fn touch_console_session(&self, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        self.inner().touch_console_session(hash, now).await
    }

    async fn delete_console_session(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.inner().delete_console_session(hash).await
    }

    async fn delete_ended_console_sessions(&self, ended: EndedSessions) -> Result<u64, StoreError> {
        self.inner().delete_ended_console_sessions(ended).await
    }
}

#[async_trait::async_trait]
impl<T: PassThrough> InvitationStore for T {
    async fn invite(&self, cmd: InviteCommand) -> Result<Invited, StoreError> {
        self.inner().invite(cmd).await
    }

    async fn invite_batch(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.inner().invite_batch(cmds).await
    }

    async fn invite_dry_run(&self, cmds: Vec<InviteCommand>) -> Result<Vec<Invited>, StoreError> {
        self.inner().invite_dry_run(cmds).await
    }

    async fn invitation_emails_since(&self, app_id: &AppId, since: Timestamp) -> Result<u64, StoreError> {
        self.inner().invitation_emails_since(app_id, since).await
    }

    async fn invitation(&self, app_id: &AppId, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        self.inner().invitation(app_id, id).await
    }

    async fn list_invitations(
        &self,
        app_id: &AppId,
        query: InvitationQuery,
        now: Timestamp,
    ) -> Result<Vec<Invitation>, StoreError> {
        self.inner().list_invitations(app_id, query, now).await
    }

    async fn delivery_attempts(&self, app_id: &AppId, id: &InvitationId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.inner().delivery_attempts(app_id, id).await
    }

    async fn revoke_invitation(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError> {
        self.inner().revoke_invitation(app_id, id, by, now).await
    }

    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<TokenLookup>, StoreError> {
        self.inner().invitation_by_token(hash).await
    }

    async fn accept_invitation(&self, cmd: AcceptCommand) -> Result<AcceptOutcome, StoreError> {
        self.inner().accept_invitation(cmd).await
    }

    async fn record_link_open(&self, cmd: LinkOpenCommand) -> Result<(), StoreError> {
        self.inner().record_link_open(cmd).await
    }
}

#[async_trait::async_trait]
impl<T: PassThrough> OutboxStore for T {
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.inner().outbox_backlog().await
    }

    async fn register_instance(&self, id: &InstanceId, now: Timestamp) -> Result<(), StoreError> {
        self.inner().register_instance(id, now).await
    }

    async fn renew_instance(
        &self,
        id: &InstanceId,
        now: Timestamp,
        dead_after: Duration,
    ) -> Result<Renewal, StoreError> {
        self.inner().renew_instance(id, now, dead_after).await
    }

    async fn deregister_instance(&self, id: &InstanceId) -> Result<(), StoreError> {
        self.inner().deregister_instance(id).await
    }

    async fn claim_outbox(
        &self,
        by: &InstanceId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.inner().claim_outbox(by, now, limit).await
    }

    async fn mark_sent(&self, sent: &[SentMessage], now: Timestamp) -> Result<(), StoreError> {
        self.inner().mark_sent(sent, now).await
    }

    async fn mark_failed(
        &self,
        by: &InstanceId,
        id: &MessageId,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.inner().mark_failed(by, id, error, retry_at).await
    }
}

#[async_trait::async_trait]
impl<T: PassThrough> WebhookStore for T {
    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook, StoreError> {
        self.inner().create_webhook(hook).await
    }

    async fn webhooks(&self, app_id: &AppId) -> Result<Vec<Webhook>, StoreError> {
        self.inner().webhooks(app_id).await
    }

    async fn delete_webhook(&self, app_id: &AppId, id: &WebhookId) -> Result<bool, StoreError> {
        self.inner().delete_webhook(app_id, id).await
    }

    async fn rotate_webhook_secret(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        secret: &WebhookSecret,
    ) -> Result<Option<Webhook>, StoreError> {
        self.inner().rotate_webhook_secret(app_id, id, secret).await
    }

    async fn webhook_deliveries(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<WebhookDelivery>>, StoreError> {
        self.inner().webhook_deliveries(app_id, id, limit).await
    }

    async fn retry_webhook_delivery(
        &self,
        app_id: &AppId,
        id: &WebhookId,
        delivery_id: &str,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.inner().retry_webhook_delivery(app_id, id, delivery_id, now).await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.inner().claim_webhook_deliveries(now, lease_until, limit).await
    }

    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError> {
        self.inner().record_webhook_attempt(attempt).await
    }

    async fn announce_expired_invitations(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.inner().announce_expired_invitations(now, limit).await
    }
}
