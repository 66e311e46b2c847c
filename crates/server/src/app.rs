//! Building the service from [`Settings`] and serving it. Production (`usher serve`) and the
//! tests build the same [`App`].

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{HeaderName, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use usher_core::access::{AccessTokens, Authenticator};
use usher_core::api_keys::ApiKeyService;
use usher_core::apps::AppService;
use usher_core::console_link::ConsoleLinks;
use usher_core::console_session::{ConsoleSessions, SessionSeal};
use usher_core::invite::InviteService;
use usher_core::join::JoinService;
use usher_core::members::MemberService;
use usher_core::reset::ResetService;
use usher_core::secret::CodeKey;
use usher_core::sign_in::SignInService;
use usher_core::signup::{SignupService, SignupTiming};
use usher_core::webhooks::WebhookService;
use usher_core::{Clock, Store, SystemClock};
use usher_mail::{DeliveryWorker, MailerConfig, WebhookWorker};

use crate::cors;
use crate::error::ApiError;
use crate::pages::Pages;
use crate::routes;
use crate::serve::{self, ConnectionTimeouts};
use crate::settings::Settings;
use crate::state::AppState;

/// Largest request body accepted; invitations and forms are tiny.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Name of the stored access-token signing secret.
const JWT_SECRET_NAME: &str = "jwt_signing_key";

/// The service, ready to serve.
pub struct App {
    state: AppState,
    worker: DeliveryWorker,
    webhooks: WebhookWorker,
    timeouts: ConnectionTimeouts,
    /// Where `/metrics` is served, when metrics are on.
    metrics_listener: Option<TcpListener>,
}

impl App {
    /// Opens the database (running migrations), loads or creates the signing secret and
    /// wires the services.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`App::build`] with a given clock (tests move time with a manual one).
    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        if settings.metrics_listen.is_some() {
            // Before anything records, so that the first requests and commits are counted.
            crate::metrics::install();
        }
        let store = usher_store::connect(settings.database_url.expose())
            .await
            .with_context(|| format!("cannot open database {}", settings.database_url))?;
        let jwt_secret = match &settings.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                let candidate = hex::encode(random_key());
                SecretString::from(
                    store.server_secret(JWT_SECRET_NAME, candidate).await.context("cannot load the signing secret")?,
                )
            }
        };
        let wake_worker = Arc::new(Notify::new());
        // Wakes the webhook worker when a change wrote events.
        let wake_webhooks = Arc::new(Notify::new());
        let mailer = MailerConfig::new(settings.public_url.clone(), settings.mail_from.clone(), &settings.mail_url)
            .with_dkim(settings.dkim.clone());
        let previews = Arc::new(usher_mail::Renderer::new(mailer.clone()).context("email templates do not compile")?);
        let concurrency = settings.mail_worker.concurrency;
        let transport = usher_mail::transport(&settings.mail_url, settings.mail_from.domain(), concurrency)
            .context("cannot set up mail transport")?;
        let worker = DeliveryWorker::new(
            store.clone(),
            transport,
            mailer,
            clock.clone(),
            wake_worker.clone(),
            wake_webhooks.clone(),
            settings.mail_worker,
        )
        .context("email templates do not compile")?;
        let tokens = Arc::new(AccessTokens::new(&jwt_secret, settings.access_token_ttl));
        let sign_in = Arc::new(SignInService::new(store.clone(), clock.clone(), tokens.clone()));
        let state = AppState {
            mail: previews,
            auth: Arc::new(Authenticator::new(store.clone(), clock.clone(), tokens.clone())),
            apps: Arc::new(AppService::new(store.clone(), clock.clone())),
            keys: Arc::new(ApiKeyService::new(store.clone(), clock.clone())),
            console_links: Arc::new(ConsoleLinks::new(store.clone(), clock.clone())),
            console_seal: Arc::new(SessionSeal::new(jwt_secret.expose_secret().as_bytes(), settings.console_idle)),
            // A console session lasts at most as long as an access token would.
            console_sessions: Arc::new(ConsoleSessions::new(
                store.clone(),
                clock.clone(),
                settings.console_idle,
                settings.access_token_ttl,
            )),
            invites: Arc::new(InviteService::new(
                store.clone(),
                clock.clone(),
                settings.resend_interval,
                wake_worker.clone(),
                wake_webhooks.clone(),
            )),
            joins: Arc::new(JoinService::new(
                store.clone(),
                clock.clone(),
                tokens.clone(),
                sign_in.clone(),
                wake_webhooks.clone(),
            )),
            members: Arc::new(MemberService::new(store.clone(), clock.clone(), wake_webhooks.clone())),
            resets: Arc::new(ResetService::new(
                store.clone(),
                clock.clone(),
                settings.resend_interval,
                wake_worker.clone(),
            )),
            signups: Arc::new(SignupService::new(
                store.clone(),
                clock.clone(),
                tokens.clone(),
                SignupTiming { resend_interval: settings.resend_interval, code_ttl: settings.signup_code_ttl },
                CodeKey::derive(jwt_secret.expose_secret().as_bytes()),
                wake_worker.clone(),
            )),
            webhooks: Arc::new(WebhookService::new(
                store.clone(),
                clock.clone(),
                settings.webhook_allow_private,
                wake_webhooks.clone(),
            )),
            sign_in,
            pages: Arc::new(Pages::new().context("page templates do not compile")?),
            public_url: settings.public_url.clone(),
            store,
            clock,
            delivery: worker.status(),
        };
        let webhooks = WebhookWorker::new(
            state.store.clone(),
            state.clock.clone(),
            settings.webhook_allow_private,
            wake_webhooks,
            settings.webhook_poll,
        )
        .context("cannot set up the webhook client")?;
        Ok(Self { state, worker, webhooks, timeouts: settings.connection_timeouts, metrics_listener: None })
    }

    /// The data store, for commands that act on it directly (e.g. creating the first app).
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Serves Prometheus metrics at `/metrics` on `listener` too (see [`crate::metrics`]),
    /// from [`App::serve`] until its shutdown.
    #[must_use]
    pub fn with_metrics_listener(mut self, listener: TcpListener) -> Self {
        crate::metrics::install();
        self.metrics_listener = Some(listener);
        self
    }

    /// The HTTP router with all routes and layers.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` and runs the delivery worker until `shutdown` completes; in-flight
    /// requests finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(());
        let router = self.router();
        let resets = self.state.resets.clone();
        let mut worker_stop = stop_rx.clone();
        let worker = self.worker.spawn(async move {
            let _ = worker_stop.changed().await;
        })?;
        let mut webhooks_stop = stop_rx.clone();
        let webhooks = tokio::spawn(self.webhooks.run(async move {
            let _ = webhooks_stop.changed().await;
        }));
        let metrics = self.metrics_listener.map(|listener| {
            let mut metrics_stop = stop_rx.clone();
            let router = crate::metrics::router(self.state.store.clone());
            tokio::spawn(serve::serve(listener, router, self.timeouts, async move {
                let _ = metrics_stop.changed().await;
            }))
        });
        serve::serve(listener, router, self.timeouts, async move {
            shutdown.await;
            let _ = stop_tx.send(());
        })
        .await;
        drop(stop_rx);
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        // Reset requests are answered before their store work runs (core::reset); it runs to
        // the end like the requests themselves.
        resets.finish_pending().await;
        if webhooks.await.is_err() {
            tracing::error!("webhook worker stopped abnormally");
        }
        match tokio::task::spawn_blocking(move || worker.join()).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("delivery worker stopped abnormally"),
        }
        Ok(())
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).expect("the operating system's random source is available");
    key
}

fn router(state: AppState) -> Router {
    let (routes, _) = routes::openapi::routes().split_for_parts();
    routes
        .merge(routes::console::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors::layer(state.clone()))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(
            // One line per request, when it is answered (status and latency), in a span with
            // the request id and the route template. Spans carry the path only: query strings
            // hold tokens, headers hold credentials.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let route = req.extensions().get::<MatchedPath>().map_or("(no route)", MatchedPath::as_str);
                    let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
                    tracing::info_span!(
                        "request",
                        request_id = id.unwrap_or_default(),
                        method = %req.method(),
                        route,
                        path = %req.uri().path(),
                    )
                })
                .on_response(|response: &Response, latency: std::time::Duration, _: &tracing::Span| {
                    let latency_ms = latency.as_secs_f64() * 1000.0;
                    tracing::info!(status = response.status().as_u16(), latency_ms, "answered");
                }),
        )
        // The request id: the caller's `X-Request-Id` when it sends a usable one, else a new
        // one; echoed in the response so a report can be matched with the log line.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
        .with_state(state)
}

/// Removes an `X-Request-Id` that is too long or carries more than letters, digits and
/// `-_.:`, so a new id replaces it instead of a client writing whatever it likes into the logs.
async fn drop_unusable_request_id<B>(mut req: Request<B>) -> Request<B> {
    let usable =
        |id: &[u8]| (1..=64).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
    if req.headers().get(&REQUEST_ID).is_some_and(|id| !usable(id.as_bytes())) {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids: 16 random bytes in hex.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).ok()?;
        HeaderValue::from_str(&hex::encode(bytes)).ok().map(RequestId::new)
    }
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::Internal("a request handler panicked".into()).into_response()
}
