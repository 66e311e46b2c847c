//! Liveness and readiness.
//!
//! `/healthz` says the process answers and reaches its database: for a liveness probe, or a
//! person. `/readyz` says the instance can do its whole job: the database answers in time, its
//! schema is the one this build expects, and the delivery worker runs with a fresh
//! registration; for load balancers and orchestrators deciding where to send traffic.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use usher_api_types as api;

use crate::error::{ApiError, error_chain};
use crate::state::AppState;

/// How long `/readyz` waits for the database: a probe must get an answer, not hang with it.
const DATABASE_PATIENCE: Duration = Duration::from_secs(2);

/// `GET /healthz`, `GET /readyz`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// 200 once the server is serving and its database answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The server and its database answer", body = api::Health), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<api::Health>, ApiError> {
    state.store.has_apps().await?;
    Ok(Json(api::Health { status: "ok".to_owned() }))
}

/// 200 when this instance can serve and deliver: the database answers within 2 s, its schema
/// is fully migrated, and the delivery worker runs. Otherwise 503 `NOT_READY`, with each
/// check's state in `detail`.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready: `{status: \"ready\", checks: {database, migrations, delivery}}`", body = api::Readiness),
    (status = 503, description = "Not ready: `{message, code: \"NOT_READY\", detail: {database, migrations, delivery}}`, each check `ok` or the reason", body = api::ErrorBody),
))]
async fn readyz(State(state): State<AppState>) -> Response {
    let schema = match tokio::time::timeout(DATABASE_PATIENCE, state.store.schema_version()).await {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(err)) => {
            // The cause goes to the log, not to whoever asks: the probe is not authenticated.
            tracing::warn!(error = %error_chain(&err), "readiness: the database failed");
            Err("the database cannot be reached".to_owned())
        }
        Err(_) => Err(format!("the database did not answer within {} s", DATABASE_PATIENCE.as_secs())),
    };
    let migrations = match &schema {
        Ok(schema) if schema.applied == schema.expected => Ok(()),
        Ok(schema) => {
            Err(format!("the database schema is at version {}, this build expects {}", schema.applied, schema.expected))
        }
        Err(_) => Err("unknown: the database did not answer".to_owned()),
    };
    let checks = [
        ("database", schema.map(drop)),
        ("migrations", migrations),
        ("delivery", state.delivery.problem().map_or(Ok(()), Err)),
    ];
    let problems: Vec<&str> = checks.iter().filter_map(|(_, check)| check.as_ref().err().map(String::as_str)).collect();
    let states: BTreeMap<String, String> = checks
        .iter()
        .map(|(name, check)| ((*name).to_owned(), check.as_ref().err().map_or("ok", String::as_str).to_owned()))
        .collect();
    if problems.is_empty() {
        return Json(api::Readiness { status: "ready".to_owned(), checks: states }).into_response();
    }
    let body = api::ErrorBody {
        message: format!("not ready: {}", problems.join("; ")),
        code: "NOT_READY".into(),
        detail: Some(Value::Object(states.into_iter().map(|(name, state)| (name, Value::from(state))).collect())),
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
