//! Usher's domain: the types that are valid by construction (ids, email addresses, roles,
//! tokens, passwords), the records the service keeps, the [`Store`] every backend implements,
//! and the services that apply the rules of inviting and joining on top of it.
//!
//! Nothing here knows about HTTP or SQL; the server parses input into these types at the edge
//! and the storage crates persist them.

pub mod access;
pub mod api_keys;
pub mod app_settings;
pub mod apps;
pub mod clock;
pub mod console_link;
pub mod console_session;
pub mod email;
pub mod id;
pub mod idempotency;
pub mod invite;
pub mod join;
pub mod members;
pub mod model;
pub mod password;
pub mod reset;
pub mod role;
pub mod rules;
pub mod secret;
pub mod sign_in;
pub mod signup;
pub mod store;
pub mod throttle;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp, ceil_secs};
pub use email::EmailAddress;
pub use id::{ApiKeyId, AppId, EventId, InstanceId, InvitationId, MessageId, UserId, WebhookId};
pub use role::Role;
pub use store::{Store, StoreError};

/// The error and all its sources, joined by ": " (many errors' own message is only the
/// outermost one), for log lines and stored delivery errors.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
