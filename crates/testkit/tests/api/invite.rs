//! The rules of inviting, through both SDK routes.

use std::time::Duration;

use base44::{DeliveryStatus, InvitationStatus, InviteOutcome, Invited, Role};
use serde_json::json;
use usher_core::model::{AppSettings, InvitePolicy};
use usher_testkit::TestApp;

use crate::support::{assert_api_error, assert_error};

#[tokio::test]
async fn invite_user_creates_pending_invitation_and_queues_email_when_called_with_api_key() {
    let app = TestApp::spawn().await;

    let response = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    assert_eq!(response.outcome(), InviteOutcome::Created);
    let invitation = response.invitation().expect("invitation");
    assert_eq!(
        (invitation.email.as_str(), invitation.role, invitation.status),
        ("ada@example.com", Role::User, InvitationStatus::Pending)
    );
    assert_eq!(invitation.app_id, app.app_id);
    assert_eq!(invitation.delivery.status, DeliveryStatus::Queued);
    assert_eq!(invitation.id.len(), 24);
    assert!(invitation.expires_at > invitation.created_date);
}

#[tokio::test]
async fn invite_user_response_never_contains_the_token() {
    let app = TestApp::spawn().await;

    let response = app.post_json(&app.invite_path(), &json!({ "user_email": "ada@example.com", "role": "user" })).await;
    let body = response.text().await.expect("body");
    let link = app.mail.wait_for("ada@example.com").await.join_link();

    let token = link.split("token=").nth(1).expect("token in link");
    assert!(!body.contains(token), "response leaks the token: {body}");
    assert!(!body.contains("inv_"), "response mentions a token: {body}");
}

#[tokio::test]
async fn invitation_email_is_multipart_with_link_inviter_and_role() {
    let app = TestApp::spawn().await;

    app.client().users().invite_user("grace@example.com", Role::Admin).await.expect("invite");
    let mail = app.mail.wait_for("grace@example.com").await;

    assert_eq!(mail.content_type(), "multipart/alternative");
    assert!(mail.header("Subject").is_some_and(|s| s.contains("Acme Notes")));
    assert!(mail.header("From").is_some_and(|f| f.contains("Acme Notes")));
    assert!(mail.header("Message-ID").is_some_and(|id| id.starts_with('<') && id.ends_with('>')));
    assert!(mail.header("Date").is_some());
    let link = mail.join_link();
    assert!(link.starts_with(&format!("{}apps/{}/join?token=inv_", app.base, app.app_id)), "{link}");
    assert!(mail.text().contains("admin"));
    let html = mail.part("text/html").expect("html part");
    assert!(html.contains("Acme Notes"));
}

#[tokio::test]
async fn auth_invite_user_runs_the_same_rules_as_users_invite_user() {
    let app = TestApp::spawn().await;

    let first = app.client().auth().invite_user("linus@example.com", Role::User).await.expect("auth route");
    let second = app.client().users().invite_user("linus@example.com", Role::User).await.expect("users route");

    assert_eq!(first.outcome(), InviteOutcome::Created);
    assert_eq!(second.outcome(), InviteOutcome::Resent);
    assert_eq!(first.invitation().expect("first").id, second.invitation().expect("second").id);
}

#[tokio::test]
async fn invite_user_rotates_link_expiry_and_role_when_invitation_is_pending() {
    let app = TestApp::spawn().await;
    let first = app.client().users().invite_user("ada@example.com", Role::User).await.expect("first");
    let old_link = app.mail.wait_for("ada@example.com").await.join_link();
    app.clock.advance(Duration::from_secs(3600));

    let second = app.client().users().invite_user("ada@example.com", Role::Admin).await.expect("second");

    assert_eq!(second.outcome(), InviteOutcome::Resent);
    let (first, second) = (first.invitation().expect("first"), second.invitation().expect("second"));
    assert_eq!(second.id, first.id, "still one invitation");
    assert_eq!(second.role, Role::Admin, "latest role wins");
    assert_eq!(second.times_sent, 2);
    assert!(second.expires_at > first.expires_at, "fresh expiry");
    let new_link = app.mail.wait_for_nth("ada@example.com", 2).await.join_link();
    assert_ne!(new_link, old_link);
    let old_page = app.http().get(&old_link).send().await.expect("old link");
    assert_eq!(old_page.status(), 410);
    assert!(old_page.text().await.expect("page").contains("replaced"));
    let new_page = app.http().get(&new_link).send().await.expect("new link");
    assert_eq!(new_page.status(), 200);
}

#[tokio::test]
async fn invite_user_treats_addresses_case_and_space_insensitively() {
    let app = TestApp::spawn().await;

    app.client().users().invite_user("  Ada@Example.COM ", Role::User).await.expect("first");
    let again = app.client().users().invite_user("ada@example.com", Role::User).await.expect("second");

    assert_eq!(again.outcome(), InviteOutcome::Resent);
    assert_eq!(again.invitation().expect("invitation").email, "ada@example.com");
}

#[tokio::test]
async fn invite_user_sends_sign_in_email_and_keeps_role_when_address_is_a_member() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;

    let response = app.client().users().invite_user("ada@example.com", Role::Admin).await.expect("re-invite member");

    assert_eq!(response.outcome(), InviteOutcome::AlreadyMember);
    assert!(response.invitation().is_none());
    let Invited::AlreadyMember { member, .. } = response else { panic!("not already a member") };
    assert_eq!(member.expect("member").role, Role::User);
    let reminder = app.mail.wait_for_nth("ada@example.com", 2).await;
    assert!(!reminder.text().contains("/join?token="), "a member gets no join link");
    assert!(reminder.text().contains(&app.app_url), "the email leads to the app");
    let me = app.anonymous().with_token(&token).auth().me().await.expect("me");
    assert_eq!(me.role, Role::User, "role unchanged");
}

#[tokio::test]
async fn invite_user_returns_429_with_retry_after_when_resent_within_the_interval() {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });
    assert_eq!(app.post_json(&app.invite_path(), &body).await.status(), 200);
    // Delivered before the re-send below, which would otherwise cancel it as a dead link.
    app.mail.wait_for("ada@example.com").await;

    let throttled = app.post_json(&app.invite_path(), &body).await;

    assert_eq!(throttled.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    let error = assert_error(throttled, 429, "RESEND_THROTTLED").await;
    assert_eq!(error["detail"]["retry_after_seconds"], 60);
    app.clock.advance(Duration::from_secs(61));
    let later = app.client().users().invite_user("ada@example.com", Role::User).await.expect("after the interval");
    assert_eq!(later.outcome(), InviteOutcome::Resent);
    assert_eq!(app.mail.wait_for_count("ada@example.com", 2).await.len(), 2, "the throttled call sent nothing");
}

#[tokio::test]
async fn invite_user_returns_401_when_caller_is_anonymous_or_credential_is_unknown() {
    let app = TestApp::spawn().await;

    assert_api_error(app.anonymous().users().invite_user("a@example.com", Role::User).await, 401, "UNAUTHENTICATED");
    let fake_key = format!("usk_{}", "0".repeat(64));
    assert_api_error(
        app.anonymous().with_token(&fake_key).users().invite_user("a@example.com", Role::User).await,
        401,
        "UNAUTHENTICATED",
    );
    assert_api_error(
        app.anonymous().with_token("not-a-jwt").users().invite_user("a@example.com", Role::User).await,
        401,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn invite_user_returns_403_when_credential_belongs_to_another_app() {
    let app = TestApp::spawn().await;
    let (_, other_key) = app.create_other_app("Other").await;
    let member_token = app.invite_and_join("ada@example.com", Role::Admin).await;
    let (other_id, _) = app.create_other_app("Third").await;
    let other_client =
        base44::Client::builder().server_url(app.base.as_str()).app_id(&other_id).build().expect("client");

    assert_api_error(
        app.anonymous().with_token(&other_key).users().invite_user("a@example.com", Role::User).await,
        403,
        "WRONG_APP",
    );
    assert_api_error(
        other_client.with_token(&member_token).users().invite_user("a@example.com", Role::User).await,
        403,
        "WRONG_APP",
    );
}

#[tokio::test]
async fn invite_user_returns_403_when_a_plain_member_invites_in_an_admins_only_app() {
    let app = TestApp::spawn().await;
    let member = app.invite_and_join("ada@example.com", Role::User).await;

    let refused = app.anonymous().with_token(&member).users().invite_user("bob@example.com", Role::User).await;

    assert_api_error(refused, 403, "ADMINS_ONLY");
}

#[tokio::test]
async fn invite_user_lets_members_invite_only_role_user_when_the_app_allows_members_to_invite() {
    let app = TestApp::spawn().await;
    let settings = AppSettings { invite_policy: InvitePolicy::Members, ..AppSettings::default() };
    let (id, key) = app.create_other_app_with("Open Club", settings).await;
    let member = app.invite_and_join_with(&app.client_of(&id, &key), "ada@example.com", Role::User).await;
    let as_member = app.client_of(&id, &member);

    let invited = as_member.users().invite_user("bob@example.com", Role::User).await.expect("member invites a user");
    let escalation = as_member.auth().invite_user("eve@example.com", Role::Admin).await;

    assert_eq!(invited.outcome(), InviteOutcome::Created);
    assert_eq!(invited.invitation().expect("invitation").invited_by, "Test Member");
    assert_api_error(escalation, 403, "ROLE_NOT_ALLOWED");
}

#[tokio::test]
async fn invite_user_lets_an_admin_member_invite_any_role() {
    let app = TestApp::spawn().await;
    let admin = app.invite_and_join("ada@example.com", Role::Admin).await;

    let response =
        app.anonymous().with_token(&admin).users().invite_user("bob@example.com", Role::Admin).await.expect("invite");

    let invitation = response.invitation().expect("invitation");
    assert_eq!(invitation.role, Role::Admin);
    assert_eq!(invitation.invited_by, "Test Member");
}

#[tokio::test]
async fn invite_user_returns_404_when_app_is_unknown() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "a@example.com", "role": "user" });

    let unknown = app.post_json("/api/apps/0123456789abcdef01234567/runtime/users/invite-user", &body).await;
    let malformed = app.post_json("/api/apps/not-an-id/runtime/users/invite-user", &body).await;

    assert_error(unknown, 404, "APP_NOT_FOUND").await;
    assert_error(malformed, 404, "APP_NOT_FOUND").await;
}

#[tokio::test]
async fn invite_user_returns_400_when_x_app_id_header_names_another_app() {
    let app = TestApp::spawn().await;

    let response = app
        .http()
        .post(app.url(&app.invite_path()))
        .bearer_auth(&app.api_key)
        .header("X-App-Id", "0123456789abcdef01234567")
        .json(&json!({ "user_email": "a@example.com", "role": "user" }))
        .send()
        .await
        .expect("request");

    assert_error(response, 400, "APP_ID_MISMATCH").await;
}
