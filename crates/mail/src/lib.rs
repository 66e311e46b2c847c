//! Usher's email delivery: the outbox worker that claims queued messages from the
//! [`Store`](usher_core::Store), renders them from templates and hands them to a
//! [`Transport`], retrying with backoff when the transport fails.

mod backoff;
mod render;
mod transport;
mod url;
mod worker;

pub use render::{MailerConfig, Renderer};
pub use transport::{FileTransport, LogTransport, Transport, TransportError, TransportSetupError, transport};
pub use url::{InvalidMailUrl, MailUrl};
pub use worker::DeliveryWorker;
