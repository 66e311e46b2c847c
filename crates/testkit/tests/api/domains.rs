//! Per-app domain rules: `allowed_email_domains` and `blocked_email_domains`, checked on
//! invite (both routes and bulk), register and sign-up; members are not affected.

use base44::{InviteOutcome, InviteUserRequest, Role};
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::{assert_api_error, assert_error};

const PASSWORD: &str = "correct horse battery";

async fn set(app: &TestApp, app_id: &str, token: &str, changes: Value) {
    let response = app
        .http()
        .patch(app.url(&format!("/api/apps/{app_id}/settings")))
        .bearer_auth(token)
        .json(&changes)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

async fn invite(app: &TestApp, path: &str, email: &str) -> reqwest::Response {
    app.post_json(path, &json!({ "user_email": email, "role": "user" })).await
}

#[tokio::test]
async fn invite_is_refused_403_naming_the_domain_outside_the_allow_list_on_both_routes_and_in_bulk() {
    let app = TestApp::spawn().await;
    set(&app, &app.app_id, &app.api_key, json!({ "allowed_email_domains": ["acme.com", "*.acme.com"] })).await;
    let auth_route = format!("/api/apps/{}/users/invite-user", app.app_id);

    let outside = invite(&app, &app.invite_path(), "eve@gmail.com").await;
    let bare_parent = invite(&app, &auth_route, "eve@notacme.com").await;
    let exact = invite(&app, &app.invite_path(), "ada@acme.com").await;
    let subdomain = invite(&app, &auth_route, "bob@eu.acme.com").await;
    let bulk = app
        .client()
        .invitations()
        .bulk(vec![
            InviteUserRequest {
                user_email: "cy@ACME.com".into(),
                role: Role::User,
                locale: None,
                idempotency_key: None,
            },
            InviteUserRequest {
                user_email: "dan@hotmail.com".into(),
                role: Role::User,
                locale: None,
                idempotency_key: None,
            },
        ])
        .await
        .expect("bulk");

    let body = assert_error(outside, 403, "DOMAIN_NOT_ALLOWED").await;
    assert_eq!(body["detail"]["domain"], "gmail.com");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("gmail.com")), "{body}");
    assert_eq!(assert_error(bare_parent, 403, "DOMAIN_NOT_ALLOWED").await["detail"]["domain"], "notacme.com");
    assert_eq!((exact.status().as_u16(), subdomain.status().as_u16()), (200, 200));
    assert_eq!(bulk.results.iter().map(|r| r.outcome()).collect::<Vec<_>>(), ["created", "error"]);
    assert_eq!(bulk.results[1].code(), Some("DOMAIN_NOT_ALLOWED"));
    assert!(bulk.results[1].message().contains("hotmail.com"), "{:?}", bulk.results[1]);
    app.mail.wait_for("cy@acme.com").await;
    assert!(app.mail.to("eve@gmail.com").is_empty() && app.mail.to("dan@hotmail.com").is_empty());
    let listed = app.client().invitations().list(&base44::InvitationFilter::new()).await.expect("list");
    assert_eq!(listed.items.len(), 3, "only the allowed addresses were invited: {:?}", listed.items);
}

#[tokio::test]
async fn blocked_domains_win_over_allowed_ones_and_stop_the_resend_of_a_pending_invitation() {
    let app = TestApp::spawn().await;
    let pending = app.client().users().invite_user("eve@rival.com", Role::User).await.expect("invite before");
    let pending_id = pending.invitation().expect("invitation").id.clone();
    app.mail.wait_for("eve@rival.com").await;
    set(
        &app,
        &app.app_id,
        &app.api_key,
        json!({ "allowed_email_domains": ["*.acme.com"], "blocked_email_domains": ["rival.com", "lab.acme.com"] }),
    )
    .await;
    app.clock.advance(std::time::Duration::from_secs(3600));

    let blocked = app.client().users().invite_user("eve@rival.com", Role::User).await;
    let blocked_sub = app.client().users().invite_user("ada@lab.acme.com", Role::User).await;
    let resend = app.client().invitations().resend(&pending_id).await;
    let allowed = app.client().users().invite_user("ada@eu.acme.com", Role::User).await;

    assert_api_error(blocked, 403, "DOMAIN_NOT_ALLOWED");
    assert_api_error(blocked_sub, 403, "DOMAIN_NOT_ALLOWED");
    assert_api_error(resend, 403, "DOMAIN_NOT_ALLOWED");
    assert_eq!(allowed.expect("allowed").outcome(), InviteOutcome::Created);
    assert_eq!(app.mail.to("eve@rival.com").len(), 1, "only the email sent before the rule");
}

#[tokio::test]
async fn existing_members_are_not_affected_by_the_domain_rules() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@gmail.com", Role::User).await;
    set(&app, &app.app_id, &app.api_key, json!({ "blocked_email_domains": ["gmail.com"] })).await;
    app.clock.advance(std::time::Duration::from_secs(3600));

    let reinvited = app.client().users().invite_user("ada@gmail.com", Role::User).await.expect("reminded");
    let me = app.anonymous().with_token(&token).auth().me().await;
    let login = app
        .http()
        .post(app.url(&format!("/api/apps/{}/auth/login", app.app_id)))
        .json(&json!({ "email": "ada@gmail.com", "password": "correct horse battery" }))
        .send()
        .await
        .expect("login");

    assert_eq!(reinvited.outcome(), InviteOutcome::AlreadyMember);
    assert_eq!(me.expect("still signed in").email, "ada@gmail.com");
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
}

#[tokio::test]
async fn register_and_sign_up_are_refused_for_a_domain_the_app_keeps_out() {
    let app = TestApp::spawn().await;
    let open = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (club, club_key) = app.create_other_app_with("Open Club", open).await;
    let post = |route: &'static str, body: Value| {
        let url = app.url(&format!("/api/apps/{club}/auth/{route}"));
        let http = app.http();
        async move { http.post(url).json(&body).send().await.expect("request") }
    };
    // A sign-up started before the rule: its code must not let the address in afterwards.
    post("register", json!({ "email": "eve@gmail.com", "password": PASSWORD })).await;
    let text = app.mail.wait_for("eve@gmail.com").await.text();
    let code = text.split_whitespace().find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit())).expect("code");
    set(&app, &club, &club_key, json!({ "allowed_email_domains": ["acme.com"] })).await;

    let register = post("register", json!({ "email": "mallory@gmail.com", "password": PASSWORD })).await;
    let verify = post("verify-otp", json!({ "email": "eve@gmail.com", "otp_code": code })).await;
    let resend = post("resend-otp", json!({ "email": "eve@gmail.com" })).await;
    let allowed = post("register", json!({ "email": "ada@acme.com", "password": PASSWORD })).await;

    assert_eq!(assert_error(register, 403, "DOMAIN_NOT_ALLOWED").await["detail"]["domain"], "gmail.com");
    assert_error(verify, 403, "DOMAIN_NOT_ALLOWED").await;
    assert_error(resend, 403, "DOMAIN_NOT_ALLOWED").await;
    assert_eq!(allowed.status(), 200);
    assert!(app.mail.to("mallory@gmail.com").is_empty());
    assert_eq!(app.mail.to("eve@gmail.com").len(), 1, "no second code");
}

#[tokio::test]
async fn settings_show_and_refuse_domain_lists() {
    let app = TestApp::spawn().await;

    let shown = app
        .client()
        .settings()
        .update(&base44::UpdateAppSettingsRequest {
            allowed_email_domains: Some(vec!["@Acme.com".into(), "*.acme.com".into()]),
            blocked_email_domains: Some(vec!["gmail.com".into()]),
            ..Default::default()
        })
        .await
        .expect("update");
    let bad = app
        .http()
        .patch(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&json!({ "blocked_email_domains": ["gmail"] }))
        .send()
        .await
        .expect("request");

    assert_eq!(shown.allowed_email_domains, ["acme.com", "*.acme.com"]);
    assert_eq!(shown.blocked_email_domains, ["gmail.com"]);
    assert_eq!(assert_error(bad, 400, "INVALID_SETTING").await["detail"]["field"], "blocked_email_domains");
    let again = app.client().settings().get().await.expect("get");
    assert_eq!(again.blocked_email_domains, ["gmail.com"], "the bad change stored nothing");
}
