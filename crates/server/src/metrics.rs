//! Prometheus metrics: the recorder every crate's `metrics::counter!`/`histogram!` calls feed,
//! the HTTP middleware that counts requests by route template, and the `/metrics` router that
//! `usher serve` puts on its own listener (`USHER_METRICS_LISTEN`), never on the public one.
//!
//! Without that setting no recorder is installed, and the `metrics` macros do nothing. The
//! names and their meanings are listed in docs/operations.md.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use usher_core::Store;
use usher_core::invite::InviteOutcome;

use crate::error::ApiError;

/// Latency buckets, in seconds: from a cached lookup to an SMTP server that took its time.
const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Delivery latency buckets, in seconds: from the invite to the SMTP server's acceptance, which
/// includes retries (hours).
const DELIVERY_BUCKETS: &[f64] =
    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0];
/// Group-commit batch sizes.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// How long a scrape waits for the outbox backlog before it reports the rest without it.
const BACKLOG_PATIENCE: Duration = Duration::from_secs(2);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// Whether a recorder is installed, so the request middleware skips its work otherwise.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Installs the process-wide Prometheus recorder (once; later calls, e.g. from several
/// in-process test servers, share it) and sets `usher_build_info`.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("usher_mail_delivery_latency_seconds".into()), DELIVERY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS))
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("usher_store_commit_batch_size".into()), BATCH_BUCKETS)
                })
                .expect("the bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first, which nothing here does.
            if metrics::set_global_recorder(recorder).is_ok() {
                ENABLED.store(true, Ordering::Relaxed);
                describe();
                metrics::gauge!("usher_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            }
            handle
        })
        .clone()
}

/// The help texts shown in the scrape.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("usher_build_info", "Always 1; the label `version` is this build's version.");
    describe_counter!("usher_http_requests_total", "HTTP requests answered, by method, route template and status.");
    describe_histogram!(
        "usher_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by method and route template."
    );
    describe_counter!(
        "usher_invites_total",
        "Invites (single, bulk rows, re-sends) by outcome: created, resent, already_member, or refused with its code."
    );
    describe_gauge!(
        "usher_outbox_messages",
        "Outbox messages not yet settled, by status (queued, sending), all instances."
    );
    describe_counter!(
        "usher_mail_delivery_attempts_total",
        "Delivery attempts by result: sent, retry (will be tried again), failed (for good)."
    );
    describe_histogram!(
        "usher_mail_delivery_latency_seconds",
        Unit::Seconds,
        "Time from an email's queueing (the invite) to its acceptance by the mail server, retries included."
    );
    describe_histogram!(
        "usher_store_commit_duration_seconds",
        Unit::Seconds,
        "Duration of one group-commit transaction of the store's writer, by backend."
    );
    describe_histogram!("usher_store_commit_batch_size", "Writes shared by one group-commit transaction, by backend.");
    describe_counter!(
        "usher_sign_in_throttled_total",
        "Sign-in attempts refused by the throttle (429 TOO_MANY_ATTEMPTS), by operation: sign_in, change_password."
    );
}

/// The router of the metrics listener: `GET /metrics` in the Prometheus text format.
pub fn router(store: std::sync::Arc<dyn Store>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(store)
}

/// Renders every metric, after reading the outbox backlog (shared by all instances) afresh.
async fn scrape(State(store): State<std::sync::Arc<dyn Store>>) -> Response {
    match tokio::time::timeout(BACKLOG_PATIENCE, store.outbox_backlog()).await {
        Ok(Ok(backlog)) => {
            metrics::gauge!("usher_outbox_messages", "status" => "queued").set(backlog.queued as f64);
            metrics::gauge!("usher_outbox_messages", "status" => "sending").set(backlog.sending as f64);
        }
        // The gauge keeps its last value; the scrape itself still answers.
        Ok(Err(error)) => tracing::warn!(error = %error, "metrics: cannot read the outbox backlog"),
        Err(_) => tracing::warn!("metrics: the outbox backlog took over {} s", BACKLOG_PATIENCE.as_secs()),
    }
    let Some(handle) = HANDLE.get() else {
        return (axum::http::StatusCode::NOT_FOUND, "metrics are off").into_response();
    };
    handle.run_upkeep();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

/// Middleware: counts each request by method, route template (never the path: it holds ids
/// and tokens) and status, and times it.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    if !ENABLED.load(Ordering::Relaxed) {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map_or("(no route)", MatchedPath::as_str).to_owned();
    // Clients choose the method: anything unusual is counted as one, so the series stay few.
    let method = match *request.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            request.method().as_str().to_owned()
        }
        _ => "other".to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("usher_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("usher_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Counts one invite by what it did, or by the code it was refused with.
pub(crate) fn count_invite(result: Result<&InviteOutcome, &ApiError>) {
    let outcome = match result {
        Ok(InviteOutcome::Created(_)) => "created",
        Ok(InviteOutcome::Resent(_)) => "resent",
        Ok(InviteOutcome::AlreadyMember { .. }) => "already_member",
        Err(error) => {
            let (_, code) = error.status_and_code();
            metrics::counter!("usher_invites_total", "outcome" => "refused", "code" => code).increment(1);
            return;
        }
    };
    metrics::counter!("usher_invites_total", "outcome" => outcome).increment(1);
}
