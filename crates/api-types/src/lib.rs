//! The JSON bodies of Usher's HTTP API, as the official Base44 SDK sends and reads them.
//! Serde only: the server and the `base44` Rust SDK share these definitions, so a change to
//! the wire shows up on both sides at compile time.

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

    #[test]
    fn statuses_use_their_lowercase_wire_names() {
        assert_eq!(serde_json::to_value(InvitationStatus::Revoked).expect("json"), "revoked");
        assert_eq!(serde_json::from_value::<DeliveryStatus>("queued".into()).expect("parses"), DeliveryStatus::Queued);
        assert_eq!(format!("{:<8}|", DeliveryStatus::Sent), "sent    |");
    }
}
