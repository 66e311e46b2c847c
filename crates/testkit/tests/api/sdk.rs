//! The `base44` Rust SDK against a real server: sign-in, profile and the User entity.

use base44::{InvitationFilter, InvitationStatus, Role, UserQuery};
use serde_json::json;
use usher_testkit::TestApp;

use crate::support::assert_api_error;

#[tokio::test]
async fn sdk_signs_in_updates_the_profile_and_manages_members() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    app.invite_and_join("bob@example.com", Role::Admin).await;

    let signed_in = app
        .anonymous()
        .auth()
        .login_via_email_password("ada@example.com", "correct horse battery")
        .await
        .expect("login");
    let ada = app.anonymous().with_token(&signed_in.access_token);
    let updated = ada.auth().update_me(&json!({ "full_name": "Ada L" })).await.expect("update me");
    let admins = app
        .client()
        .entities()
        .user()
        .list(&UserQuery { filter: Some(json!({ "role": "admin" })), ..UserQuery::default() })
        .await
        .expect("list");
    let count = app.client().entities().user().count(None).await.expect("count");
    let promoted =
        app.client().entities().user().update(&updated.id, &json!({ "role": "admin" })).await.expect("update");

    assert_eq!(updated.full_name, "Ada L");
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].as_user().map(|u| u.email.as_str()), Some("bob@example.com"));
    assert_eq!(count, 2);
    assert_eq!(promoted.role, Role::Admin);
    app.client().entities().user().delete(&updated.id).await.expect("delete");
    assert_api_error(app.client().entities().user().get(&updated.id).await, 404, "USER_NOT_FOUND");
    assert_api_error(
        app.anonymous().auth().login_via_email_password("ada@example.com", "wrong password").await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn sdk_answers_an_invite_with_the_case_that_applied() {
    let app = TestApp::spawn().await;
    app.invite_and_join("member@example.com", Role::User).await;

    let created = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let resent = app.client().auth().invite_user("ada@example.com", Role::Admin).await.expect("again");
    let member = app.client().users().invite_user("member@example.com", Role::User).await.expect("member");

    let base44::Invited::Created { invitation: first, .. } = created else { panic!("{created:?}") };
    let base44::Invited::Resent { invitation: second, .. } = resent else { panic!("{resent:?}") };
    assert_eq!((first.id.as_str(), second.role), (second.id.as_str(), Role::Admin));
    assert_eq!(second.status, base44::InvitationStatus::Pending);
    assert!(second.last_sent_at >= first.last_sent_at);
    assert!(matches!(member, base44::Invited::AlreadyMember { .. }), "{member:?}");
}

#[tokio::test]
async fn sdk_lists_invitations_through_a_filter_page_by_page_with_typed_statuses_and_dates() {
    let app = TestApp::spawn().await;
    for email in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        app.client().users().invite_user(email, Role::User).await.expect("invite");
    }
    let client = app.client();
    let invitations = client.invitations();
    let bob = invitations.list(&InvitationFilter::new().email("bob@example.com")).await.expect("by address");
    invitations.revoke(&bob.items[0].id).await.expect("revoke");

    let mut filter = InvitationFilter::new().status(InvitationStatus::Pending).limit(1);
    let mut pages = Vec::new();
    loop {
        let page = invitations.list(&filter).await.expect("page");
        pages.push(page.items.clone());
        match page.next_cursor {
            Some(cursor) => filter = filter.after(cursor),
            None => break,
        }
        assert!(pages.len() < 10, "the cursor does not advance");
    }
    let revoked = invitations.list(&InvitationFilter::new().status(InvitationStatus::Revoked)).await.expect("revoked");

    assert_eq!(bob.items.len(), 1);
    assert!(pages.iter().all(|page| page.len() <= 1), "limit 1: {pages:?}");
    let pending: Vec<_> = pages.into_iter().flatten().collect();
    assert_eq!(pending.iter().map(|i| i.email.as_str()).collect::<Vec<_>>(), ["ada@example.com", "cy@example.com"]);
    assert!(pending.iter().all(|i| i.status == InvitationStatus::Pending));
    let one: &base44::Invitation = &pending[0];
    let lifetime = one.expires_at - one.created_date; // dates are `OffsetDateTime`s, not strings
    assert!(lifetime.whole_hours() >= 1, "{lifetime}");
    assert_eq!(
        revoked.items.iter().map(|i| (i.email.as_str(), i.status)).collect::<Vec<_>>(),
        [("bob@example.com", InvitationStatus::Revoked)]
    );
}

#[tokio::test]
async fn sdk_exposes_retry_after_on_a_throttled_call() {
    let app = TestApp::spawn_with(|s| s.resend_interval = std::time::Duration::from_secs(60)).await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    let err = app.client().users().invite_user("ada@example.com", Role::User).await.expect_err("throttled");

    assert_eq!(err.code(), Some("RESEND_THROTTLED"));
    let wait = err.retry_after().expect("Retry-After");
    assert!(wait.as_secs() > 0 && wait.as_secs() <= 60, "{wait:?}");
    assert!(err.to_string().ends_with("(429 RESEND_THROTTLED)"), "{err}");
}

#[tokio::test]
async fn sdk_gives_up_on_a_server_that_never_answers_after_its_timeout() {
    // A peer that accepts connections and then says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let client = base44::Client::builder()
        .server_url(url)
        .app_id("0123456789abcdef01234567")
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");

    let started = std::time::Instant::now();
    let err = client.auth().me().await.expect_err("times out");

    assert!(matches!(err, base44::ClientError::Transport(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// The code in the newest of `count` emails to `email`.
async fn code_in_mail(app: &TestApp, email: &str, count: usize) -> String {
    let text = app.mail.wait_for_nth(email, count).await.text();
    text.split_whitespace().find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit())).expect("a code").to_owned()
}

#[tokio::test]
async fn sdk_covers_sign_up_password_change_reset_and_the_browser_urls() {
    let app = TestApp::spawn().await;
    let settings = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (open_id, _) = app.create_other_app_with("Open Club", settings).await;
    let anonymous = base44::Client::builder().server_url(app.base.as_str()).app_id(&open_id).build().expect("client");
    let auth = anonymous.auth();

    auth.register("ada@example.com", "first password").await.expect("register");
    let code = code_in_mail(&app, "ada@example.com", 1).await;
    let signed_up = auth.verify_otp("ada@example.com", &code).await.expect("verify");
    let resent = auth.resend_otp("bob@example.com").await.expect("resend answers the same for anyone");
    let as_ada = anonymous.with_token(&signed_up.access_token);
    let changed = as_ada
        .auth()
        .change_password(&signed_up.user.id, "first password", "second password")
        .await
        .expect("change password");
    let old_session = as_ada.auth().me().await;
    let new_session = anonymous.with_token(&changed.access_token).auth().me().await.expect("fresh token");
    auth.reset_password_request("ada@example.com").await.expect("reset request");
    let link = app.mail.wait_for_nth("ada@example.com", 2).await.link_containing("reset-password?token=");
    let reset_token = link.split("token=").nth(1).expect("token").to_owned();
    auth.reset_password(&reset_token, "third password").await.expect("reset");
    let signed_in = auth.login_via_email_password("ada@example.com", "third password").await;

    assert_eq!(signed_up.user.email, "ada@example.com");
    assert!(!resent.message.is_empty());
    assert_api_error(old_session, 401, "TOKEN_REVOKED");
    assert_eq!(new_session.email, "ada@example.com");
    assert!(signed_in.is_ok(), "{signed_in:?}");
    assert_eq!(
        auth.logout_url("https://app.example.test/bye").expect("url").as_str(),
        format!("{}api/apps/auth/logout?from_url=https%3A%2F%2Fapp.example.test%2Fbye", app.base)
    );
    assert_eq!(
        auth.login_url("https://app.example.test/").expect("url").as_str(),
        format!("{}apps/{open_id}/login?from_url=https%3A%2F%2Fapp.example.test%2F", app.base)
    );
}
