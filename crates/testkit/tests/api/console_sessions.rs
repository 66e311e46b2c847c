//! The console's password sessions end on the server: a copy of the session cookie stops
//! working at sign-out, when the admin's password changes, when they are made a plain member
//! or disabled, after the idle timeout and at expiry; ended sessions leave no rows behind.

use std::time::Duration;

use base44::{Role, UserListItem, UserQuery};
use reqwest::Response;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use usher_testkit::TestApp;

const PASSWORD: &str = "correct horse battery";

/// The console's session cookie of `app`'s first app, as a browser holds it.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    /// The cookie as the `Cookie` header sends it: `name=value`.
    pub(crate) cookie: String,
}

impl<'a> Browser<'a> {
    /// Signs `email` in to the console of the first app with their password.
    pub(crate) async fn sign_in(app: &'a TestApp, email: &str) -> Self {
        let response = app
            .http()
            .post(app.url("/console/sign-in"))
            .form(&[("app_id", app.app_id.as_str()), ("email", email), ("password", PASSWORD)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), 303, "signed in");
        let cookie = session_cookie(app, &response).expect("a session cookie");
        Self { app, cookie }
    }

    /// Opens a console page of the first app with this browser's cookie, keeping the renewed
    /// cookie as a browser would.
    async fn open(&mut self, page: &str) -> Response {
        let response = open_with(self.app, page, &self.cookie).await;
        if let Some(renewed) = session_cookie(self.app, &response).filter(|c| !c.ends_with('=')) {
            self.cookie = renewed;
        }
        response
    }

    /// Signs out with the sign-out button.
    async fn sign_out(&self) -> Response {
        self.app
            .http()
            .post(self.app.url(&format!("/console/apps/{}/sign-out", self.app.app_id)))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("sign out")
    }
}

/// Opens a console page of the first app with the cookie `cookie` (`name=value`).
async fn open_with(app: &TestApp, page: &str, cookie: &str) -> Response {
    let url = app.url(&format!("/console/apps/{}/{page}", app.app_id));
    app.http().get(url).header(COOKIE, cookie).send().await.expect("console page")
}

/// The `name=value` of the session cookie a response sets.
fn session_cookie(app: &TestApp, response: &Response) -> Option<String> {
    let name = format!("usher_console_{}=", app.app_id);
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&name))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
}

/// Asserts that `response` sends the browser to sign in to the first app again.
fn assert_sent_to_sign_in(app: &TestApp, response: &Response, case: &str) {
    assert_eq!(response.status(), 303, "{case}");
    let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    assert_eq!(location, Some(format!("/console?app_id={}", app.app_id).as_str()), "{case}");
}

async fn stored_sessions(app: &TestApp) -> Vec<String> {
    app.query_text("SELECT user_id FROM console_sessions").await
}

async fn member_id(app: &TestApp, email: &str) -> String {
    let filter = Some(json!({ "email": email }));
    let found = app.client().entities().user().list(&UserQuery { filter, ..UserQuery::default() }).await;
    found.expect("members").first().and_then(UserListItem::as_user).expect("the member").id.clone()
}

#[tokio::test]
async fn a_copied_console_cookie_is_refused_once_the_admin_signs_out() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("root@example.com", Role::Admin).await;
    let mut browser = Browser::sign_in(&app, "root@example.com").await;
    let copied = browser.cookie.clone();

    assert!(!copied.contains(&token) && !copied.contains("eyJ"), "the cookie never carries an access token: {copied}");
    assert_eq!(browser.open("invitations").await.status(), 200);
    assert_eq!(open_with(&app, "invitations", &copied).await.status(), 200, "the copy works while signed in");
    assert_eq!(stored_sessions(&app).await.len(), 1);

    let signed_out = browser.sign_out().await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(
        session_cookie(&app, &signed_out),
        Some(format!("usher_console_{}=", app.app_id)),
        "the browser forgets it"
    );

    assert_sent_to_sign_in(&app, &open_with(&app, "invitations", &copied).await, "the copy after sign-out");
    assert_sent_to_sign_in(&app, &open_with(&app, "members", &browser.cookie).await, "the last cookie after sign-out");
    assert!(stored_sessions(&app).await.is_empty(), "signing out deleted the session");
}

#[tokio::test]
async fn a_console_session_ends_when_the_admins_password_changes() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("root@example.com", Role::Admin).await;
    let mut browser = Browser::sign_in(&app, "root@example.com").await;
    let copied = browser.cookie.clone();
    assert_eq!(browser.open("invitations").await.status(), 200);

    let id = member_id(&app, "root@example.com").await;
    let as_root = app.anonymous().with_token(&token);
    as_root.auth().change_password(&id, PASSWORD, "a brand new password").await.expect("password changed");

    assert_sent_to_sign_in(&app, &open_with(&app, "invitations", &copied).await, "after the password change");
    assert_sent_to_sign_in(&app, &browser.open("invitations").await, "the browser's own cookie too");
    assert!(stored_sessions(&app).await.is_empty(), "the ended session was deleted when found");
}

#[tokio::test]
async fn a_console_session_ends_when_the_admin_is_made_a_member_or_disabled() {
    let app = TestApp::spawn().await;
    app.invite_and_join("stays@example.com", Role::Admin).await; // the app keeps an admin
    app.invite_and_join("demoted@example.com", Role::Admin).await;
    app.invite_and_join("disabled@example.com", Role::Admin).await;
    let mut demoted = Browser::sign_in(&app, "demoted@example.com").await;
    let mut disabled = Browser::sign_in(&app, "disabled@example.com").await;
    assert_eq!(demoted.open("invitations").await.status(), 200);
    assert_eq!(disabled.open("invitations").await.status(), 200);
    let client = app.client();
    let users = client.entities().user();

    users.update(&member_id(&app, "demoted@example.com").await, &json!({ "_app_role": "user" })).await.expect("demote");
    users.update(&member_id(&app, "disabled@example.com").await, &json!({ "disabled": true })).await.expect("disable");

    let refused = demoted.open("invitations").await;
    assert_eq!(refused.status(), 403, "a plain member is told why");
    assert!(refused.text().await.expect("page").contains("Only admins can use the console"));
    assert_sent_to_sign_in(&app, &demoted.open("invitations").await, "made a plain member: the session is gone");
    assert_sent_to_sign_in(&app, &disabled.open("invitations").await, "disabled");
    assert!(stored_sessions(&app).await.is_empty(), "both ended sessions were deleted");
}

#[tokio::test]
async fn a_console_session_ends_on_the_server_after_the_idle_timeout_and_at_expiry() {
    let app = TestApp::spawn_with(|s| {
        s.console_idle = Duration::from_secs(60);
        s.access_token_ttl = Duration::from_secs(150);
    })
    .await;
    app.invite_and_join("root@example.com", Role::Admin).await;

    let idle = Browser::sign_in(&app, "root@example.com").await;
    app.clock.advance(Duration::from_secs(60));
    assert_sent_to_sign_in(&app, &open_with(&app, "invitations", &idle.cookie).await, "idle for the timeout");
    assert!(stored_sessions(&app).await.is_empty(), "the idle session was deleted when found");

    // Page views within the idle timeout keep it going, but not past its expiry.
    let mut busy = Browser::sign_in(&app, "root@example.com").await;
    for view in 0..2 {
        app.clock.advance(Duration::from_secs(50));
        assert_eq!(busy.open("invitations").await.status(), 200, "view {view}");
    }
    app.clock.advance(Duration::from_secs(50));
    assert_sent_to_sign_in(&app, &busy.open("invitations").await, "expired (150 s after sign-in)");
    assert!(stored_sessions(&app).await.is_empty(), "the expired session was deleted when found");
}

#[tokio::test]
async fn signing_in_deletes_the_sessions_that_ended_unseen() {
    let app = TestApp::spawn_with(|s| s.console_idle = Duration::from_secs(60)).await;
    app.invite_and_join("root@example.com", Role::Admin).await;
    let _forgotten = Browser::sign_in(&app, "root@example.com").await;
    let _also_forgotten = Browser::sign_in(&app, "root@example.com").await;
    assert_eq!(stored_sessions(&app).await.len(), 2);

    app.clock.advance(Duration::from_secs(61));
    let mut fresh = Browser::sign_in(&app, "root@example.com").await;

    assert_eq!(stored_sessions(&app).await.len(), 1, "only the new session is left");
    assert_eq!(fresh.open("invitations").await.status(), 200);
}
