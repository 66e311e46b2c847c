//! Accepting connections and serving HTTP/1.1 on them, with the time limits `axum::serve`
//! does not have: a client gets [`ConnectionTimeouts::header`] to send a request's headers
//! (counted from the connection's opening, or from the first byte of a later request), may
//! leave a keep-alive connection idle for [`ConnectionTimeouts::idle`] between requests, and
//! must not pause longer than the header timeout between two pieces of a request's body.
//! A connection that overstays either of the first two is closed, and a request whose body
//! stalls fails (a JSON 400), so connections that never finish a request cannot pile up.
//!
//! hyper has one timer for the first two, its header-read timeout, which runs whenever it waits
//! for a request: from the opening of the connection and again after every response. The
//! [`ConnTimer`] given to it tells those waits apart: the first one, and any wait during which
//! a byte has arrived, end at the header timeout; an idle wait between requests ends at the
//! idle timeout. The bytes are seen by [`WatchedIo`], which wraps the socket.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How long a client may take, and how long it may wait, on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// Time allowed for a request's headers, and at most between two pieces of its body.
    pub header: Duration,
    /// Time a keep-alive connection may stay idle between two requests.
    pub idle: Duration,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        Self { header: Duration::from_secs(10), idle: Duration::from_secs(60) }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in flight and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: ConnectionTimeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Connections watch `stop`; the serve loop waits until every connection dropped `done`.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(stream, remote, router.clone(), timeouts, stop_rx.clone(), done_rx.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    timeouts: ConnectionTimeouts,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) {
    let activity = Arc::new(Mutex::new(Activity::default()));
    let io = TokioIo::new(WatchedIo { inner: stream, activity: activity.clone() });
    let body_timeout = timeouts.header;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
        request.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(ConnTimer { activity, timeouts }).header_read_timeout(timeouts.header);
    let mut connection = std::pin::pin!(builder.serve_connection(io, service));
    let mut is_stopping = *stop.borrow();
    loop {
        if is_stopping {
            connection.as_mut().graceful_shutdown();
        }
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection closed");
                }
                return;
            }
            changed = stop.changed(), if !is_stopping => {
                is_stopping = changed.is_err() || *stop.borrow();
            }
        }
    }
}

/// Waits after a failed `accept`: running out of file descriptors lasts a moment, and
/// retrying at once would spin.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What the timer needs to know about one connection.
#[derive(Debug, Default)]
struct Activity {
    /// Number of waits for a request so far.
    waits: u64,
    /// Whether hyper is waiting for a request now.
    is_waiting: bool,
    /// When the first byte of the awaited request arrived.
    first_byte_at: Option<Instant>,
}

fn lock(activity: &Mutex<Activity>) -> std::sync::MutexGuard<'_, Activity> {
    activity.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A socket that notes when the first byte of an awaited request arrives.
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Mutex<Activity>>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut activity = lock(&self.activity);
            if activity.is_waiting && activity.first_byte_at.is_none() {
                activity.first_byte_at = Some(Instant::now());
            }
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection; hyper uses it only for its header-read timeout.
#[derive(Clone)]
struct ConnTimer {
    activity: Arc<Mutex<Activity>>,
    timeouts: ConnectionTimeouts,
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    /// A wait for a request begins; hyper's deadline is replaced by the one that applies.
    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        let wait = {
            let mut activity = lock(&self.activity);
            activity.waits += 1;
            activity.is_waiting = true;
            activity.first_byte_at = None;
            activity.waits
        };
        let limit = if wait == 1 { self.timeouts.header } else { self.timeouts.idle };
        Box::pin(RequestWait {
            activity: self.activity.clone(),
            wait,
            header: self.timeouts.header,
            deadline: now + limit,
            sleep: Box::pin(tokio::time::sleep_until((now + limit).into())),
        })
    }
}

/// A plain sleep, for any other use hyper may make of the timer.
struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

/// One wait for a request. The first ends a header timeout after it began; a later one an
/// idle timeout after it began or, once a byte has arrived, a header timeout after that byte.
struct RequestWait {
    activity: Arc<Mutex<Activity>>,
    wait: u64,
    header: Duration,
    deadline: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for RequestWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The first request's headers are due a header timeout after the connection opened.
        let first_byte_at = if self.wait == 1 { None } else { lock(&self.activity).first_byte_at };
        let deadline = tokio::time::Instant::from(first_byte_at.map_or(self.deadline, |at| at + self.header));
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl Drop for RequestWait {
    fn drop(&mut self) {
        let mut activity = lock(&self.activity);
        if activity.waits == self.wait {
            activity.is_waiting = false;
        }
    }
}

impl hyper::rt::Sleep for RequestWait {}
