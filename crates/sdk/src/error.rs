//! What can go wrong in a call.

use std::fmt;
use std::time::Duration;

use usher_api_types::ErrorBody;

/// A failed call.
#[derive(thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{message} ({status} {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The server's stable code, e.g. `INVALID_ROLE`; `HTTP_<status>` when it sent none.
        code: String,
        /// The server's message.
        message: String,
        /// How long the server asked to wait before trying again (`Retry-After`, on 429 and 503).
        retry_after: Option<Duration>,
    },
    /// The request did not complete (connection refused, timeout, …).
    #[error("request failed: {}", transport_cause(.0))]
    Transport(#[source] reqwest::Error),
    /// The server answered 2xx with a body that is not the expected JSON.
    #[error("unexpected response body: {0}")]
    Decode(#[source] serde_json::Error),
    /// The client was built with missing or malformed settings.
    #[error("invalid client configuration: {0}")]
    InvalidConfig(&'static str),
}

impl ClientError {
    /// The server's code (`INVALID_ROLE`, …) for an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long to wait before retrying, when the server said (a throttled request).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `Debug` is what `?` out of `main` prints: the same sentence as `Display`, so a failed
/// program says `Error: invitation not found (404 INVITATION_NOT_FOUND)`.
impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// reqwest's own message ("error sending request for url (…)") with its innermost cause, which
/// is the part a person can act on ("Connection refused").
fn transport_cause(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if std::ptr::addr_eq(cause, err) { err.to_string() } else { format!("{err}: {cause}") }
}

/// Reads an error body the way the official SDK does: `message` and `code` at the top level
/// (Usher), or under `error` (other Base44 backends); plain text otherwise.
pub(crate) fn api_error(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ClientError {
    let fallback_code = || format!("HTTP_{status}");
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(body) {
        return ClientError::Api { status, code: body.code, message: body.message, retry_after };
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get("error").and_then(|e| e.get(name)).or_else(|| v.get(name)))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("message")
        .or_else(|| field("detail"))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().chars().take(500).collect());
    ClientError::Api { status, code: field("code").unwrap_or_else(fallback_code), message, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(err: ClientError) -> (u16, String, String) {
        match err {
            ClientError::Api { status, code, message, .. } => (status, code, message),
            other => panic!("not an API error: {other:?}"),
        }
    }

    #[test]
    fn api_error_reads_usher_error_bodies() {
        let body =
            br#"{"message":"role must be \"user\" or \"admin\"","code":"INVALID_ROLE","detail":{"field":"role"}}"#;

        assert_eq!(
            parts(api_error(400, None, body)),
            (400, "INVALID_ROLE".into(), "role must be \"user\" or \"admin\"".into())
        );
    }

    #[test]
    fn api_error_reads_nested_error_objects() {
        let body = br#"{"error":{"message":"nope","code":"FORBIDDEN"}}"#;

        assert_eq!(parts(api_error(403, None, body)), (403, "FORBIDDEN".into(), "nope".into()));
    }

    #[test]
    fn api_error_falls_back_to_the_status_and_text_when_the_body_is_not_json() {
        assert_eq!(parts(api_error(502, None, b"Bad Gateway\n")), (502, "HTTP_502".into(), "Bad Gateway".into()));
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn debug_reads_like_display_so_errors_out_of_main_read_well() {
        let err = api_error(429, Some(Duration::from_secs(7)), br#"{"message":"slow down","code":"THROTTLED"}"#);

        assert_eq!(format!("{err:?}"), "slow down (429 THROTTLED)");
        assert_eq!(err.to_string(), "slow down (429 THROTTLED)");
        assert_eq!((err.code(), err.retry_after()), (Some("THROTTLED"), Some(Duration::from_secs(7))));
    }
}
