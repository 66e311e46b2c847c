//! The commands that act through a running Usher server: the client they share, and how a
//! failure is told — to a person as a sentence that says what to do, to a script (`--json`)
//! as `{"message", "code"}` on stderr — always with a failing exit code.

use std::process::ExitCode;

use base44::{Client, ClientError};
use serde_json::json;

use crate::ServerArgs;

/// A server to talk to, and its address (to name it in errors).
pub struct Remote {
    /// The SDK client, acting in one app with an API key.
    pub client: Client,
    server: String,
}

/// Why a command failed: the server's refusal, or a reason found on this side.
pub struct Failure {
    message: String,
    code: String,
}

impl Failure {
    /// A failure found before or after talking to the server.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { message: message.into(), code: code.to_owned() }
    }

    /// Prints the failure for a person or, with `as_json`, as one JSON object; returns 1.
    pub fn report(&self, as_json: bool) -> ExitCode {
        if as_json {
            eprintln!("{}", json!({ "message": self.message, "code": self.code }));
        } else {
            eprintln!("error: {self}");
        }
        ExitCode::FAILURE
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl Remote {
    /// Explains `err` in terms of the settings the operator gave.
    pub fn explain(&self, err: &ClientError) -> Failure {
        match err {
            ClientError::Transport(cause) => Failure::new(
                "SERVER_UNREACHABLE",
                format!(
                    "no Usher server answered at {} (from --server or USHER_SERVER): {}. Start one with `usher serve`, or point --server at it",
                    self.server,
                    root_cause(cause)
                ),
            ),
            ClientError::Api { code, message, .. } if code == "APP_NOT_FOUND" => {
                Failure::new(code, format!("{message}; it comes from --app or USHER_APP_ID"))
            }
            ClientError::Api { code, message, .. } if code == "UNAUTHENTICATED" => {
                Failure::new(code, format!("{message}; the key comes from --key or USHER_API_KEY"))
            }
            ClientError::Api { code, message, .. } => Failure::new(code, message.clone()),
            ClientError::Decode(_) | ClientError::InvalidConfig(_) => Failure::new("CLIENT_ERROR", err.to_string()),
        }
    }
}

/// The innermost cause of a transport error, which is the one a person can act on
/// ("Connection refused"), without the chain of wrappers above it.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// Runs `command` with a client for `server`; missing `--app`/`--key` is bad usage (exit 2).
pub fn with_remote(server: &ServerArgs, as_json: bool, command: impl FnOnce(&Remote) -> ExitCode) -> ExitCode {
    match remote(server) {
        Ok(remote) => command(&remote),
        Err(failure) => {
            failure.report(as_json);
            ExitCode::from(2)
        }
    }
}

fn remote(server: &ServerArgs) -> Result<Remote, Failure> {
    let app = server
        .app
        .as_deref()
        .ok_or_else(|| Failure::new("USAGE", "missing --app (or USHER_APP_ID): the id of the app to act in"))?;
    let key = server
        .key
        .as_deref()
        .ok_or_else(|| Failure::new("USAGE", "missing --key (or USHER_API_KEY): an API key of that app"))?;
    let client = Client::builder()
        .server_url(&server.server)
        .app_id(app)
        .token(key)
        .build()
        .map_err(|err| Failure::new("USAGE", format!("--server {}: {err}", server.server)))?;
    Ok(Remote { client, server: server.server.clone() })
}
