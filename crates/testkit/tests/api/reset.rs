//! Forgotten passwords: the request answers the same for anyone; the emailed link works once.

use std::time::Duration;

use base44::Role;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new password";

async fn post(app: &TestApp, route: &str, body: Value) -> reqwest::Response {
    let path = format!("/api/apps/{}/auth/{route}", app.app_id);
    app.http().post(app.url(&path)).json(&body).send().await.expect("request")
}

/// Asks for a reset of `email` and returns the token from the emailed link.
async fn reset_token(app: &TestApp, email: &str, mails_before: usize) -> String {
    assert_eq!(post(app, "reset-password-request", json!({ "email": email })).await.status(), 200);
    let link = app.mail.wait_for_nth(email, mails_before + 1).await.link_containing("/reset-password?token=");
    link.split("token=").nth(1).expect("token").to_owned()
}

#[tokio::test]
async fn reset_request_answers_members_and_strangers_identically() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;

    let member = post(&app, "reset-password-request", json!({ "email": "ada@example.com" })).await;
    let stranger = post(&app, "reset-password-request", json!({ "email": "nobody@example.com" })).await;
    let malformed = post(&app, "reset-password-request", json!({ "email": "not an address" })).await;

    let (member_status, stranger_status, malformed_status) = (member.status(), stranger.status(), malformed.status());
    let member: Value = member.json().await.expect("json");
    assert!([member_status, stranger_status, malformed_status].iter().all(|status| *status == 200));
    assert_eq!(member, stranger.json::<Value>().await.expect("json"));
    assert_eq!(member, malformed.json::<Value>().await.expect("json"));
    app.mail.wait_for_count("ada@example.com", 2).await;
    assert!(app.mail.to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn reset_link_sets_a_new_password_once() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let token = reset_token(&app, "ada@example.com", 1).await;

    let reset = post(&app, "reset-password", json!({ "reset_token": token, "new_password": NEW_PASSWORD })).await;
    let reused =
        post(&app, "reset-password", json!({ "reset_token": token, "new_password": "yet another password" })).await;

    assert_eq!(reset.status(), 200);
    assert_error(reused, 410, "RESET_TOKEN_USED").await;
    let login =
        |password: &'static str| post(&app, "login", json!({ "email": "ada@example.com", "password": password }));
    assert_eq!(login(PASSWORD).await.status(), 401);
    assert_eq!(login(NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn reset_link_is_refused_when_expired_unknown_weak_or_of_another_app() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let token = reset_token(&app, "ada@example.com", 1).await;
    let (other_id, _) = app.create_other_app("Other").await;

    let weak = post(&app, "reset-password", json!({ "reset_token": token, "new_password": "short" })).await;
    let elsewhere = app
        .http()
        .post(app.url(&format!("/api/apps/{other_id}/auth/reset-password")))
        .json(&json!({ "reset_token": token, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .expect("request");
    let unknown = post(
        &app,
        "reset-password",
        json!({ "reset_token": format!("rst_{}", "0".repeat(64)), "new_password": NEW_PASSWORD }),
    )
    .await;
    app.clock.advance(Duration::from_secs(61 * 60));
    let expired = post(&app, "reset-password", json!({ "reset_token": token, "new_password": NEW_PASSWORD })).await;

    assert_error(weak, 400, "WEAK_PASSWORD").await;
    assert_error(elsewhere, 400, "INVALID_RESET_TOKEN").await;
    assert_error(unknown, 400, "INVALID_RESET_TOKEN").await;
    assert_error(expired, 410, "RESET_TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn reset_page_from_the_email_sets_the_password() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    post(&app, "reset-password-request", json!({ "email": "ada@example.com" })).await;
    let link = app.mail.wait_for_nth("ada@example.com", 2).await.link_containing("/reset-password?token=");

    let page = app.http().get(&link).send().await.expect("GET");
    let action = link.split('?').next().expect("action").to_owned();
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let done = app
        .http()
        .post(&action)
        .form(&[("token", token.as_str()), ("password", NEW_PASSWORD)])
        .send()
        .await
        .expect("POST");
    let again = app
        .http()
        .post(&action)
        .form(&[("token", token.as_str()), ("password", NEW_PASSWORD)])
        .send()
        .await
        .expect("POST");

    assert_eq!(page.status(), 200);
    assert_eq!(done.status(), 200);
    assert!(done.text().await.expect("page").contains("Password changed"));
    assert_eq!(again.status(), 410);
    assert_eq!(
        post(&app, "login", json!({ "email": "ada@example.com", "password": NEW_PASSWORD })).await.status(),
        200
    );
}
