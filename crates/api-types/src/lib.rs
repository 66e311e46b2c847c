//! The JSON bodies of Usher's HTTP API, as the official Base44 SDK sends and reads them.
//! Serde only: the server and the `base44` Rust SDK share these definitions, so a change to
//! the wire shows up on both sides at compile time.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
pub use time::OffsetDateTime;

/// Every error response: the SDK's `Base44Error` reads `message` and `code` from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub message: String,
    /// Stable SCREAMING_SNAKE_CASE code, for programs.
    pub code: String,
    /// Optional machine-readable context (e.g. the offending field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// A member's role in an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A standard member.
    User,
    /// An administrator of the app.
    Admin,
}

/// Body of both invite routes (`users.inviteUser` and `auth.inviteUser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteUserRequest {
    /// The address to invite.
    pub user_email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// The language of the invitation email and its re-sends: `en`, `de`, `fr` or `es` (a tag
    /// such as `de-AT` reads as its language; any other is 422 `UNSUPPORTED_LOCALE`). Absent:
    /// the app's default `locale`. The official SDK does not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Bulk rows only (the single invite takes the `Idempotency-Key` header and refuses this
    /// field): the row's own key, 1 to 255 visible ASCII characters. The same key and row
    /// within 24 h get the first result again with `replayed: true`, without doing anything;
    /// the key with another row (or used by another request) refuses the row with
    /// `IDEMPOTENCY_KEY_REUSED`, a key whose first request still runs (or that an earlier row
    /// of the same request has) with `IDEMPOTENCY_KEY_IN_USE`, an invalid key with
    /// `INVALID_IDEMPOTENCY_KEY`. Not together with an `Idempotency-Key` header (400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl InviteUserRequest {
    /// Inviting `email` with `role`, in the app's default language, without a row key.
    pub fn new(email: impl Into<String>, role: Role) -> Self {
        Self { user_email: email.into(), role, locale: None, idempotency_key: None }
    }

    /// The same, in `locale`.
    #[must_use]
    pub fn in_locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// The same as a bulk row with its own `idempotency_key`.
    #[must_use]
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Which case of inviting applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InviteOutcome {
    /// A new invitation was created and its email queued.
    Created,
    /// A pending invitation was re-sent with a fresh link, expiry and role.
    Resent,
    /// The address is already a member: a sign-in email was queued; the role is unchanged.
    AlreadyMember,
}

/// Answer of both invite routes. Never contains the invitation token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteUserResponse {
    /// Which case applied.
    pub outcome: InviteOutcome,
    /// A one-line summary for people.
    pub message: String,
    /// The invitation (absent when the address is already a member).
    pub invitation: Option<Invitation>,
    /// The member (present only when the address is already a member).
    pub user: Option<MemberSummary>,
    /// The email this call queued (`null` in a dry run, which queues none).
    pub email: Option<EmailDelivery>,
    /// `true` when this answers `?dry_run=true`: what the request would do; nothing was
    /// written or sent, and `invitation` is `null`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// An invitation as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// The invited address (normalised: trimmed, lowercase).
    pub email: String,
    /// The role offered.
    pub role: Role,
    /// Where it stands.
    pub status: InvitationStatus,
    /// When the current link stops working.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    /// Who sent the latest invitation email.
    pub invited_by: String,
    /// How many invitation emails were queued.
    pub times_sent: u32,
    /// When the latest one was queued.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_sent_at: OffsetDateTime,
    /// The latest email's delivery.
    pub delivery: EmailDelivery,
    /// When its join link was last fetched (`GET` or `HEAD`), by a person or a scanner.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_opened_at: Option<OffsetDateTime>,
    /// When a person first viewed the join page (its script reported the view); mail
    /// scanners' fetches never set it. Opening never uses up the link.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub opened_by_person_at: Option<OffsetDateTime>,
    /// Fetches of the join link that looked automated: `HEAD` requests, known scanners' user
    /// agents, fetches within seconds of delivery, and page views where no script ran.
    #[serde(default)]
    pub scanner_opens: u32,
    /// When the reminder of the current link is due (the app's `reminder_before_expiry_hours`
    /// before `expires_at`); `null` when none is scheduled (reminders off, or it was sent or
    /// cancelled).
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reminder_due_at: Option<OffsetDateTime>,
    /// When the latest reminder was sent; `null` when none was.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reminded_at: Option<OffsetDateTime>,
    /// The language its emails are written in; `null`: the app's default `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// Creation time.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
    /// Last change.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_date: OffsetDateTime,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    /// Sent and waiting for the invitee.
    Pending,
    /// The invitee joined.
    Accepted,
    /// An admin withdrew it.
    Revoked,
    /// Its link ran out of time.
    Expired,
}

impl fmt::Display for InvitationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        })
    }
}

/// Where an email stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for (another) delivery attempt.
    Queued,
    /// Accepted by the mail server.
    Sent,
    /// Given up on; the last error says why.
    Failed,
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        })
    }
}

/// The delivery state of an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailDelivery {
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The last transport error, if any.
    pub last_error: Option<String>,
    /// When the next attempt is due, while a failed attempt waits for its retry.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// The essentials of an existing member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberSummary {
    /// Their id.
    pub id: String,
    /// Their address.
    pub email: String,
    /// Their (unchanged) role.
    pub role: Role,
}

/// A member in Base44's `User` entity shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Their id.
    pub id: String,
    /// Creation time.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
    /// Last change.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_date: OffsetDateTime,
    /// Their address.
    pub email: String,
    /// Their name.
    pub full_name: String,
    /// Whether they are disabled.
    pub disabled: bool,
    /// Whether they proved they own the address.
    pub is_verified: bool,
    /// Their app.
    pub app_id: String,
    /// Always `false` for members.
    pub is_service: bool,
    /// Their role, as Base44 names it in the entity.
    #[serde(rename = "_app_role")]
    pub app_role: Role,
    /// Their role.
    pub role: Role,
    /// App-defined fields.
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

/// The text was not exactly `user` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRole(pub String);

impl std::fmt::Display for InvalidRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid role {:?}: role must be \"user\" or \"admin\"", self.0)
    }
}

impl std::error::Error for InvalidRole {}

impl std::str::FromStr for Role {
    type Err = InvalidRole;

    /// Exact and case-sensitive, as the server checks it: `"Admin"` is not a role.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            other => Err(InvalidRole(other.to_owned())),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: `{:<5}` must line a role up in a column.
        f.pad(match self {
            Self::User => "user",
            Self::Admin => "admin",
        })
    }
}

/// Body of the bulk invite route: up to 1,000 rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkInviteRequest {
    /// The rows, each like a single invite's body.
    pub items: Vec<InviteUserRequest>,
}

/// Answer of the bulk invite route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkInviteResponse {
    /// One result per row, in the rows' order.
    pub results: Vec<BulkInviteResult>,
    /// How many rows ended in each outcome, and (as `replayed`, when there are any) how many
    /// rows were answered from their `idempotency_key` (also counted under their outcome).
    pub summary: BTreeMap<String, u64>,
    /// `true` when this answers `?dry_run=true`: the outcome each row would get; nothing was
    /// written or sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// What happened to one row of a bulk invite: the row's position, and either the answer a
/// single invite would have given or why the row was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
#[expect(clippy::large_enum_variant, reason = "at most 1,000 per answer, each built once; a box buys nothing")]
pub enum BulkInviteResult {
    /// The row was invited (`created`, `resent` or `already_member`).
    Invited {
        /// The row's position in the request.
        index: usize,
        /// What a single invite of the row answers.
        #[serde(flatten)]
        response: InviteUserResponse,
        /// `true` when this is the stored result of an earlier request with the row's
        /// `idempotency_key`: nothing was done for the row this time.
        #[serde(default, skip_serializing_if = "is_false")]
        replayed: bool,
    },
    /// The row was refused (`throttled` or `error`); the other rows were not affected.
    Refused {
        /// The row's position in the request.
        index: usize,
        /// `throttled` or `error`.
        outcome: BulkRefusalOutcome,
        /// The error code a single invite would have answered.
        code: String,
        /// For people.
        message: String,
        /// `true` when this is the stored refusal of an earlier request with the row's
        /// `idempotency_key`.
        #[serde(default, skip_serializing_if = "is_false")]
        replayed: bool,
    },
}

impl BulkInviteResult {
    /// The row's position in the request.
    pub fn index(&self) -> usize {
        match self {
            Self::Invited { index, .. } | Self::Refused { index, .. } => *index,
        }
    }

    /// Whether the row was answered from its `idempotency_key` (nothing was done this time).
    pub fn replayed(&self) -> bool {
        match self {
            Self::Invited { replayed, .. } | Self::Refused { replayed, .. } => *replayed,
        }
    }

    /// The same result at `index`, marked as replayed from the row's key.
    #[must_use]
    pub fn replayed_at(mut self, at: usize) -> Self {
        match &mut self {
            Self::Invited { index, replayed, .. } | Self::Refused { index, replayed, .. } => {
                *index = at;
                *replayed = true;
            }
        }
        self
    }

    /// The outcome's wire name: `created`, `resent`, `already_member`, `throttled` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Invited { response, .. } => match response.outcome {
                InviteOutcome::Created => "created",
                InviteOutcome::Resent => "resent",
                InviteOutcome::AlreadyMember => "already_member",
            },
            Self::Refused { outcome: BulkRefusalOutcome::Throttled, .. } => "throttled",
            Self::Refused { outcome: BulkRefusalOutcome::Error, .. } => "error",
        }
    }

    /// For people.
    pub fn message(&self) -> &str {
        match self {
            Self::Invited { response, .. } => &response.message,
            Self::Refused { message, .. } => message,
        }
    }

    /// The error code of a refused row.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Invited { .. } => None,
            Self::Refused { code, .. } => Some(code),
        }
    }
}

/// Why a bulk row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BulkRefusalOutcome {
    /// The address was emailed within the resend interval (`RESEND_THROTTLED`).
    Throttled,
    /// Any other refusal; `code` says which.
    Error,
}

/// Body of `auth.loginViaEmailPassword`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The member's address.
    pub email: String,
    /// Their password.
    pub password: String,
    /// Sent by the SDK when the app uses Cloudflare Turnstile; Usher has no captcha and
    /// ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnstile_token: Option<String>,
}

/// Answer of sign-in and of a verified sign-up: a token and the member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedIn {
    /// The access token (a JWT) for `Authorization: Bearer`.
    pub access_token: String,
    /// The member.
    pub user: User,
}

/// An answer that only says something to people (a code or link is on its way, a password
/// was set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// What happened.
    pub message: String,
}

/// Answer of `auth.changePassword`: every earlier token of the member stopped working; this
/// one carries on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChanged {
    /// What happened.
    pub message: String,
    /// A fresh access token.
    pub access_token: String,
    /// The member.
    pub user: User,
}

/// Answer of `entities.User.count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Count {
    /// How many matched.
    pub count: u64,
}

/// One page of a listing: `{items, next_cursor, has_more}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page.
    pub next_cursor: Option<String>,
    /// Whether more items follow.
    pub has_more: bool,
}

/// An API key as listed (the secret itself only in the answer that creates it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    /// Its id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// When it was created.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
    /// The secret, present only when just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// The list of an app's API keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    /// The live keys, oldest first.
    pub items: Vec<ApiKeyInfo>,
}

/// Answer of deleting a member: `{id, deleted: true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDeleted {
    /// The member's id.
    pub id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// Answer of revoking an API key: `{id, revoked: true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyRevoked {
    /// The key's id.
    pub id: String,
    /// Always `true`.
    pub revoked: bool,
}

/// Body of creating an API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label for people, 1 to 100 characters.
    pub name: String,
}

/// One entry of an app's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Its position in the log (increasing); pass the last one back as `cursor`.
    pub id: i64,
    /// The app.
    pub app_id: String,
    /// What was done, e.g. `invitation.created`.
    pub action: String,
    /// Who did it.
    pub actor: AuditActor,
    /// The address it concerned, if any.
    pub email: Option<String>,
    /// The invitation it concerned, if any.
    pub invitation_id: Option<String>,
    /// What changed, for `app.settings_changed` (`{"settings": {name: new value}}`, the names
    /// as `GET …/settings` shows them) and `template.saved` / `template.removed`
    /// (`{"kind", "locale"}`); `null` for other actions.
    #[serde(default)]
    pub detail: Option<Value>,
    /// When.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
}

/// Who did what an audit entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActor {
    /// `api_key` or `user`.
    pub kind: AuditActorKind,
    /// The key's or the member's id.
    pub id: String,
}

/// Whether an API key or a member acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditActorKind {
    /// An API key.
    ApiKey,
    /// A member (an admin).
    User,
}

/// An app's settings, as an admin or API key reads and changes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppSettings {
    /// The app's id (read-only).
    pub app_id: String,
    /// The app's name, 1 to 100 characters.
    pub name: String,
    /// Where members land after joining or signing in.
    pub app_url: String,
    /// How long an invitation link stays valid after it was (re)sent.
    pub invitation_ttl_seconds: u64,
    /// Who may invite: `admins` or `members`.
    pub invite_policy: String,
    /// Whether anyone may sign up, or only people with an invitation.
    pub is_signup_open: bool,
    /// Display name on outgoing mail; the app's name when `null`.
    pub sender_name: Option<String>,
    /// Sender address on outgoing mail; the server's default when `null`.
    pub sender_email: Option<String>,
    /// Browser origins besides the app URL's that may call the API.
    pub cors_origins: Vec<String>,
    /// When not empty, only addresses at these domains may be invited, register or sign up:
    /// exact domains (`example.com`) or every subdomain (`*.example.com`). Existing members
    /// are not affected.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Addresses at these domains (same patterns) may never be invited, register or sign up;
    /// this wins over `allowed_email_domains`.
    #[serde(default)]
    pub blocked_email_domains: Vec<String>,
    /// The daily allowance: at most this many invitation emails (new invitations and
    /// re-sends) in any 24 hours; `null` for none (the default).
    #[serde(default)]
    pub max_invites_per_day: Option<u32>,
    /// Read-only: the invitation emails (new invitations and re-sends) the app queued in the
    /// last 24 hours, which the daily allowance counts (used / `max_invites_per_day`).
    #[serde(default)]
    pub invites_last_24h: u64,
    /// Mail one reminder, with the same join link, this many hours before an invitation
    /// link expires (unless it was accepted, revoked or re-sent meanwhile); `null` for none
    /// (the default). Must be less than the invitation lifetime.
    #[serde(default)]
    pub reminder_before_expiry_hours: Option<u32>,
    /// The language of the app's email (`en`, `de`, `fr` or `es`) when an invitation names
    /// none; sign-up codes, password resets and sign-up notes always use it.
    #[serde(default = "default_locale")]
    pub locale: String,
}

fn default_locale() -> String {
    "en".to_owned()
}

/// Body of changing an app's settings: any of the fields [`AppSettings`] shows (except
/// `app_id`); all are applied or none. `null` clears `sender_name` and `sender_email`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAppSettingsRequest {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new landing URL (`http` or `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    /// A new invitation lifetime, 60 seconds to 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_ttl_seconds: Option<u64>,
    /// `admins` or `members`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_policy: Option<String>,
    /// Open or close sign-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_signup_open: Option<bool>,
    /// A sender name, or `null` for the app's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub sender_name: Option<Option<String>>,
    /// A sender address, or `null` for the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub sender_email: Option<Option<String>>,
    /// Extra browser origins allowed to call the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// The domains let in (`example.com`, `*.example.com`); `[]` lets every domain in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_email_domains: Option<Vec<String>>,
    /// The domains kept out (same patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_email_domains: Option<Vec<String>>,
    /// A daily allowance of invitation emails (1 to 1,000,000), or `null` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub max_invites_per_day: Option<Option<u32>>,
    /// Reminders: hours before expiry (1 or more, less than the invitation lifetime), or
    /// `null` to switch them off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub reminder_before_expiry_hours: Option<Option<u32>>,
    /// The default language of the app's email: `en`, `de`, `fr` or `es`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// What a sign-in page needs to know about an app (`app.getPublicSettings()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicSettings {
    /// The app's id.
    pub id: String,
    /// The app's id again, as Base44 also sends it.
    pub app_id: String,
    /// The app's name.
    pub name: String,
    /// Where the app lives.
    pub app_url: String,
    /// Always `true`: every Usher app needs a signed-in member.
    pub requires_auth: bool,
    /// Whether anyone may sign up.
    pub is_signup_open: bool,
    /// Whether only invited people may join (`!is_signup_open`).
    pub invitation_only: bool,
    /// How members sign in: `["email_password"]`.
    pub auth_methods: Vec<String>,
}

/// Body of changing a member (`auth.updateMe`, `entities.User.update`): the name, for admins
/// the role and the disabled flag, and any app-defined fields (`null` removes one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUserRequest {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// A new role (admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Disable or enable the member (admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// App-defined fields.
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

/// One item of a `User` listing: the whole entity, or, when the query names `fields`, only
/// those fields and `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserListItem {
    /// The whole member.
    Full(User),
    /// The fields the query asked for, and `id`.
    Fields(Map<String, Value>),
}

impl UserListItem {
    /// The whole member, when the listing named no `fields`.
    pub fn as_user(&self) -> Option<&User> {
        match self {
            Self::Full(user) => Some(user),
            Self::Fields(_) => None,
        }
    }
}

// By hand, for `anyOf`: a derived untagged enum is `oneOf`, which a whole member (also an
// object of some of its fields) would fail by matching both.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for UserListItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
        AnyOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name(User::name()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("The fields the query asked for (`fields`), and `id`.")),
            )
            .description(Some("A member: the whole `User`, or only the fields the query asked for and `id`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for UserListItem {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((<User as utoipa::ToSchema>::name().into(), <User as utoipa::PartialSchema>::schema()));
        <User as utoipa::ToSchema>::schemas(schemas);
    }
}

/// Body of `auth.changePassword`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The signed-in member's own id.
    pub user_id: String,
    /// Their password now.
    pub current_password: String,
    /// The password they want.
    pub new_password: String,
}

/// Body of `auth.register`: starts a sign-up with a one-time code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The address to sign up.
    pub email: String,
    /// The password the member will have.
    pub password: String,
    /// Sent by the SDK for apps using Cloudflare Turnstile; Usher ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnstile_token: Option<String>,
    /// Sent by the SDK for apps using referrals; Usher ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_code: Option<String>,
}

/// Body of `auth.verifyOtp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyOtpRequest {
    /// The address signing up.
    pub email: String,
    /// The code from the email.
    pub otp_code: String,
}

/// Body of `auth.resendOtp` and `auth.resetPasswordRequest`: an address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The address.
    pub email: String,
}

/// Body of `auth.resetPassword`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token of the reset link.
    pub reset_token: String,
    /// The password the member wants.
    pub new_password: String,
}

/// Body of looking up an invitation by its link token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LookupInvitationRequest {
    /// The token of the join link.
    pub token: String,
}

/// Answer of looking up an invitation: what it offers, without using it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationLookup {
    /// The app it invites into.
    pub app: AppSummary,
    /// The invitation.
    pub invitation: Invitation,
    /// The address already has an account with a password: accepting takes that password in
    /// `password` (a wrong one answers 401 `INVALID_CREDENTIALS`, counts against the sign-in
    /// throttle and leaves the invitation usable) and never changes it.
    #[serde(default)]
    pub existing_account: bool,
}

/// An app's id and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppSummary {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Body of accepting an invitation through the API (the twin of the join page's form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The token of the join link.
    pub token: String,
    /// The invitee's name (may be empty).
    #[serde(default)]
    pub full_name: String,
    /// The password the invitee sets, or, when the address already has an account
    /// (`existing_account` in the lookup), that account's current password.
    pub password: String,
}

/// Answer of `GET /healthz`: `{status: "ok"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Answer of `GET /readyz` when ready: `{status: "ready", checks}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// Each check (`database`, `migrations`, `delivery`) and `ok` or what is wrong.
    pub checks: BTreeMap<String, String>,
}

/// Body of adding a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are posted: an `http://` or `https://` URL.
    pub url: String,
    /// The event types to receive (at least one), e.g. `invitation.created`.
    pub events: Vec<String>,
}

/// A webhook endpoint (its signing secret only in the answers that create or rotate it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookInfo {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// When it was added.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
    /// The signing secret (`whsec_…`), present only when just created or rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An app's webhook endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookInfo>,
}

/// Answer of removing a webhook endpoint: `{id, deleted: true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeleted {
    /// The endpoint's id.
    pub id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryInfo {
    /// Its id: the `webhook-id` header, the same on every attempt.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer, if one came.
    pub last_status_code: Option<u16>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_date: Option<OffsetDateTime>,
    /// When the event happened.
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_date: OffsetDateTime,
}

/// An endpoint's deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryList {
    /// Newest first (at most 100).
    pub items: Vec<WebhookDeliveryInfo>,
}

/// Times on the wire: RFC 3339 in UTC with milliseconds (`2026-12-08T16:43:48.123Z`), the
/// form Base44 sends; any RFC 3339 time is read.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;

    /// Writes `time` in UTC with exactly three fractional digits.
    pub fn format(time: OffsetDateTime) -> String {
        let utc = time.to_offset(time::UtcOffset::UTC);
        utc.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"))
            .unwrap_or_else(|_| utc.unix_timestamp().to_string())
    }

    /// Serde's `serialize_with`.
    pub fn serialize<S: Serializer>(time: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    /// Serde's `deserialize_with`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }

    /// The same for an optional time (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Serde's `serialize_with`.
        pub fn serialize<S: Serializer>(time: &Option<OffsetDateTime>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Serde's `deserialize_with`.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| OffsetDateTime::parse(&text, &super::Rfc3339).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_the_wire_form() {
        let json = serde_json::json!({ "id": "k", "name": "ci", "created_date": "2026-12-08T16:43:48.100Z" });

        let key: ApiKeyInfo = serde_json::from_value(json.clone()).expect("parses");

        assert_eq!(key.created_date.unix_timestamp(), 1_796_748_228);
        assert_eq!(serde_json::to_value(&key).expect("serialises"), json);
    }

    fn delivery() -> EmailDelivery {
        EmailDelivery { status: DeliveryStatus::Queued, attempts: 0, last_error: None, next_attempt_at: None }
    }

    #[test]
    fn bulk_rows_keep_the_single_invite_answer_or_the_refusal_with_their_index() {
        let member = MemberSummary { id: "u1".into(), email: "ada@example.com".into(), role: Role::User };
        let invited = BulkInviteResult::Invited {
            index: 0,
            response: InviteUserResponse {
                outcome: InviteOutcome::AlreadyMember,
                message: "m".into(),
                invitation: None,
                user: Some(member),
                email: Some(delivery()),
                dry_run: false,
            },
            replayed: false,
        };
        let refused = BulkInviteResult::Refused {
            index: 1,
            outcome: BulkRefusalOutcome::Throttled,
            code: "RESEND_THROTTLED".into(),
            message: "wait".into(),
            replayed: false,
        };

        let invited_json = serde_json::to_value(&invited).expect("json");
        let refused_json = serde_json::to_value(&refused).expect("json");

        assert_eq!(
            invited_json,
            serde_json::json!({
                "index": 0, "outcome": "already_member", "message": "m", "invitation": null,
                "user": { "id": "u1", "email": "ada@example.com", "role": "user" },
                "email": { "status": "queued", "attempts": 0, "last_error": null, "next_attempt_at": null },
            })
        );
        assert_eq!(
            refused_json,
            serde_json::json!({ "index": 1, "outcome": "throttled", "code": "RESEND_THROTTLED", "message": "wait" })
        );
        assert_eq!(serde_json::from_value::<BulkInviteResult>(invited_json).expect("reads"), invited);
        assert_eq!(serde_json::from_value::<BulkInviteResult>(refused_json).expect("reads"), refused);

        // A replayed row says so (and only then), at the index it has in this request.
        let replayed = invited.replayed_at(7);
        let replayed_json = serde_json::to_value(&replayed).expect("json");
        assert_eq!((replayed_json["index"].clone(), replayed_json["replayed"].clone()), (7.into(), true.into()));
        let read = serde_json::from_value::<BulkInviteResult>(replayed_json).expect("reads");
        assert!(read.replayed() && read.index() == 7 && read.outcome() == "already_member");
        assert_eq!((refused.outcome(), refused.code()), ("throttled", Some("RESEND_THROTTLED")));
    }

    #[test]
    fn user_list_items_read_whole_members_and_projections() {
        let projection = serde_json::json!({ "id": "u1", "email": "ada@example.com" });

        let item: UserListItem = serde_json::from_value(projection.clone()).expect("reads");

        assert!(item.as_user().is_none());
        assert_eq!(serde_json::to_value(&item).expect("json"), projection);
    }

    #[test]
    fn statuses_use_their_lowercase_wire_names() {
        assert_eq!(serde_json::to_value(InvitationStatus::Revoked).expect("json"), "revoked");
        assert_eq!(serde_json::from_value::<DeliveryStatus>("queued".into()).expect("parses"), DeliveryStatus::Queued);
        assert_eq!(format!("{:<8}|", DeliveryStatus::Sent), "sent    |");
    }
}

/// The subject, text and HTML of an app's own email template (minijinja; the HTML is
/// auto-escaped, the subject and text are not). Body of saving one, and of previewing a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailTemplateBody {
    /// The subject line's template (one line).
    pub subject: String,
    /// The plain-text part's template.
    pub text: String,
    /// The HTML part's template.
    pub html: String,
}

/// Body of a preview: a draft to render (checked as saving would), or nothing to render what
/// delivery would use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewTemplateRequest {
    /// The draft; absent: the app's own template, else the built-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<MailTemplateBody>,
}

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// Usher's own.
    BuiltIn,
    /// The app's, saved with `PUT`.
    App,
    /// The draft sent with the preview.
    Draft,
}

/// One kind of email in one locale: the template delivery uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailTemplate {
    /// `invitation`, `reminder` (before an invitation expires), `sign_in` (the member sign-in
    /// reminder), `password_reset`, `signup_code` or `account_exists`.
    pub kind: String,
    /// `en`, `de`, `fr` or `es`.
    pub locale: String,
    /// The app's own, or the built-in.
    pub source: TemplateSource,
    /// The subject line's template.
    pub subject: String,
    /// The plain-text part's template.
    pub text: String,
    /// The HTML part's template.
    pub html: String,
    /// The variables its templates may use.
    pub variables: Vec<String>,
    /// The variable the text and HTML must show (the link or code the email is for), if any.
    pub required_variable: Option<String>,
    /// When the app's own was saved.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_date: Option<OffsetDateTime>,
}

/// One kind of email in one locale, in the list of an app's templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailTemplateSummary {
    /// The kind of email.
    pub kind: String,
    /// The locale.
    pub locale: String,
    /// The app's own, or the built-in.
    pub source: TemplateSource,
    /// When the app's own was saved.
    #[serde(default, with = "rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_date: Option<OffsetDateTime>,
}

/// Every kind of email in every locale, and which of them the app has its own template for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailTemplateList {
    /// The app's default locale.
    pub default_locale: String,
    /// The supported locales.
    pub locales: Vec<String>,
    /// One row per kind and locale.
    pub items: Vec<MailTemplateSummary>,
}

/// A template rendered with sample data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplatePreview {
    /// What was rendered.
    pub source: TemplateSource,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}
