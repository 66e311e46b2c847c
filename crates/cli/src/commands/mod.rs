//! The commands of the `usher` binary.

pub mod app;
pub mod console;
pub mod invite;
pub mod mail;
pub mod manage;
pub mod migrate;
pub mod remote;
pub mod serve;
mod table;
pub mod webhooks;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines, coloured on a terminal.
    Text,
    /// One JSON object per line, with the fields of the request's span at the top level.
    Json,
}

/// Logs go to stderr (stdout is for output meant to be read or parsed), filtered by
/// `RUST_LOG`; by default `info`, without PostgreSQL's notices ("relation … already exists,
/// skipping" from the idempotent migrations), which say nothing an operator must act on.
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
}

/// A multi-threaded runtime for one command.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// The shell line that points the CLI's commands at a server and app, ready to paste.
fn exports(server: &str, app_id: &str, api_key: &str) -> String {
    format!("export USHER_SERVER={server} USHER_APP_ID={app_id} USHER_API_KEY={api_key}")
}
