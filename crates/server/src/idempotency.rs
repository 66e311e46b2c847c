//! `Idempotency-Key` on the routes that write (invite, bulk invite, re-send, revoke): the first
//! request with a key runs and its response is stored for 24 hours; a repeat with the same
//! body gets that response again with `Idempotency-Replayed: true`, without running.
//! Which of these a keyed request gets is decided in `core` (`rules::idempotency::claim_key`).
//!
//! A keyed request that reaches the store hands it its key and how to render its response
//! ([`usher_core::idempotency::Keyed`]): the store writes that response in the transaction
//! that does the work, so a crash cannot leave one without the other. A request refused
//! before the store wrote nothing; its response is stored here afterwards. 429 and 5xx
//! responses are not kept (`rules::idempotency::keeps`): the key is released and a retry
//! runs again.

use std::future::Future;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use usher_core::AppId;
use usher_core::idempotency::{Claimed, KeyClaim, fingerprint, is_valid_key};
use usher_core::rules::idempotency::{Completion, StoredResponse, complete};

use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub(crate) const KEY_HEADER: &str = "idempotency-key";

/// The response header of a replay.
pub(crate) const REPLAYED_HEADER: &str = "idempotency-replayed";

/// Largest body stored for a replay; larger responses are never produced by these routes.
const MAX_STORED: usize = 16 * 1024 * 1024;

/// Test-only: with this variable naming a file, a keyed request that has done its work creates
/// the file and then never answers, so a test can kill the server at exactly that point (after
/// the commit, before the response) and check what a restart makes of the key.
const PAUSE_ENV: &str = "USHER_TEST_PAUSE_AFTER_KEYED_WRITE";

/// Runs `run` under the request's `Idempotency-Key`, if it has one; `run` gets the key it has
/// claimed, to hand to the store with how to render its response. `route` names the operation
/// and `body` is the request as parsed; both make the fingerprint a repeat must match.
pub(crate) async fn keyed<F: Future<Output = Response>>(
    state: &AppState,
    app_id: &AppId,
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
    run: impl FnOnce(Option<String>) -> F,
) -> Response {
    let Some(raw) = headers.get(KEY_HEADER) else { return run(None).await };
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
    let response = run(Some(key.clone())).await;
    pause_after_keyed_write(&key).await;
    if !usher_core::rules::idempotency::keeps(response.status().as_u16()) {
        // Nothing was done (a store failure rolls back), or not now (429): a retry with the key
        // runs again. A claim the store released already is not there to release.
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
    // A request that reached the store has its response stored with its work already; this
    // stores the response of one refused before it (and changes nothing otherwise).
    let stored = StoredResponse { status: parts.status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned() };
    if let Err(err) = state.store.complete_key(app_id, &key, stored).await {
        // The work is done; the key stays locked for a minute, then a repeat runs again.
        tracing::warn!(error = %err, "could not store the response of an Idempotency-Key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Test-only (see [`PAUSE_ENV`]): with the variable set, a keyed request whose work is done
/// (`key` names it) creates the file and never answers.
pub(crate) async fn pause_after_keyed_write(key: &str) {
    if let Some(path) = std::env::var_os(PAUSE_ENV) {
        if let Err(err) = std::fs::write(&path, key.as_bytes()) {
            tracing::warn!(error = %err, "could not write the pause file");
        }
        std::future::pending::<()>().await;
    }
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

/// The response a successful keyed request stores: 200 and `value` as JSON, byte for byte what
/// `Json(value)` answers.
pub(crate) fn stored_json<T: Serialize>(value: &T) -> StoredResponse {
    match serde_json::to_string(value) {
        Ok(body) => StoredResponse { status: StatusCode::OK.as_u16(), body },
        // Not kept (see `rules::idempotency::keeps`): the retry runs again.
        Err(_) => StoredResponse { status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(), body: String::new() },
    }
}

/// The response a keyed request refused with `err` stores: what `err.into_response()` answers.
pub(crate) fn stored_error(err: ApiError) -> StoredResponse {
    let (status, _) = err.status_and_code();
    match complete(StoredResponse { status: status.as_u16(), body: String::new() }) {
        // Neither body nor headers are kept of a 429 or 5xx.
        Completion::Release => StoredResponse { status: status.as_u16(), body: String::new() },
        Completion::Store(_) => StoredResponse { status: status.as_u16(), body: err.body_json() },
    }
}
