//! The JSON bodies of Usher's HTTP API, as the official Base44 SDK sends and reads them.
//! Serde only: the server and the `base44` Rust SDK share these definitions, so a change to
//! the wire shows up on both sides at compile time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// The email this call queued.
    pub email: EmailDelivery,
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
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    /// When the current link stops working (RFC 3339).
    pub expires_at: String,
    /// Who sent the latest invitation email.
    pub invited_by: String,
    /// How many invitation emails were queued.
    pub times_sent: u32,
    /// When the latest one was queued (RFC 3339).
    pub last_sent_at: String,
    /// The latest email's delivery.
    pub delivery: EmailDelivery,
    /// Creation time (RFC 3339).
    pub created_date: String,
    /// Last change (RFC 3339).
    pub updated_date: String,
}

/// The delivery state of an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailDelivery {
    /// `queued`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The last transport error, if any.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), while a failed attempt waits for its retry.
    #[serde(default)]
    pub next_attempt_at: Option<String>,
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
    /// Creation time (RFC 3339).
    pub created_date: String,
    /// Last change (RFC 3339).
    pub updated_date: String,
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
        f.write_str(match self {
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
    /// How many rows ended in each outcome.
    pub summary: std::collections::BTreeMap<String, u64>,
}

/// What happened to one row of a bulk invite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkInviteResult {
    /// The row's position in the request.
    pub index: usize,
    /// `created`, `resent`, `already_member`, `throttled` or `error`.
    pub outcome: String,
    /// For people.
    pub message: String,
    /// The error code, for `throttled` and `error`.
    #[serde(default)]
    pub code: Option<String>,
    /// The invitation, when one was created or re-sent.
    #[serde(default)]
    pub invitation: Option<Invitation>,
}

/// Body of `auth.loginViaEmailPassword`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The member's address.
    pub email: String,
    /// Their password.
    pub password: String,
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
    /// When it was created (RFC 3339).
    pub created_date: String,
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
