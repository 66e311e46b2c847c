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
pub mod locale;
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
pub use locale::Locale;
pub use role::Role;
pub use store::{Store, StoreError};

/// The error and all its sources, joined by ": " (many errors' own message is only the
/// outermost one), for log lines, stored delivery errors and the CLI's last words. Some errors
/// (sqlx's I/O errors) already end their message with their cause's: a cause that only repeats
/// the end of the text before it is left out, so "Connection refused" is told once.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let told = cause.to_string();
        if !text.ends_with(&told) {
            text.push_str(": ");
            text.push_str(&told);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    use super::error_chain;

    /// An error with a message and an optional cause.
    #[derive(Debug)]
    struct Failed(&'static str, Option<Box<Failed>>);

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|cause| cause as _)
        }
    }

    #[test]
    fn error_chain_joins_every_cause() {
        let err = Failed("cannot send", Some(Box::new(Failed("timed out", None))));

        assert_eq!(error_chain(&err), "cannot send: timed out");
    }

    #[test]
    fn error_chain_tells_a_cause_that_its_error_already_ends_with_once() {
        // What sqlx's `Error::Io` does: its message ends with the io::Error it also gives as source.
        let refused = Failed("Connection refused (os error 111)", None);
        let err = Failed(
            "pool timed out",
            Some(Box::new(Failed(
                "error communicating with database: Connection refused (os error 111)",
                Some(Box::new(refused)),
            ))),
        );

        assert_eq!(
            error_chain(&err),
            "pool timed out: error communicating with database: Connection refused (os error 111)"
        );
    }
}
