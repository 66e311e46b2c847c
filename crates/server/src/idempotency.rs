//! `Idempotency-Key` on the routes that write (invite, bulk invite, re-send, revoke): the first
//! request with a key runs and its response is stored for 24 hours; a repeat with the same
//! body gets that response again with `Idempotency-Replayed: true`, without running.
//! Which of these a keyed request gets is decided in `core` (`rules::idempotency::claim_key`).

use std::future::Future;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use usher_core::AppId;
use usher_core::idempotency::{Claimed, KeyClaim, fingerprint, is_valid_key};
use usher_core::rules::idempotency::StoredResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub(crate) const KEY_HEADER: &str = "idempotency-key";

/// The response header of a replay.
pub(crate) const REPLAYED_HEADER: &str = "idempotency-replayed";

/// Largest body stored for a replay; larger responses are never produced by these routes.
const MAX_STORED: usize = 16 * 1024 * 1024;

/// Runs `run` under the request's `Idempotency-Key`, if it has one. `route` names the
/// operation and `body` is the request as parsed; both make the fingerprint a repeat must match.
pub(crate) async fn keyed(
    state: &AppState,
    app_id: &AppId,
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
    run: impl Future<Output = Response>,
) -> Response {
    let Some(raw) = headers.get(KEY_HEADER) else { return run.await };
    let Some(key) = raw.to_str().ok().filter(|key| is_valid_key(key)).map(str::to_owned) else {
        return ApiError::IdempotencyKeyInvalid.into_response();
    };
    let claim = KeyClaim {
        app_id: app_id.clone(),
        key: key.clone(),
        fingerprint: fingerprint(route, body),
        now: state.clock.now(),
    };
    match state.store.claim_key(claim).await {
        Err(err) => return ApiError::from(err).into_response(),
        Ok(Claimed::Replay(stored)) => return replay(stored),
        Ok(Claimed::Reused) => return ApiError::IdempotencyKeyReused.into_response(),
        Ok(Claimed::InUse) => return ApiError::IdempotencyKeyInUse.into_response(),
        Ok(Claimed::Fresh) => {}
    }
    let response = run.await;
    if response.status().is_server_error() {
        // Nothing was done (a store failure rolls back): a retry with the key runs again.
        if let Err(err) = state.store.release_key(app_id, &key).await {
            tracing::warn!(error = %err, "could not release an Idempotency-Key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_STORED).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::warn!(error = %err, "could not read a response to store under its Idempotency-Key");
            return ApiError::from(usher_core::StoreError::Backend(err.into())).into_response();
        }
    };
    let stored = StoredResponse { status: parts.status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned() };
    if let Err(err) = state.store.complete_key(app_id, &key, stored).await {
        // The work is done; the key stays locked for a minute, then a repeat runs again.
        tracing::warn!(error = %err, "could not store the response of an Idempotency-Key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A stored response, as first answered.
fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
