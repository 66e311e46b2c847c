//! The OpenAPI 3.1 description of every route, generated from the handlers' annotations: the
//! router and the document are built from the same registrations, so they cannot drift apart.

use std::sync::OnceLock;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use usher_api_types as api;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Usher",
        description = "Self-hosted invitations and sign-in behind the Base44 SDK's `users`, `auth` and `entities.User` modules. Every error is JSON `{message, code, detail}`; API keys (`Authorization: Bearer usk_…`) act with admin power in their app."
    ),
    components(schemas(api::ErrorBody, api::Role, api::InviteOutcome, api::EmailDelivery, api::MemberSummary))
)]
struct ApiDoc;

/// Every route of the service, with its description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::health::router())
        .merge(super::home::router())
        .merge(super::invitations::router())
        .merge(super::users::router())
        .merge(super::join::router())
        .merge(super::auth::router())
        .merge(super::public::router())
        .merge(super::reset::router())
        .merge(super::signup::router())
        .merge(super::login::router())
        .merge(super::settings::router())
        .merge(super::keys::router())
        .routes(routes!(show_openapi))
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| routes().split_for_parts().1)
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3.1 description of every route", body = serde_json::Value)))]
async fn show_openapi() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(document()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emailed_links_lead_to_pages_the_router_serves() {
        let paths = &document().paths.paths;

        for path in [usher_mail::link::join_path("{app_id}"), usher_mail::link::reset_password_path("{app_id}")] {
            let item = paths.get(&path).unwrap_or_else(|| panic!("no route for emailed link {path}"));
            assert!(item.get.is_some() && item.post.is_some(), "{path} shows a form and takes its post");
        }
    }
}
