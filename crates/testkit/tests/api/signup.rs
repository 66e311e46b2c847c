//! Sign-up with a one-time code: invitation-only by default, open when the app says so.

use std::time::Duration;

use base44::Role;
use serde_json::{Value, json};
use usher_core::model::AppSettings;
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";

async fn post(app: &TestApp, app_id: &str, route: &str, body: Value) -> reqwest::Response {
    app.http().post(app.url(&format!("/api/apps/{app_id}/auth/{route}"))).json(&body).send().await.expect("request")
}

/// The code in the newest of `count` emails to `email`.
async fn code(app: &TestApp, email: &str, count: usize) -> String {
    let text = app.mail.wait_for_nth(email, count).await.text();
    text.split_whitespace().find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit())).expect("a code").to_owned()
}

async fn open_app(app: &TestApp) -> String {
    app.create_other_app_with("Open Club", AppSettings { is_signup_open: true, ..AppSettings::default() }).await.0
}

#[tokio::test]
async fn register_is_refused_for_an_uninvited_address_when_the_app_is_invitation_only() {
    let app = TestApp::spawn().await;

    let refused =
        post(&app, &app.app_id, "register", json!({ "email": "eve@example.com", "password": PASSWORD })).await;

    assert_error(refused, 403, "SIGNUP_INVITATION_ONLY").await;
    assert!(app.mail.to("eve@example.com").is_empty());
}

#[tokio::test]
async fn register_then_verify_otp_creates_a_verified_member_with_the_invited_role() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::Admin).await.expect("invite");
    app.mail.wait_for("ada@example.com").await;

    let registered =
        post(&app, &app.app_id, "register", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let code = code(&app, "ada@example.com", 2).await;
    let verified = post(&app, &app.app_id, "verify-otp", json!({ "email": "ada@example.com", "otp_code": code })).await;

    assert_eq!(registered.status(), 200);
    assert_eq!(verified.status(), 200);
    let body: Value = verified.json().await.expect("json");
    assert_eq!((body["user"]["role"].as_str(), body["user"]["is_verified"].as_bool()), (Some("admin"), Some(true)));
    let login = post(&app, &app.app_id, "login", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_eq!(login.status(), 200);
    let again = app.client().users().invite_user("ada@example.com", Role::User).await.expect("re-invite");
    assert_eq!(again.outcome(), base44::InviteOutcome::AlreadyMember, "the invitation was used");
}

#[tokio::test]
async fn verify_otp_refuses_wrong_expired_and_too_many_codes() {
    let app = TestApp::spawn().await;
    let open = open_app(&app).await;
    post(&app, &open, "register", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let right = code(&app, "ada@example.com", 1).await;
    let wrong = if right == "000000" { "111111" } else { "000000" };

    let first_wrong = post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": wrong })).await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let expired = post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": right })).await;

    assert_error(first_wrong, 400, "INVALID_OTP").await;
    assert_error(expired, 410, "OTP_EXPIRED").await;
    assert_eq!(post(&app, &open, "resend-otp", json!({ "email": "ada@example.com" })).await.status(), 200);
    let fresh = code(&app, "ada@example.com", 2).await;
    for _ in 0..5 {
        post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": wrong })).await;
    }
    let blocked = post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": fresh })).await;
    assert_error(blocked, 429, "TOO_MANY_ATTEMPTS").await;
}

#[tokio::test]
async fn resend_otp_sends_a_new_code_that_works() {
    let app = TestApp::spawn().await;
    let open = open_app(&app).await;
    post(&app, &open, "register", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let first = code(&app, "ada@example.com", 1).await;

    assert_eq!(post(&app, &open, "resend-otp", json!({ "email": "ada@example.com" })).await.status(), 200);
    let second = code(&app, "ada@example.com", 2).await;
    let verified = post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": second })).await;

    assert_eq!(verified.status(), 200);
    let _ = first;
    let body: Value = verified.json().await.expect("json");
    assert_eq!(body["user"]["role"], "user");
}

#[tokio::test]
async fn register_answers_members_and_strangers_identically() {
    let app = TestApp::spawn().await;
    let open = open_app(&app).await;
    post(&app, &open, "register", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let code = code(&app, "ada@example.com", 1).await;
    post(&app, &open, "verify-otp", json!({ "email": "ada@example.com", "otp_code": code })).await;

    let member = post(&app, &open, "register", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let stranger = post(&app, &open, "register", json!({ "email": "bob@example.com", "password": PASSWORD })).await;

    assert_eq!((member.status(), stranger.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    assert_eq!(member.json::<Value>().await.expect("json"), stranger.json::<Value>().await.expect("json"));
    let note = app.mail.wait_for_nth("ada@example.com", 2).await;
    assert!(note.header("Subject").is_some_and(|s| s.contains("already have")), "the member is told, not sent a code");
}

#[tokio::test]
async fn register_refuses_bad_addresses_and_weak_passwords() {
    let app = TestApp::spawn().await;
    let open = open_app(&app).await;

    let bad_email = post(&app, &open, "register", json!({ "email": "not an address", "password": PASSWORD })).await;
    let weak = post(&app, &open, "register", json!({ "email": "ada@example.com", "password": "short" })).await;

    assert_error(bad_email, 400, "INVALID_EMAIL").await;
    assert_error(weak, 400, "WEAK_PASSWORD").await;
}
