//! Joining with an account that already exists (issue 18, item 4): when the address of a
//! pending invitation is already a member with a password, accepting asks for that password,
//! never overwrites it, refuses a wrong one without using the invitation (counting it against
//! the sign-in throttle), and applies the invitation on the right one.

use base44::Role;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";

/// Ada joins as a user with [`PASSWORD`]; then a pending admin invitation for her address
/// appears beside her account (as an import brings it: no operation writes this state, since
/// inviting a member reminds them instead). Returns the link's token.
async fn member_with_a_pending_invitation(app: &TestApp) -> String {
    app.invite_and_join("ada@example.com", Role::User).await;
    let link = app.mail.wait_for("ada@example.com").await.join_link();
    app.execute_sql(
        "UPDATE invitations SET status = 'pending', accepted_at = NULL, role = 'admin' \
         WHERE email = 'ada@example.com'",
    )
    .await;
    url::Url::parse(&link)
        .expect("link")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token")
}

async fn accept(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    let path = format!("/api/apps/{}/invitations/accept", app.app_id);
    let body = json!({ "token": token, "full_name": "", "password": password });
    app.http().post(app.url(&path)).json(&body).send().await.expect("accept")
}

async fn lookup(app: &TestApp, token: &str) -> reqwest::Response {
    let path = format!("/api/apps/{}/invitations/lookup", app.app_id);
    app.http().post(app.url(&path)).json(&json!({ "token": token })).send().await.expect("lookup")
}

async fn login(app: &TestApp, password: &str) -> u16 {
    let path = format!("/api/apps/{}/auth/login", app.app_id);
    let body = json!({ "email": "ada@example.com", "password": password });
    app.http().post(app.url(&path)).json(&body).send().await.expect("login").status().as_u16()
}

#[tokio::test]
async fn accept_asks_for_the_existing_password_and_never_overwrites_it() {
    let app = TestApp::spawn().await;
    let token = member_with_a_pending_invitation(&app).await;

    let looked_up: Value = lookup(&app, &token).await.json().await.expect("json");
    let wrong = accept(&app, &token, "a brand new password").await;
    let wrong = assert_error(wrong, 401, "INVALID_CREDENTIALS").await;
    let still_pending: Value = lookup(&app, &token).await.json().await.expect("json");
    let right = accept(&app, &token, PASSWORD).await;

    assert_eq!(looked_up["existing_account"], true);
    assert!(wrong["message"].as_str().is_some_and(|m| m.contains("already has an account")), "{wrong}");
    assert_eq!(still_pending["invitation"]["status"], "pending", "a wrong password does not use the invitation");
    assert_eq!(right.status(), 200);
    let body: Value = right.json().await.expect("json");
    let access_token = body["access_token"].as_str().expect("token");
    let me = app.anonymous().with_token(access_token).auth().me().await.expect("me");
    assert_eq!(me.role, Role::User, "a member keeps their role (rule 5)");
    assert_eq!(login(&app, PASSWORD).await, 200, "the password is unchanged");
    assert_eq!(login(&app, "a brand new password").await, 401, "and was never replaced");
    assert_error(accept(&app, &token, PASSWORD).await, 410, "INVITATION_ALREADY_ACCEPTED").await;
}

#[tokio::test]
async fn wrong_existing_passwords_count_against_the_sign_in_throttle() {
    let app = TestApp::spawn().await;
    let token = member_with_a_pending_invitation(&app).await;

    for _ in 0..usher_core::sign_in::MAX_FAILURES_PER_EMAIL {
        assert_error(accept(&app, &token, "guess guess guess").await, 401, "INVALID_CREDENTIALS").await;
    }
    let throttled = accept(&app, &token, PASSWORD).await;

    assert!(throttled.headers().get("retry-after").is_some());
    assert_error(throttled, 429, "TOO_MANY_ATTEMPTS").await;
    assert_eq!(login(&app, PASSWORD).await, 429, "signing in shares the allowance");
    let still_pending: Value = lookup(&app, &token).await.json().await.expect("json");
    assert_eq!(still_pending["invitation"]["status"], "pending");
}

#[tokio::test]
async fn join_page_asks_for_the_existing_password_and_offers_a_reset() {
    let app = TestApp::spawn().await;
    let token = member_with_a_pending_invitation(&app).await;
    let link = app.url(&format!("/apps/{}/join?token={token}", app.app_id));

    let page = app.http().get(link.clone()).send().await.expect("GET").text().await.expect("page");
    let wrong = app.accept(link.as_str(), "", "not my password at all").await;
    let wrong_status = wrong.status();
    let wrong_page = wrong.text().await.expect("page");
    let right = app.accept(link.as_str(), "", PASSWORD).await;

    assert!(page.contains("already have an account"), "{page}");
    assert!(page.contains(r#"autocomplete="current-password""#));
    assert!(page.contains(r#"id="forgot-password""#) && page.contains("forgot-password\">Forgot your password?"));
    assert!(!page.contains("new-password"));
    assert_eq!(wrong_status, 401);
    assert!(wrong_page.contains("not its password"), "the form again, saying why");
    assert_eq!(right.status(), 303);
    assert!(usher_testkit::access_token_of(&right).len() > 20);
    assert_eq!(login(&app, PASSWORD).await, 200);
}

#[tokio::test]
async fn a_member_without_a_password_still_sets_one_by_joining() {
    let app = TestApp::spawn().await;
    let token = member_with_a_pending_invitation(&app).await;
    app.execute_sql("UPDATE users SET password_hash = NULL WHERE email = 'ada@example.com'").await;

    let looked_up: Value = lookup(&app, &token).await.json().await.expect("json");
    let joined = accept(&app, &token, "a brand new password").await;

    assert_eq!(looked_up["existing_account"], false);
    assert_eq!(joined.status(), 200);
    assert_eq!(login(&app, "a brand new password").await, 200);
}
