//! The join page: showing an invitation, accepting it, and every kind of dead link.

use std::time::Duration;

use base44::{InviteOutcome, Role};
use usher_testkit::{TestApp, access_token_of};

use crate::support::assert_api_error;

const PASSWORD: &str = "correct horse battery";

async fn invite(app: &TestApp, email: &str, role: Role) -> String {
    app.client().users().invite_user(email, role).await.expect("invite");
    app.mail.wait_for(email).await.join_link()
}

#[tokio::test]
async fn join_page_shows_the_invitation_and_never_consumes_the_token() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::Admin).await;

    let first = app.http().get(&link).send().await.expect("first GET");
    let second = app.http().get(&link).send().await.expect("second GET");

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert!(first.headers().get("content-type").is_some_and(|v| v.to_str().is_ok_and(|t| t.starts_with("text/html"))));
    assert_eq!(first.headers().get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
    let page = second.text().await.expect("page");
    for expected in ["Acme Notes", "ada@example.com", "an admin", "<form"] {
        assert!(page.contains(expected), "page lacks {expected:?}");
    }
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303, "still usable after two GETs");
}

#[tokio::test]
async fn join_page_escapes_user_supplied_text() {
    let app = TestApp::spawn().await;
    let (other_id, other_key) = app.create_other_app("<script>alert(1)</script>").await;
    let client = base44::Client::builder()
        .server_url(app.base.as_str())
        .app_id(&other_id)
        .token(&other_key)
        .build()
        .expect("client");
    client.users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let link = app.mail.wait_for("ada@example.com").await.join_link();

    let page = app.http().get(&link).send().await.expect("GET").text().await.expect("page");

    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn accept_redirects_to_the_app_with_an_access_token_that_me_accepts() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::Admin).await;

    let response = app.accept(&link, "Ada Lovelace", PASSWORD).await;

    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location").to_owned();
    assert!(location.starts_with(&format!("{}?access_token=", app.app_url)), "{location}");
    let me = app.anonymous().with_token(&access_token_of(&response)).auth().me().await.expect("me");
    assert_eq!((me.email.as_str(), me.role, me.app_role), ("ada@example.com", Role::Admin, Role::Admin));
    assert_eq!(me.full_name, "Ada Lovelace");
    assert!(me.is_verified && !me.disabled && !me.is_service);
    assert_eq!(me.app_id, app.app_id);
}

#[tokio::test]
async fn accept_appends_the_token_with_ampersand_when_app_url_has_a_query() {
    let app = TestApp::spawn().await;
    let (id, key) = app.create_other_app("Other").await;
    let client =
        base44::Client::builder().server_url(app.base.as_str()).app_id(&id).token(&key).build().expect("client");
    client.users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let link = app.mail.wait_for("ada@example.com").await.join_link();

    let response = app.accept(&link, "Ada", PASSWORD).await;

    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location");
    assert!(location.starts_with("https://other.example.test/?access_token="), "{location}");
}

#[tokio::test]
async fn join_link_says_already_accepted_and_creates_nothing_when_used_twice() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303);

    let again = app.accept(&link, "Mallory", "another password").await;
    let page = app.http().get(&link).send().await.expect("GET");

    assert_eq!(again.status(), 410);
    assert_eq!(page.status(), 410);
    assert!(page.text().await.expect("page").contains("already"));
}

#[tokio::test]
async fn join_link_says_expired_and_creates_nothing_when_past_expiry() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    app.clock.advance(Duration::from_secs(7 * 24 * 3600 + 1));

    let page = app.http().get(&link).send().await.expect("GET");
    let post = app.accept(&link, "Ada", PASSWORD).await;

    assert_eq!(page.status(), 410);
    assert!(page.text().await.expect("page").contains("expired"));
    assert_eq!(post.status(), 410);
    let again = app.client().users().invite_user("ada@example.com", Role::User).await.expect("re-invite");
    assert_eq!(again.outcome(), InviteOutcome::Resent, "no member was created");
}

#[tokio::test]
async fn join_link_says_not_valid_when_token_is_unknown_malformed_or_of_another_app() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    let (other_id, _) = app.create_other_app("Other").await;
    let unknown = format!("{}apps/{}/join?token=inv_{}", app.base, app.app_id, "0".repeat(64));
    let malformed = format!("{}apps/{}/join?token=garbage", app.base, app.app_id);
    let missing = format!("{}apps/{}/join", app.base, app.app_id);
    let other_app = link.replace(&app.app_id, &other_id);

    for url in [unknown, malformed, missing, other_app] {
        let page = app.http().get(&url).send().await.expect("GET");

        assert_eq!(page.status(), 404, "{url}");
        assert!(page.text().await.expect("page").contains("not valid"));
    }
}

#[tokio::test]
async fn accept_rerenders_the_form_and_keeps_the_invitation_when_password_is_too_short() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;

    let response = app.accept(&link, "Ada <b>", "short").await;

    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(page.contains("at least 8 characters"));
    assert!(page.contains("Ada &lt;b&gt;"), "keeps the typed name, escaped");
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn accept_refuses_a_cross_site_post_and_keeps_the_invitation() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    let action = link.split('?').next().expect("action").to_owned();
    let token = link.split("token=").nth(1).expect("token").to_owned();

    let forged = app
        .http()
        .post(&action)
        .header("Origin", "https://evil.example")
        .form(&[("token", token.as_str()), ("full_name", "Eve"), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST");

    assert_eq!(forged.status(), 403);
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn me_returns_401_without_token_and_403_for_another_apps_token() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;
    let (other_id, _) = app.create_other_app("Other").await;
    let other = base44::Client::builder()
        .server_url(app.base.as_str())
        .app_id(&other_id)
        .token(&token)
        .build()
        .expect("client");

    assert_api_error(app.anonymous().auth().me().await, 401, "UNAUTHENTICATED");
    assert_api_error(other.auth().me().await, 403, "WRONG_APP");
    assert_api_error(app.client().auth().me().await, 403, "NOT_A_MEMBER");
}

#[tokio::test]
async fn welcome_page_renders_for_an_app() {
    let app = TestApp::spawn().await;

    let page =
        app.http().get(app.url(&format!("/apps/{}/welcome?access_token=x", app.app_id))).send().await.expect("GET");

    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page");
    assert!(html.contains("Acme Notes"));
    assert!(html.contains(&format!("\"/api/apps/{}/entities/User/me\"", app.app_id)), "the page calls me()");
}

#[tokio::test]
async fn api_twin_looks_up_without_using_and_accepts_once() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::Admin).await;
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let post = |route: &'static str, body: serde_json::Value| {
        app.http().post(app.url(&format!("/api/apps/{}/invitations/{route}", app.app_id))).json(&body).send()
    };

    let looked_up: serde_json::Value =
        post("lookup", serde_json::json!({ "token": token })).await.expect("lookup").json().await.expect("json");
    let accepted = post("accept", serde_json::json!({ "token": token, "full_name": "Ada", "password": PASSWORD }))
        .await
        .expect("accept");
    let again = post("accept", serde_json::json!({ "token": token, "password": PASSWORD })).await.expect("accept");
    let unknown = post("lookup", serde_json::json!({ "token": "garbage" })).await.expect("lookup");

    assert_eq!(
        (looked_up["invitation"]["email"].as_str(), looked_up["app"]["name"].as_str()),
        (Some("ada@example.com"), Some("Acme Notes"))
    );
    assert_eq!(accepted.status(), 200);
    let body: serde_json::Value = accepted.json().await.expect("json");
    let me = app.anonymous().with_token(body["access_token"].as_str().expect("token")).auth().me().await.expect("me");
    assert_eq!(me.role, Role::Admin);
    crate::support::assert_error(again, 410, "INVITATION_ALREADY_ACCEPTED").await;
    crate::support::assert_error(unknown, 404, "INVITATION_LINK_INVALID").await;
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn join_page_policy_lets_the_form_lead_to_the_apps_origin_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;

    let page = app.http().get(&link).send().await.expect("GET");

    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("form-action 'self' https://app.example.test;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    // Templates escape `/` in attributes as `&#x2f;`, which browsers read back as `/`.
    let html = page.text().await.expect("page").replace("&#x2f;", "/");
    assert!(html.contains(r#"name="app_origin" value="https://app.example.test""#), "{html}");
}

#[tokio::test]
async fn join_route_answers_unreadable_requests_with_a_page_not_plain_text() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    let action = link.split('?').next().expect("action").to_owned();

    let json_body = app.http().post(&action).json(&serde_json::json!({ "password": PASSWORD })).send().await;
    let two_tokens = app.http().get(format!("{action}?token=a&token=b")).send().await;

    for (response, status) in [(json_body.expect("POST"), 415), (two_tokens.expect("GET"), 400)] {
        assert_eq!(response.status(), status);
        assert!(header(&response, "content-type").starts_with("text/html"), "{response:?}");
        assert!(response.text().await.expect("page").contains("could not be read"));
    }
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303, "nothing was consumed");
}

#[tokio::test]
async fn accept_shows_the_form_again_and_keeps_the_invitation_when_the_app_moved_while_the_page_was_open() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    let (action, token) = (link.split('?').next().expect("action"), link.split("token=").nth(1).expect("token"));
    let settings = app
        .http()
        .patch(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&serde_json::json!({ "app_url": "https://moved.example.test/app" }))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(settings.status(), 200);

    let stale = app
        .http()
        .post(action)
        .form(&[
            ("token", token),
            ("app_origin", "https://app.example.test"),
            ("full_name", "Ada"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("POST");

    assert_eq!(stale.status(), 409);
    assert!(header(&stale, "content-security-policy").contains("form-action 'self' https://moved.example.test;"));
    assert!(stale.text().await.expect("page").contains("moved to a new address"));
    let joined = app.accept(&link, "Ada", PASSWORD).await;
    assert_eq!(joined.status(), 303, "the invitation was kept");
    assert!(header(&joined, "location").starts_with("https://moved.example.test/app?access_token="));
}

#[tokio::test]
async fn used_link_page_links_to_the_sign_in_page() {
    let app = TestApp::spawn().await;
    let link = invite(&app, "ada@example.com", Role::User).await;
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303);

    let page = app.http().get(&link).send().await.expect("GET");

    assert_eq!(page.status(), 410);
    let html = page.text().await.expect("page").replace("&#x2f;", "/");
    assert!(html.contains(&format!(r#"href="/apps/{}/login""#, app.app_id)), "{html}");
}
