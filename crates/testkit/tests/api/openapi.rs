//! The OpenAPI document: generated from the handlers, it describes every route the server
//! serves, and every route it describes is served.

use reqwest::Method;
use serde_json::Value;
use usher_testkit::TestApp;

#[tokio::test]
async fn openapi_describes_every_route_and_every_described_route_is_served() {
    let app = TestApp::spawn().await;

    let doc: Value =
        app.http().get(app.url("/api/openapi.json")).send().await.expect("GET").json().await.expect("json");

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    for expected in [
        ("POST", "/api/apps/{app_id}/runtime/users/invite-user"),
        ("POST", "/api/apps/{app_id}/users/invite-user"),
        ("GET", "/api/apps/{app_id}/entities/User/me"),
        ("POST", "/api/apps/{app_id}/invitations/bulk"),
        ("GET", "/apps/{app_id}/join"),
        ("GET", "/api/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/api/apps/{app_id}/webhooks"),
        ("GET", "/api/apps/{app_id}/webhooks"),
        ("DELETE", "/api/apps/{app_id}/webhooks/{webhook_id}"),
        ("POST", "/api/apps/{app_id}/webhooks/{webhook_id}/rotate-secret"),
        ("GET", "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries"),
        ("POST", "/api/apps/{app_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"),
    ] {
        assert!(operations.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing");
    }
    assert_eq!(operations.len(), 60, "every route of the router: {operations:?}");
    for (method, path) in &operations {
        let concrete = path
            .replace("{app_id}", &app.app_id)
            .replace("{invitation_id}", "0123456789abcdef01234567")
            .replace("{user_id}", "0123456789abcdef01234567")
            .replace("{key_id}", "0123456789abcdef01234567")
            .replace("{webhook_id}", "0123456789abcdef01234567")
            .replace("{delivery_id}", "msg_x");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = app
            .http()
            .request(method.clone(), app.url(&concrete))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {concrete} is described but not served");
        assert!(!(status == 404 && body.contains("\"NOT_FOUND\"")), "{method} {concrete} is described but not served");
    }
    let invite = &paths["/api/apps/{app_id}/runtime/users/invite-user"]["post"];
    assert!(invite["requestBody"].is_object() && invite["responses"]["4XX"].is_object(), "{invite}");
}

/// Routes anyone may call: the SDK's sign-in surface, public settings and analytics.
const OPEN_ROUTES: [&str; 10] = [
    "/api/apps/{app_id}/auth/login",
    "/api/apps/{app_id}/auth/register",
    "/api/apps/{app_id}/auth/verify-otp",
    "/api/apps/{app_id}/auth/resend-otp",
    "/api/apps/{app_id}/auth/reset-password-request",
    "/api/apps/{app_id}/auth/reset-password",
    "/api/apps/{app_id}/analytics/track/batch",
    "/api/apps/{app_id}/invitations/lookup",
    "/api/apps/{app_id}/invitations/accept",
    "/api/apps/public/prod/public-settings/by-id/{app_id}",
];

#[tokio::test]
async fn every_app_route_refuses_another_apps_key() {
    let app = TestApp::spawn().await;
    let (_, other_key) = app.create_other_app("Other").await;
    let doc: Value =
        app.http().get(app.url("/api/openapi.json")).send().await.expect("GET").json().await.expect("json");

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/apps/{app_id}/") || OPEN_ROUTES.contains(&path.as_str()) {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"].into_iter().filter(|m| item.get(*m).is_some()) {
            let concrete = path
                .replace("{app_id}", &app.app_id)
                .replace("{invitation_id}", "0123456789abcdef01234567")
                .replace("{user_id}", "0123456789abcdef01234567")
                .replace("{key_id}", "0123456789abcdef01234567");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = app
                .http()
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(&other_key)
                .json(&serde_json::json!({}))
                .send()
                .await
                .expect("request");

            assert_eq!(response.status(), 403, "{method} {path}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["code"], "WRONG_APP", "{method} {path}");
            checked += 1;
        }
    }
    assert_eq!(checked, 34, "every authenticated app route was checked");
}
