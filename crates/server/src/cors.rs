//! CORS: browsers may call an app's API from the origins that may act for it (`origin.rs`):
//! the app's own (that of its `app_url` and its configured extra origins) and Usher's pages.

use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use usher_core::AppId;

use crate::origin;
use crate::state::AppState;

/// The CORS layer for `state`'s apps.
pub fn layer(state: AppState) -> CorsLayer {
    let allow = AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &Parts| {
        let app_id = app_id_in_path(parts.uri.path()).and_then(|id| AppId::parse(id).ok());
        let state = state.clone();
        async move {
            let Ok(origin) = origin.to_str() else { return false };
            // Usher's own pages need no look-up; any other origin must be one of the app's.
            if origin::is_usher_origin(origin, &state.public_url) {
                return true;
            }
            let Some(app_id) = app_id else { return false };
            match state.apps.get(&app_id).await {
                Ok(app) => app.is_some_and(|app| origin::is_app_origin(&app, origin, &state.public_url)),
                Err(err) => {
                    // The request itself then fails with the same error; this says why CORS did.
                    tracing::warn!(error = ?err, "CORS could not read the app");
                    false
                }
            }
        }
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-app-id"),
            HeaderName::from_static("x-origin-url"),
            HeaderName::from_static("x-base44-anonymous-id"),
            HeaderName::from_static("on-behalf-of"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

/// The app id in `/api/apps/{id}/…` or `/api/apps/public/prod/public-settings/by-id/{id}`.
fn app_id_in_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/apps/")?;
    match rest.strip_prefix("public/prod/public-settings/by-id/") {
        Some(id) => Some(id.trim_end_matches('/')),
        None => rest.split('/').next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_in_path_finds_the_id_of_both_route_shapes() {
        assert_eq!(app_id_in_path("/api/apps/abc/entities/User/me"), Some("abc"));
        assert_eq!(app_id_in_path("/api/apps/public/prod/public-settings/by-id/abc"), Some("abc"));
        assert_eq!(app_id_in_path("/healthz"), None);
    }
}
