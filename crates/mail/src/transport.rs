//! Mail transports: where a rendered message goes. SMTP (in `smtp.rs`) is another
//! [`Transport`]; `factory.rs` picks one for a mail URL.

use std::path::{Path, PathBuf};

use crate::render::RenderedEmail;

/// Why a transport did not take a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// Whether trying again later may help.
    pub is_temporary: bool,
    /// What went wrong, as stored in the outbox row's `last_error`.
    pub message: String,
}

impl TransportError {
    /// A failure that a later attempt may not have (a full disk, a busy server).
    pub fn temporary(message: impl Into<String>) -> Self {
        Self { is_temporary: true, message: message.into() }
    }

    /// A failure no retry will fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { is_temporary: false, message: message.into() }
    }
}

/// Delivers rendered messages.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Hands `email` over for delivery; returns what the receiver answered, for operators.
    async fn send(&self, email: &RenderedEmail, message_id: &str) -> Result<String, TransportError>;
}

/// The transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot create mail directory {}: {source}", dir.display())]
pub struct TransportSetupError {
    dir: PathBuf,
    source: std::io::Error,
}

/// Writes each message as `{message id}.eml` into a directory.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A transport writing into `dir`, created if missing.
    pub fn new(dir: &Path) -> Result<Self, TransportSetupError> {
        std::fs::create_dir_all(dir).map_err(|source| TransportSetupError { dir: dir.to_owned(), source })?;
        Ok(Self { dir: dir.to_owned() })
    }
}

#[async_trait::async_trait]
impl Transport for FileTransport {
    async fn send(&self, email: &RenderedEmail, message_id: &str) -> Result<String, TransportError> {
        let bytes = email.message.formatted();
        let path = self.dir.join(format!("{message_id}.eml"));
        let partial = self.dir.join(format!(".{message_id}.eml.partial"));
        // One trip to a blocking thread for both steps. Written aside and renamed, so a reader
        // never sees half a message.
        tokio::task::spawn_blocking(move || {
            std::fs::write(&partial, bytes)
                .map_err(|e| TransportError::temporary(format!("cannot write {}: {e}", partial.display())))?;
            std::fs::rename(&partial, &path)
                .map_err(|e| TransportError::temporary(format!("cannot write {}: {e}", path.display())))?;
            Ok(format!("written to {}", path.display()))
        })
        .await
        .map_err(|e| TransportError::temporary(format!("the file write did not finish: {e}")))?
    }
}

/// Only logs messages; for trying Usher out without any mail set-up.
pub struct LogTransport;

#[async_trait::async_trait]
impl Transport for LogTransport {
    async fn send(&self, email: &RenderedEmail, message_id: &str) -> Result<String, TransportError> {
        tracing::info!(to = %email.to.masked(), subject = %email.subject, message.id = message_id, "email (log transport)");
        Ok("logged".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use mailparse::MailHeaderMap;

    use super::*;
    use crate::render::Renderer;
    use crate::render::tests::{config, message};
    use usher_core::Timestamp;
    use usher_core::model::MailKind;

    #[tokio::test]
    async fn file_transport_writes_one_complete_eml_per_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let transport = FileTransport::new(&dir.path().join("mail")).expect("transport");
        let msg = message(MailKind::Invitation, "Acme");
        let email =
            Renderer::new(config()).expect("templates").render(&msg, Timestamp::from_millis(0)).expect("render");

        transport.send(&email, msg.id.as_str()).await.expect("send");

        let files: Vec<_> =
            std::fs::read_dir(dir.path().join("mail")).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(files, [std::ffi::OsString::from(format!("{}.eml", msg.id))]);
        let raw = std::fs::read(dir.path().join("mail").join(format!("{}.eml", msg.id))).expect("read");
        let parsed = mailparse::parse_mail(&raw).expect("parseable");
        let header = |name: &str| parsed.headers.get_first_value(name);
        assert_eq!(header("From").as_deref(), Some("Acme <no-reply@usher.test>"));
        assert_eq!(header("To").as_deref(), Some("ada@example.com"));
        assert_eq!(header("Subject").as_deref(), Some("Grace <Hopper> invited you to join Acme"));
        let text = parsed.subparts.iter().find(|p| p.ctype.mimetype == "text/plain").expect("text part");
        assert!(text.get_body().expect("body").contains(email.link.as_deref().expect("link")));
        assert!(raw.trim_ascii_end().ends_with(b"--"), "ends with the closing MIME boundary");
    }

    #[tokio::test]
    async fn file_transport_creates_its_directory_when_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("usher-data").join("mail");

        FileTransport::new(&nested).expect("transport");

        assert!(nested.is_dir());
    }
}
