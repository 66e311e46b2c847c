//! Signing in, `me`, the `User` entity, public settings and CORS.

use base44::Role;
use reqwest::Method;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";

/// Sends `method path` with `token` and an optional JSON body.
async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.http().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

fn entity(app: &TestApp, rest: &str) -> String {
    format!("/api/apps/{}/entities/User{rest}", app.app_id)
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let path = format!("/api/apps/{}/auth/login", app.app_id);
    app.http().post(app.url(&path)).json(&json!({ "email": email, "password": password })).send().await.expect("login")
}

#[tokio::test]
async fn login_returns_an_access_token_and_the_user_when_the_password_is_right() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::Admin).await;

    let response = login(&app, "ADA@example.com ", PASSWORD).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], "ada@example.com");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(app.anonymous().with_token(token).auth().me().await.expect("me").role, Role::Admin);
}

#[tokio::test]
async fn login_answers_unknown_addresses_and_wrong_passwords_identically() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;

    let wrong = login(&app, "ada@example.com", "not the password").await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    let malformed = login(&app, "not an address", PASSWORD).await;

    let wrong = assert_error(wrong, 401, "INVALID_CREDENTIALS").await;
    let unknown = assert_error(unknown, 401, "INVALID_CREDENTIALS").await;
    let malformed = assert_error(malformed, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(wrong, unknown);
    assert_eq!(unknown, malformed);
}

#[tokio::test]
async fn login_returns_429_with_retry_after_after_repeated_failures_for_one_address() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    for _ in 0..5 {
        assert_eq!(login(&app, "ada@example.com", "wrong password").await.status(), 401);
    }

    let blocked = login(&app, "ada@example.com", PASSWORD).await;

    assert!(blocked.headers().get("retry-after").is_some());
    assert_error(blocked, 429, "TOO_MANY_ATTEMPTS").await;
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_disabled_member_cannot_sign_in_or_act() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;
    let me: Value = call(&app, Method::GET, &entity(&app, "/me"), &token, None).await.json().await.expect("me");

    let disabled = call(
        &app,
        Method::PUT,
        &entity(&app, &format!("/{}", me["id"].as_str().expect("id"))),
        &app.api_key,
        Some(json!({ "disabled": true })),
    )
    .await;

    assert_eq!(disabled.status(), 200);
    assert_error(login(&app, "ada@example.com", PASSWORD).await, 403, "ACCOUNT_DISABLED").await;
    assert_error(call(&app, Method::GET, &entity(&app, "/me"), &token, None).await, 403, "ACCOUNT_DISABLED").await;
}

#[tokio::test]
async fn update_me_changes_name_and_custom_fields_but_never_role_email_or_disabled() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;

    let updated =
        call(&app, Method::PUT, &entity(&app, "/me"), &token, Some(json!({ "full_name": "Ada L", "team": "core" })))
            .await;

    let updated: Value = updated.json().await.expect("json");
    assert_eq!((updated["full_name"].as_str(), updated["team"].as_str()), (Some("Ada L"), Some("core")));
    for forbidden in [
        json!({ "role": "admin" }),
        json!({ "email": "x@example.com" }),
        json!({ "disabled": true }),
        json!({ "is_verified": false }),
    ] {
        let refused = call(&app, Method::PUT, &entity(&app, "/me"), &token, Some(forbidden)).await;
        assert_error(refused, 403, "FIELD_NOT_EDITABLE").await;
    }
    let me: Value = call(&app, Method::GET, &entity(&app, "/me"), &token, None).await.json().await.expect("me");
    assert_eq!((me["role"].as_str(), me["team"].as_str()), (Some("user"), Some("core")));
}

#[tokio::test]
async fn user_entity_lists_every_member_for_admins_and_only_oneself_for_members() {
    let app = TestApp::spawn().await;
    let ada = app.invite_and_join("ada@example.com", Role::User).await;
    app.invite_and_join("bob@example.com", Role::Admin).await;
    app.invite_and_join("cy@example.com", Role::User).await;

    let all: Vec<Value> =
        call(&app, Method::GET, &entity(&app, "?sort=-email"), &app.api_key, None).await.json().await.expect("list");
    let mine: Vec<Value> = call(&app, Method::GET, &entity(&app, ""), &ada, None).await.json().await.expect("list");

    let emails: Vec<&str> = all.iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails, ["cy@example.com", "bob@example.com", "ada@example.com"]);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["email"], "ada@example.com");
}

#[tokio::test]
async fn user_entity_filters_pages_projects_and_counts() {
    let app = TestApp::spawn().await;
    for (email, role) in [("a@example.com", Role::User), ("b@example.com", Role::Admin), ("c@example.com", Role::User)]
    {
        app.invite_and_join(email, role).await;
    }
    let q = urlencode(r#"{"role":"user"}"#);

    let users: Vec<Value> = call(
        &app,
        Method::GET,
        &entity(&app, &format!("?q={q}&sort=email&limit=1&skip=1&fields=email")),
        &app.api_key,
        None,
    )
    .await
    .json()
    .await
    .expect("filter");
    let count: Value = call(&app, Method::GET, &entity(&app, &format!("/count?q={q}")), &app.api_key, None)
        .await
        .json()
        .await
        .expect("count");
    let page: Value = call(&app, Method::GET, &entity(&app, "/v2/list?limit=2&sort=email"), &app.api_key, None)
        .await
        .json()
        .await
        .expect("page");
    let next = page["next_cursor"].as_str().expect("cursor");
    let rest: Value = call(
        &app,
        Method::GET,
        &entity(&app, &format!("/v2/list?limit=2&sort=email&cursor={next}")),
        &app.api_key,
        None,
    )
    .await
    .json()
    .await
    .expect("page");

    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "c@example.com");
    assert!(users[0].get("role").is_none(), "only the asked fields (and id)");
    assert!(users[0].get("id").is_some());
    assert_eq!(count["count"], 2);
    assert_eq!((page["items"].as_array().map(Vec::len), page["has_more"].as_bool()), (Some(2), Some(true)));
    assert_eq!((rest["items"][0]["email"].as_str(), rest["has_more"].as_bool()), (Some("c@example.com"), Some(false)));
    let bad = call(&app, Method::GET, &entity(&app, "?limit=zero"), &app.api_key, None).await;
    assert_error(bad, 400, "INVALID_QUERY").await;
}

#[tokio::test]
async fn user_entity_keeps_members_to_themselves_and_lets_admins_manage_everyone() {
    let app = TestApp::spawn().await;
    // An admin who stays, so Bob, once promoted, is not the last one.
    app.invite_and_join("root@example.com", Role::Admin).await;
    let ada = app.invite_and_join("ada@example.com", Role::User).await;
    let bob = app.invite_and_join("bob@example.com", Role::User).await;
    let bob_me: Value = call(&app, Method::GET, &entity(&app, "/me"), &bob, None).await.json().await.expect("me");
    let bob_path = entity(&app, &format!("/{}", bob_me["id"].as_str().expect("id")));

    assert_error(call(&app, Method::GET, &bob_path, &ada, None).await, 404, "USER_NOT_FOUND").await;
    assert_error(
        call(&app, Method::PUT, &bob_path, &ada, Some(json!({ "full_name": "Hacked" }))).await,
        404,
        "USER_NOT_FOUND",
    )
    .await;
    assert_error(call(&app, Method::DELETE, &bob_path, &bob, None).await, 403, "ADMIN_REQUIRED").await;
    let promoted: Value = call(&app, Method::PUT, &bob_path, &app.api_key, Some(json!({ "role": "admin" })))
        .await
        .json()
        .await
        .expect("update");
    assert_eq!(promoted["role"], "admin");
    assert_eq!(call(&app, Method::DELETE, &bob_path, &app.api_key, None).await.status(), 200);
    assert_error(call(&app, Method::GET, &bob_path, &app.api_key, None).await, 404, "USER_NOT_FOUND").await;
    assert_error(call(&app, Method::GET, &entity(&app, "/me"), &bob, None).await, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn the_last_active_admin_is_never_demoted_disabled_or_removed() {
    let app = TestApp::spawn().await;
    let ada = app.invite_and_join("ada@example.com", Role::Admin).await;
    let bob = app.invite_and_join("bob@example.com", Role::User).await;
    let id_of = |token: String| {
        let app = &app;
        async move {
            let me: Value = call(app, Method::GET, &entity(app, "/me"), &token, None).await.json().await.expect("me");
            entity(app, &format!("/{}", me["id"].as_str().expect("id")))
        }
    };
    let (ada_path, bob_path) = (id_of(ada.clone()).await, id_of(bob).await);

    // Neither the admin herself nor an API key may take the app's only admin away.
    for (token, change) in [
        (&ada, json!({ "role": "user" })),
        (&app.api_key, json!({ "disabled": true })),
        (&app.api_key, json!({ "_app_role": "user", "disabled": true })),
    ] {
        let refused = call(&app, Method::PUT, &ada_path, token, Some(change.clone())).await;
        let body = assert_error(refused, 409, "LAST_ADMIN").await;
        assert!(body["message"].as_str().expect("message").contains("last active admin"), "{change}: {body}");
    }
    assert_error(call(&app, Method::DELETE, &ada_path, &ada, None).await, 409, "LAST_ADMIN").await;
    assert_error(call(&app, Method::DELETE, &ada_path, &app.api_key, None).await, 409, "LAST_ADMIN").await;
    let renamed = call(&app, Method::PUT, &ada_path, &ada, Some(json!({ "full_name": "Ada L" }))).await;
    assert_eq!(renamed.status(), 200, "other changes to the last admin are fine");

    // With a second active admin, the first may go.
    let promoted = call(&app, Method::PUT, &bob_path, &ada, Some(json!({ "role": "admin" }))).await;
    assert_eq!(promoted.status(), 200);
    let demoted = call(&app, Method::PUT, &ada_path, &app.api_key, Some(json!({ "role": "user" }))).await;
    assert_eq!(demoted.status(), 200);
    assert_error(call(&app, Method::DELETE, &bob_path, &app.api_key, None).await, 409, "LAST_ADMIN").await;
    assert_eq!(call(&app, Method::DELETE, &ada_path, &app.api_key, None).await.status(), 200);
}

#[tokio::test]
async fn user_entity_refuses_creation_and_other_apps() {
    let app = TestApp::spawn().await;
    let (_, other_key) = app.create_other_app("Other").await;

    let created =
        call(&app, Method::POST, &entity(&app, ""), &app.api_key, Some(json!({ "email": "x@example.com" }))).await;
    let foreign = call(&app, Method::GET, &entity(&app, ""), &other_key, None).await;

    assert_error(created, 403, "USER_CREATION_NOT_ALLOWED").await;
    assert_error(foreign, 403, "WRONG_APP").await;
}

#[tokio::test]
async fn public_settings_need_no_credentials() {
    let app = TestApp::spawn().await;

    let response = app
        .http()
        .get(app.url(&format!("/api/apps/public/prod/public-settings/by-id/{}", app.app_id)))
        .send()
        .await
        .expect("GET");

    assert_eq!(response.status(), 200);
    let settings: Value = response.json().await.expect("json");
    assert_eq!((settings["id"].as_str(), settings["name"].as_str()), (Some(app.app_id.as_str()), Some("Acme Notes")));
    assert_eq!(settings["is_signup_open"], false);
}

#[tokio::test]
async fn cors_allows_the_apps_own_origin_and_no_other() {
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        app.http()
            .request(Method::OPTIONS, app.url(&entity(&app, "/me")))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization,x-app-id")
            .send()
    };

    let own = preflight("https://app.example.test").await.expect("preflight");
    let foreign = preflight("https://evil.example").await.expect("preflight");

    assert_eq!(
        own.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example.test")
    );
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn change_password_needs_the_current_password_and_the_members_own_id() {
    let app = TestApp::spawn().await;
    let ada = app.invite_and_join("ada@example.com", Role::User).await;
    let bob = app.invite_and_join("bob@example.com", Role::User).await;
    let me: Value = call(&app, Method::GET, &entity(&app, "/me"), &ada, None).await.json().await.expect("me");
    let bob_me: Value = call(&app, Method::GET, &entity(&app, "/me"), &bob, None).await.json().await.expect("me");
    let path = format!("/api/apps/{}/auth/change-password", app.app_id);
    let body = |user_id: &Value, current: &str, new: &str| {
        Some(json!({ "user_id": user_id, "current_password": current, "new_password": new }))
    };

    let wrong = call(&app, Method::POST, &path, &ada, body(&me["id"], "wrong password", "a brand new password")).await;
    let other = call(&app, Method::POST, &path, &ada, body(&bob_me["id"], PASSWORD, "a brand new password")).await;
    let weak = call(&app, Method::POST, &path, &ada, body(&me["id"], PASSWORD, "short")).await;
    let changed = call(&app, Method::POST, &path, &ada, body(&me["id"], PASSWORD, "a brand new password")).await;

    assert_error(wrong, 400, "INVALID_CURRENT_PASSWORD").await;
    assert_error(other, 403, "NOT_YOUR_ACCOUNT").await;
    assert_error(weak, 400, "WEAK_PASSWORD").await;
    assert_eq!(changed.status(), 200);

    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status(), 401);
    assert_eq!(login(&app, "ada@example.com", "a brand new password").await.status(), 200);
}
