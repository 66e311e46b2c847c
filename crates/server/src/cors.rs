//! CORS: browsers may call an app's API from the app's own origin (that of its `app_url`),
//! from its configured extra origins, and from Usher's own pages.

use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use usher_core::AppId;

use crate::state::AppState;

/// The CORS layer for `state`'s apps.
pub fn layer(state: AppState) -> CorsLayer {
    let allow = AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &Parts| {
        let app_id = app_id_in_path(parts.uri.path()).and_then(|id| AppId::parse(id).ok());
        let state = state.clone();
        async move {
            let Ok(origin) = origin.to_str() else { return false };
            if origin == state.public_url.origin().ascii_serialization() {
                return true;
            }
            let Some(app_id) = app_id else { return false };
            matches!(state.store.app(&app_id).await, Ok(Some(app)) if app.owns_origin(origin))
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
