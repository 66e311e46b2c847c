//! `Idempotency-Key` on invite (both routes), bulk invite, re-send and revoke.

use std::time::Duration;

use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

/// Posts `body` to `path` with the API key and `key`.
async fn post_keyed(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http()
        .post(app.url(path))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request")
}

fn replayed(response: &reqwest::Response) -> bool {
    response.headers().get("idempotency-replayed").is_some_and(|v| v == "true")
}

/// The first app's invitations, as listed (also used by the row-key tests).
pub(crate) async fn invitations(app: &TestApp) -> Vec<Value> {
    let path = format!("/api/apps/{}/invitations", app.app_id);
    let page: Value = app
        .http()
        .get(app.url(&path))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_repeated_keyed_invite_is_replayed_without_inviting_again() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });

    let first = post_keyed(&app, &app.invite_path(), "import-1", &body).await;
    assert_eq!(first.status().as_u16(), 200);
    assert!(!replayed(&first));
    let first_body = first.text().await.expect("body");
    let second = post_keyed(&app, &app.invite_path(), "import-1", &body).await;

    assert_eq!(second.status().as_u16(), 200);
    assert!(replayed(&second));
    assert_eq!(second.text().await.expect("body"), first_body);
    assert!(first_body.contains("\"created\""), "{first_body}");
    assert_eq!(invitations(&app).await.len(), 1);
    // Without the key the same invite is a new request: a re-send.
    let unkeyed: Value = app.post_json(&app.invite_path(), &body).await.json().await.expect("json");
    assert_eq!(unkeyed["outcome"], "resent");
}

#[tokio::test]
async fn both_invite_routes_share_one_key() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });
    post_keyed(&app, &app.invite_path(), "k", &body).await;

    let other_route = post_keyed(&app, &format!("/api/apps/{}/users/invite-user", app.app_id), "k", &body).await;

    assert_eq!(other_route.status().as_u16(), 200);
    assert!(replayed(&other_route));
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_refused() {
    let app = TestApp::spawn().await;
    post_keyed(&app, &app.invite_path(), "k", &json!({ "user_email": "ada@example.com", "role": "user" })).await;

    let other =
        post_keyed(&app, &app.invite_path(), "k", &json!({ "user_email": "bob@example.com", "role": "user" })).await;

    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(invitations(&app).await.len(), 1);
}

#[tokio::test]
async fn a_refusal_is_replayed_as_well() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "owner" });

    assert_error(post_keyed(&app, &app.invite_path(), "k", &body).await, 400, "INVALID_ROLE").await;
    let again = post_keyed(&app, &app.invite_path(), "k", &body).await;

    assert!(replayed(&again));
    assert_error(again, 400, "INVALID_ROLE").await;
}

#[tokio::test]
async fn an_invalid_key_is_refused() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });

    let long = "k".repeat(256);
    assert_error(post_keyed(&app, &app.invite_path(), &long, &body).await, 400, "INVALID_IDEMPOTENCY_KEY").await;
    assert!(invitations(&app).await.is_empty());
}

#[tokio::test]
async fn a_key_expires_after_a_day() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });
    post_keyed(&app, &app.invite_path(), "k", &body).await;

    app.clock.advance(Duration::from_secs(24 * 3600));
    let again = post_keyed(&app, &app.invite_path(), "k", &body).await;

    assert!(!replayed(&again));
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["outcome"], "resent");
}

#[tokio::test]
async fn a_keyed_bulk_invite_is_replayed_whole() {
    let app = TestApp::spawn().await;
    let path = format!("/api/apps/{}/invitations/bulk", app.app_id);
    let body = json!({ "items": [
        { "user_email": "a@example.com", "role": "user" },
        { "user_email": "b@example.com", "role": "user" },
    ] });

    let first: Value = post_keyed(&app, &path, "bulk-1", &body).await.json().await.expect("json");
    let second = post_keyed(&app, &path, "bulk-1", &body).await;

    assert!(replayed(&second));
    let second: Value = second.json().await.expect("json");
    assert_eq!(second, first);
    assert_eq!(first["summary"]["created"], 2);
    assert_eq!(invitations(&app).await.len(), 2);
}

#[tokio::test]
async fn keyed_resend_and_revoke_are_replayed() {
    let app = TestApp::spawn().await;
    let created: Value = app
        .post_json(&app.invite_path(), &json!({ "user_email": "ada@example.com", "role": "user" }))
        .await
        .json()
        .await
        .expect("json");
    let id = created["invitation"]["id"].as_str().expect("id").to_owned();
    app.clock.advance(Duration::from_secs(3600));
    let resend = format!("/api/apps/{}/invitations/{id}/resend", app.app_id);
    let revoke = format!("/api/apps/{}/invitations/{id}/revoke", app.app_id);

    let resent = post_keyed(&app, &resend, "r", &json!({})).await;
    assert_eq!(resent.status().as_u16(), 200);
    let resent_again = post_keyed(&app, &resend, "r", &json!({})).await;
    assert!(replayed(&resent_again));
    assert_eq!(resent_again.status().as_u16(), 200);

    assert_eq!(post_keyed(&app, &revoke, "v", &json!({})).await.status().as_u16(), 200);
    let revoked_again = post_keyed(&app, &revoke, "v", &json!({})).await;
    assert!(replayed(&revoked_again));
    assert_eq!(revoked_again.status().as_u16(), 200, "not 409 INVITATION_NOT_PENDING");
    // A key names one operation: the revoke's key on the re-send is another request.
    assert_error(post_keyed(&app, &resend, "v", &json!({})).await, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

#[tokio::test]
async fn the_rust_sdk_sends_the_key_and_says_when_an_answer_is_a_replay() {
    let app = TestApp::spawn().await;
    let users = app.client();

    let first =
        users.users().invite_user_with_key("ada@example.com", base44::Role::User, "sdk-1").await.expect("first");
    let again =
        users.users().invite_user_with_key("ada@example.com", base44::Role::User, "sdk-1").await.expect("again");
    let other = users.users().invite_user_with_key("bob@example.com", base44::Role::User, "sdk-1").await;

    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.value.invitation().expect("invitation").id, first.value.invitation().expect("invitation").id);
    crate::support::assert_api_error(other, 422, "IDEMPOTENCY_KEY_REUSED");
    let id = first.value.invitation().expect("invitation").id.clone();
    let revoked = app.client().invitations().revoke_with_key(&id, "rv").await.expect("revoke");
    let revoked_again = app.client().invitations().revoke_with_key(&id, "rv").await.expect("replayed revoke");
    assert!(!revoked.replayed && revoked_again.replayed);
}

/// A 429 is not kept under its key (its `Retry-After` would be stale when replayed, and the
/// retry it asks for would be refused for a day): the repeat runs again, with a fresh
/// `Retry-After`, and once the throttle has passed the same key does the work.
#[tokio::test]
async fn a_throttled_request_is_not_kept_so_its_retry_runs_once_the_wait_is_over() {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });
    assert_eq!(app.post_json(&app.invite_path(), &body).await.status().as_u16(), 200);

    let first = post_keyed(&app, &app.invite_path(), "k", &body).await;
    let first_wait = first.headers().get("retry-after").cloned().expect("Retry-After on the 429");
    assert!(!replayed(&first));
    assert_error(first, 429, "RESEND_THROTTLED").await;
    let again = post_keyed(&app, &app.invite_path(), "k", &body).await;
    assert!(!replayed(&again), "a 429 is not replayed: the request ran again");
    assert!(again.headers().get("retry-after").is_some(), "its own Retry-After");
    assert_error(again, 429, "RESEND_THROTTLED").await;

    let wait: u64 = first_wait.to_str().expect("ascii").parse().expect("seconds");
    app.clock.advance(Duration::from_secs(wait));
    let after_wait = post_keyed(&app, &app.invite_path(), "k", &body).await;
    assert!(!replayed(&after_wait));
    let after_wait: Value = after_wait.json().await.expect("json");
    assert_eq!(after_wait["outcome"], "resent");
    let replay = post_keyed(&app, &app.invite_path(), "k", &body).await;
    assert!(replayed(&replay), "the 200 is kept");
    assert_eq!(replay.json::<Value>().await.expect("json"), after_wait);
    assert_eq!(invitations(&app).await[0]["times_sent"], 2);
}
