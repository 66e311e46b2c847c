//! Connection time limits, over raw TCP: a client that never finishes its headers, or sends
//! them a byte at a time, is cut off after the header timeout; an idle keep-alive connection
//! after the idle timeout; a body that stops coming after the header timeout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use usher_server::ConnectionTimeouts;
use usher_testkit::TestApp;

const HEADER: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(3);

async fn app() -> TestApp {
    TestApp::spawn_with(|s| s.connection_timeouts = ConnectionTimeouts { header: HEADER, idle: IDLE }).await
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = format!("{}:{}", app.base.host_str().expect("host"), app.base.port().expect("port"));
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (String::from_utf8_lossy(&received).into_owned(), Instant::now()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {limit:?}; received {received:?}"),
        }
    }
}

/// Reads one complete response to `GET /healthz` (its body is short and sent at once).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before the response");
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn connection_is_closed_when_headers_are_not_finished_within_the_header_timeout() {
    let app = app().await;
    let mut stream = connect(&app).await;
    let opened = Instant::now();

    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\n").await.expect("half the headers");
    let (_, closed) = read_until_closed(&mut stream, HEADER * 5).await;

    assert!(closed - opened >= HEADER - Duration::from_millis(100), "closed after {:?}", closed - opened);
}

#[tokio::test]
async fn connection_is_closed_when_headers_trickle_in_for_longer_than_the_header_timeout() {
    let app = app().await;
    let mut stream = connect(&app).await;
    let opened = Instant::now();
    let request =
        b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

    let mut is_closed = false;
    for byte in request {
        if stream.write_all(&[*byte]).await.is_err() {
            is_closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if opened.elapsed() > HEADER * 5 {
            break;
        }
    }
    let (received, closed) = read_until_closed(&mut stream, HEADER * 5).await;

    assert!(is_closed || !received.starts_with("HTTP/1.1 200"), "a trickled request was answered: {received}");
    assert!(closed - opened < HEADER * 5, "closed after {:?}", closed - opened);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let app = app().await;
    let mut stream = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\n\r\n";

    stream.write_all(request).await.expect("first request");
    let first = read_response(&mut stream).await;
    // Idle for longer than the header timeout, within the idle timeout: still open.
    tokio::time::sleep(HEADER * 2).await;
    stream.write_all(request).await.expect("second request");
    let second = read_response(&mut stream).await;
    let answered = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, IDLE * 3).await;

    assert!(first.starts_with("HTTP/1.1 200") && second.starts_with("HTTP/1.1 200"), "{first}\n{second}");
    let idle_for = closed - answered;
    assert!(idle_for >= IDLE - Duration::from_millis(200) && idle_for < IDLE * 2, "closed after {idle_for:?}");
}

#[tokio::test]
async fn request_is_refused_when_its_body_stops_for_longer_than_the_header_timeout() {
    let app = app().await;
    let mut stream = connect(&app).await;
    let path = app.invite_path();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: usher.test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user_email\"",
        app.api_key
    );

    stream.write_all(head.as_bytes()).await.expect("headers and the start of the body");
    let sent = Instant::now();
    let (received, closed) = read_until_closed(&mut stream, HEADER * 5).await;

    assert!(closed - sent < HEADER * 4, "closed after {:?}", closed - sent);
    assert!(received.starts_with("HTTP/1.1 400"), "{received}");
    assert!(received.contains("\"INVALID_BODY\"") && received.contains("application/json"), "{received}");
}
