//! An app's settings: read, change (all or nothing), and their effect.

use base44::{InviteOutcome, Role};
use reqwest::Method;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

async fn settings(app: &TestApp, method: Method, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request =
        app.http().request(method, app.url(&format!("/api/apps/{}/settings", app.app_id))).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn settings_show_the_defaults_and_change_what_is_sent() {
    let app = TestApp::spawn().await;

    let defaults: Value = settings(&app, Method::GET, &app.api_key, None).await.json().await.expect("json");
    let changed = settings(
        &app,
        Method::PATCH,
        &app.api_key,
        Some(json!({ "invitation_ttl_seconds": 3600, "sender_name": "Acme Team", "invite_policy": "members", "cors_origins": ["https://admin.acme.test"] })),
    )
    .await;

    assert_eq!(
        (defaults["invitation_ttl_seconds"].as_u64(), defaults["invite_policy"].as_str()),
        (Some(7 * 24 * 3600), Some("admins"))
    );
    assert_eq!(changed.status(), 200);
    let invited = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let invitation = invited.invitation().expect("invitation");
    assert_eq!((invitation.expires_at - invitation.created_date).whole_seconds(), 3600, "expires one hour later");
    let mail = app.mail.wait_for("ada@example.com").await;
    assert!(mail.header("From").is_some_and(|f| f.contains("Acme Team")), "{:?}", mail.header("From"));
    let preflight = app
        .http()
        .request(Method::OPTIONS, app.url(&format!("/api/apps/{}/entities/User/me", app.app_id)))
        .header("Origin", "https://admin.acme.test")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://admin.acme.test")
    );
    let member = app.invite_and_join("bob@example.com", Role::User).await;
    let by_member = app
        .anonymous()
        .with_token(&member)
        .users()
        .invite_user("cy@example.com", Role::User)
        .await
        .expect("members may invite now");
    assert_eq!(by_member.outcome(), InviteOutcome::Created);
}

#[tokio::test]
async fn settings_refuse_bad_values_whole_and_members() {
    let app = TestApp::spawn().await;
    let member = app.invite_and_join("ada@example.com", Role::User).await;

    let bad =
        settings(&app, Method::PATCH, &app.api_key, Some(json!({ "name": "Renamed", "invitation_ttl_seconds": 1 })))
            .await;
    let unknown = settings(&app, Method::PATCH, &app.api_key, Some(json!({ "colour": "blue" }))).await;
    let as_member = settings(&app, Method::GET, &member, None).await;

    assert_eq!(assert_error(bad, 400, "INVALID_SETTING").await["detail"]["field"], "invitation_ttl_seconds");
    assert_error(unknown, 400, "INVALID_SETTING").await;
    assert_error(as_member, 403, "ADMIN_REQUIRED").await;
    let unchanged: Value = settings(&app, Method::GET, &app.api_key, None).await.json().await.expect("json");
    assert_eq!(unchanged["name"], "Acme Notes", "nothing was stored");
}
