//! The one place that turns a configured mail URL into a [`Transport`]. It sits above the
//! transports so that none of them needs to know the others (`smtp.rs` depends on
//! `transport.rs`, never the other way round).

use std::sync::Arc;

use crate::smtp::SmtpTransport;
use crate::transport::{FileTransport, LogTransport, Transport, TransportSetupError};
use crate::url::MailUrl;

/// The transport for `url`; SMTP connections greet the server as `hello_domain` and up to
/// `concurrency` of them are kept open.
pub fn transport(
    url: &MailUrl,
    hello_domain: &str,
    concurrency: usize,
) -> Result<Arc<dyn Transport>, TransportSetupError> {
    Ok(match url {
        MailUrl::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp.clone(), hello_domain, concurrency)),
        MailUrl::File(dir) => Arc::new(FileTransport::new(dir)?),
        MailUrl::Log => Arc::new(LogTransport),
    })
}
