//! Usher's email delivery: the outbox worker that claims queued messages from the
//! [`Store`](usher_core::Store), renders them from templates and hands them to a
//! [`Transport`], retrying with backoff when the transport fails.

mod backoff;
pub mod captured;
mod dkim;
mod factory;
pub mod link;
mod presence;
mod render;
mod smtp;
pub mod templates;
mod transport;
mod url;
mod webhook;
mod worker;

pub use backoff::RetryPolicy;
pub use dkim::{DkimError, DkimSigner};
pub use factory::transport;
pub use render::{MailerConfig, RenderError, RenderedEmail, RenderedParts, Renderer, test_email};
pub use smtp::SmtpTransport;
pub use transport::{FileTransport, LogTransport, Transport, TransportError, TransportSetupError};
pub use url::{InvalidMailUrl, MailUrl, SmtpSecurity, SmtpUrl};
pub use webhook::{DEFAULT_POLL as DEFAULT_WEBHOOK_POLL, WebhookSender, WebhookWorker};
pub use worker::{DeliveryWorker, WorkerConfig, WorkerStatus};
