//! API keys (shown once, revoked at once, never the last) and the audit log.

use base44::Role;
use reqwest::Method;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::{assert_api_error, assert_error};

async fn call(app: &TestApp, method: Method, rest: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request =
        app.http().request(method, app.url(&format!("/api/apps/{}{rest}", app.app_id))).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_new_key_works_at_once_and_stops_at_once_when_revoked() {
    let app = TestApp::spawn().await;

    let created = call(&app, Method::POST, "/keys", &app.api_key, Some(json!({ "name": "ci" }))).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let key = created["api_key"].as_str().expect("shown once").to_owned();
    let listed: Value = call(&app, Method::GET, "/keys", &key, None).await.json().await.expect("json");
    let revoked =
        call(&app, Method::DELETE, &format!("/keys/{}", created["id"].as_str().expect("id")), &app.api_key, None).await;

    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains("usk_"), "listing never shows a secret");
    assert_eq!(revoked.status(), 200);
    assert_api_error(
        app.anonymous().with_token(&key).users().invite_user("a@example.com", Role::User).await,
        401,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn the_last_key_cannot_be_revoked_and_members_cannot_manage_keys() {
    let app = TestApp::spawn().await;
    let keys: Value = call(&app, Method::GET, "/keys", &app.api_key, None).await.json().await.expect("json");
    let only = keys["items"][0]["id"].as_str().expect("id").to_owned();
    let member = app.invite_and_join("ada@example.com", Role::User).await;

    assert_error(call(&app, Method::DELETE, &format!("/keys/{only}"), &app.api_key, None).await, 409, "LAST_API_KEY")
        .await;
    assert_error(call(&app, Method::GET, "/keys", &member, None).await, 403, "ADMIN_REQUIRED").await;
    assert_error(call(&app, Method::POST, "/keys", &member, Some(json!({ "name": "x" }))).await, 403, "ADMIN_REQUIRED")
        .await;
}

#[tokio::test]
async fn the_audit_log_records_who_invited_and_who_joined() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;

    let audit: Value = call(&app, Method::GET, "/audit?limit=2", &app.api_key, None).await.json().await.expect("json");

    let actions: Vec<&str> =
        audit["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["invitation.accepted", "invitation.created"]);
    assert_eq!(audit["items"][1]["actor"]["kind"], "api_key");
    assert_eq!(audit["items"][0]["actor"]["kind"], "user");
    assert_eq!(audit["has_more"], true, "app.created comes next");
    let rest: Value = call(
        &app,
        Method::GET,
        &format!("/audit?cursor={}", audit["next_cursor"].as_str().expect("cursor")),
        &app.api_key,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(rest["items"][0]["action"], "app.created");
}

#[tokio::test]
async fn settings_changes_and_template_overrides_are_audited_with_what_changed() {
    let app = TestApp::spawn().await;
    let admin = app.invite_and_join("root@example.com", Role::Admin).await;
    let template = json!({
        "subject": "Willkommen bei {{ app_name }}",
        "text": "{{ link }}",
        "html": "<a href=\"{{ link }}\">Beitreten</a>",
    });

    let changed = call(
        &app,
        Method::PATCH,
        "/settings",
        &app.api_key,
        Some(json!({ "locale": "de", "max_invites_per_day": 100, "invite_policy": "admins" })),
    )
    .await;
    // Nothing changes: no entry.
    let unchanged = call(&app, Method::PATCH, "/settings", &admin, Some(json!({ "locale": "de-AT" }))).await;
    let saved = call(&app, Method::PUT, "/templates/invitation/de", &admin, Some(template)).await;
    let removed = call(&app, Method::DELETE, "/templates/invitation/de", &app.api_key, None).await;
    let not_there = call(&app, Method::DELETE, "/templates/invitation/de", &app.api_key, None).await;

    assert_eq!(
        [changed.status(), unchanged.status(), saved.status(), removed.status(), not_there.status()]
            .map(|s| s.as_u16()),
        [200, 200, 200, 200, 404]
    );
    let audit: Value = call(&app, Method::GET, "/audit?limit=3", &app.api_key, None).await.json().await.expect("json");
    let items = audit["items"].as_array().expect("items");
    let entry = |action: &str| items.iter().find(|e| e["action"] == action).expect(action).clone();
    let settings = entry("app.settings_changed");
    assert_eq!(settings["detail"], json!({ "settings": { "locale": "de", "max_invites_per_day": 100 } }));
    assert_eq!(settings["actor"]["kind"], "api_key");
    let saved = entry("template.saved");
    assert_eq!(saved["detail"], json!({ "kind": "invitation", "locale": "de" }));
    assert_eq!(saved["actor"]["kind"], "user", "the admin who saved it");
    let removed = entry("template.removed");
    assert_eq!(removed["detail"], json!({ "kind": "invitation", "locale": "de" }));
    assert_eq!(items[0]["action"], "template.removed", "newest first");
    assert_eq!(items[2]["action"], "app.settings_changed", "one entry per change, none for a change of nothing");
    let joined: Value =
        call(&app, Method::GET, "/audit?limit=10", &app.api_key, None).await.json().await.expect("json");
    assert!(
        joined["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["detail"].is_null())
            .all(|e| e["action"].as_str().is_some_and(|a| a.starts_with("invitation.") || a == "app.created")),
        "other entries carry no detail: {joined}"
    );
}
