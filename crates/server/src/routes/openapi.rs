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
        .merge(super::templates::router())
        .merge(super::keys::router())
        .merge(super::webhooks::router())
        .routes(routes!(show_openapi))
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| routes().split_for_parts().1)
}

/// The schema of this document's own answer: an OpenAPI 3.1 document (its full schema is the
/// OpenAPI specification's, not repeated here).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "only describes the answer; the document is utoipa's own type")]
struct OpenApiDocument {
    /// The OpenAPI version, `3.1.x`.
    openapi: String,
    /// Title, description and version of the API.
    info: utoipa::openapi::Object,
    /// Every route and its operations.
    paths: utoipa::openapi::Object,
    /// The schemas the operations refer to.
    components: Option<utoipa::openapi::Object>,
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3.1 description of every route", body = OpenApiDocument)))]
async fn show_openapi() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(document()))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Why `schema` (from `doc`) says nothing about the JSON it describes, if it does not:
    /// `{}` (what `serde_json::Value` gives), or an array, reference or choice that leads to
    /// one. The value of a free-form field inside a typed body may be anything.
    fn untyped(doc: &Value, schema: &Value, seen: &mut Vec<String>) -> Option<String> {
        if let Some(target) = schema["$ref"].as_str() {
            if seen.iter().any(|s| s == target) {
                return None;
            }
            seen.push(target.to_owned());
            let name = target.trim_start_matches("#/components/schemas/");
            let Some(resolved) = doc["components"]["schemas"].get(name) else {
                return Some(format!("{target} is not a component"));
            };
            return untyped(doc, resolved, seen).map(|why| format!("{target}: {why}"));
        }
        for choice in ["oneOf", "anyOf", "allOf"] {
            if let Some(arms) = schema[choice].as_array() {
                return arms.iter().find_map(|arm| untyped(doc, arm, seen));
            }
        }
        if schema["type"] == "array" || schema["type"].as_array().is_some_and(|t| t.contains(&"array".into())) {
            return untyped(doc, &schema["items"], seen).map(|why| format!("items: {why}"));
        }
        let says_something = ["type", "enum", "const", "properties"].iter().any(|key| schema.get(key).is_some());
        (!says_something).then(|| format!("untyped schema {schema}"))
    }

    #[test]
    fn every_request_and_response_body_has_a_typed_schema() {
        let doc = serde_json::to_value(document()).expect("the document serialises");
        let mut problems = Vec::new();
        let mut bodies = 0;

        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let request = operation["requestBody"]["content"].as_object().into_iter().flatten();
                let responses = operation["responses"].as_object().into_iter().flatten().flat_map(|(status, r)| {
                    r["content"].as_object().into_iter().flatten().map(move |(t, c)| (format!("{status} {t}"), c))
                });
                let request = request.map(|(t, c)| (format!("request {t}"), c));
                for (which, content) in request.chain(responses) {
                    bodies += 1;
                    if let Some(why) = untyped(&doc, &content["schema"], &mut Vec::new()) {
                        problems.push(format!("{method} {path} {which}: {why}"));
                    }
                }
            }
        }

        assert!(bodies > 90, "the walk found the bodies ({bodies})");
        assert!(problems.is_empty(), "bodies without a typed schema:\n{}", problems.join("\n"));
    }

    #[test]
    fn emailed_links_lead_to_pages_the_router_serves() {
        let paths = &document().paths.paths;

        for path in [usher_mail::link::join_path("{app_id}"), usher_mail::link::reset_password_path("{app_id}")] {
            let item = paths.get(&path).unwrap_or_else(|| panic!("no route for emailed link {path}"));
            assert!(item.get.is_some() && item.post.is_some(), "{path} shows a form and takes its post");
        }
    }
}
