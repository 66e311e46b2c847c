//! Delivery over SMTP with lettre's connection code, on sockets Usher opens itself.
//!
//! lettre's own pooled transport writes the end of each message in a separate small write on
//! a socket without `TCP_NODELAY`; Nagle's algorithm then waits for the server's delayed ACK,
//! about 40 ms per message (measured: 23 mails/s on one connection). Usher opens the TCP
//! connection itself with `TCP_NODELAY` and hands it to lettre's `AsyncSmtpConnection`, and
//! keeps its own pool of idle connections so each message costs one SMTP transaction.
//! (`smtps://` uses lettre's connector for the TLS handshake and so keeps lettre's socket.)

use std::sync::Mutex;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;

use crate::render::RenderedEmail;
use crate::transport::{Transport, TransportError};
use crate::url::{SmtpSecurity, SmtpUrl};

/// Longest wait for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one whole delivery (connecting, greeting, TLS, AUTH, the transaction), so
/// a server that stops answering cannot hold a worker slot forever. Generous, because giving
/// up on a server that is merely slow to accept the end of DATA (RFC 5321 asks clients to wait
/// 10 minutes for that answer) risks a second copy when the message is retried; the instance's
/// claim lasts however long this is.
const SEND_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Sends mail to one SMTP server over a pool of kept-alive connections.
pub struct SmtpTransport {
    url: SmtpUrl,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl SmtpTransport {
    /// A transport for `url` greeting the server as `hello_domain`, keeping up to `max_idle`
    /// connections open between messages.
    pub fn new(url: SmtpUrl, hello_domain: &str, max_idle: usize) -> Self {
        Self { url, hello: ClientId::Domain(hello_domain.to_owned()), idle: Mutex::default(), max_idle }
    }

    /// Opens, secures and authenticates a new connection.
    pub async fn connect(&self) -> Result<AsyncSmtpConnection, TransportError> {
        let server = (self.url.host.as_str(), self.url.port);
        let mut conn = if self.url.security == SmtpSecurity::Implicit {
            AsyncSmtpConnection::connect_tokio1(server, Some(CONNECT_TIMEOUT), &self.hello, Some(self.tls()?), None)
                .await
                .map_err(|e| classify(&e))?
        } else {
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
                .await
                .map_err(|_| {
                    TransportError::temporary(format!("connecting to {}:{} timed out", self.url.host, self.url.port))
                })?
                .map_err(|e| {
                    TransportError::temporary(format!("cannot connect to {}:{}: {e}", self.url.host, self.url.port))
                })?;
            tcp.set_nodelay(true).map_err(|e| TransportError::temporary(format!("cannot set TCP_NODELAY: {e}")))?;
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await.map_err(|e| classify(&e))?
        };
        match self.url.security {
            SmtpSecurity::Opportunistic | SmtpSecurity::Required if conn.can_starttls() => {
                conn.starttls(self.tls()?, &self.hello).await.map_err(|e| classify(&e))?;
            }
            SmtpSecurity::Required => {
                return Err(TransportError::temporary(
                    "the SMTP server does not offer STARTTLS, which tls=required demands",
                ));
            }
            _ => {}
        }
        if let Some((user, password)) = &self.url.credentials {
            let credentials = Credentials::new(user.clone(), password.expose_secret().to_owned());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials).await.map_err(|e| classify(&e))?;
        }
        Ok(conn)
    }

    fn tls(&self) -> Result<TlsParameters, TransportError> {
        TlsParameters::new(self.url.host.clone())
            .map_err(|e| TransportError::temporary(format!("TLS set-up failed: {e}")))
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        self.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, conn: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }
}

#[async_trait::async_trait]
impl Transport for SmtpTransport {
    async fn send(&self, email: &RenderedEmail, _message_id: &str) -> Result<String, TransportError> {
        tokio::time::timeout(SEND_TIMEOUT, self.deliver(email)).await.unwrap_or_else(|_| {
            Err(TransportError::temporary(format!(
                "{}:{} did not answer within {} s",
                self.url.host,
                self.url.port,
                SEND_TIMEOUT.as_secs()
            )))
        })
    }
}

impl SmtpTransport {
    async fn deliver(&self, email: &RenderedEmail) -> Result<String, TransportError> {
        let bytes = email.message.formatted();
        let envelope = email.message.envelope();
        // A kept-alive connection may have been closed by the server meanwhile; such a
        // failure is retried once on a fresh connection instead of failing the message.
        if let Some(mut conn) = self.take_idle() {
            match conn.send(envelope, &bytes).await {
                Ok(response) => {
                    self.put_idle(conn);
                    return Ok(describe(&response));
                }
                Err(err) if err.is_response() => {
                    if !conn.has_broken() {
                        self.put_idle(conn);
                    }
                    return Err(classify(&err));
                }
                Err(_) => {}
            }
        }
        let mut conn = self.connect().await?;
        let sent = conn.send(envelope, &bytes).await;
        if !conn.has_broken() {
            self.put_idle(conn);
        }
        sent.map(|response| describe(&response)).map_err(|e| classify(&e))
    }
}

/// The reply as the server wrote it, e.g. `250 2.0.0 Ok: queued as 4F2A1`.
fn describe(response: &lettre::transport::smtp::response::Response) -> String {
    format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))
}

/// 5xx replies are permanent; 4xx replies, timeouts and connection errors are worth a retry.
fn classify(err: &lettre::transport::smtp::Error) -> TransportError {
    if err.is_permanent() {
        TransportError::permanent(err.to_string())
    } else {
        TransportError::temporary(err.to_string())
    }
}
