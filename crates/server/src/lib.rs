//! Usher's HTTP server: the Base44-compatible API (`users.inviteUser`, `auth.inviteUser`,
//! `auth.me`), the join page, configuration, and [`App`], which production and tests build
//! the same way.

mod app;
pub mod bootstrap;
mod cors;
mod error;
mod extract;
mod idempotency;
pub mod metrics;
mod origin;
mod pages;
mod routes;
mod serve;
pub mod settings;
mod state;
mod wire;

pub use app::App;
pub use serve::ConnectionTimeouts;
pub use settings::{DatabaseArgs, ServeArgs, Settings};
