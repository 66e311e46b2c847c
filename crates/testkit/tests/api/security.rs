//! The attack paths of issue 14, each reproduced as it was found: a burst of sign-ins
//! against the throttle, sign-up pre-hijack, sessions that outlived a password change,
//! members rewriting admin invitations, what `already_member` and a reset request reveal, and
//! how sign-up codes are stored; then what the probe found held (bursts against a sign-up
//! code, a join link and a reset link), so that it keeps holding.

use base44::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";

fn request(app: &TestApp, route: &str, body: Value) -> reqwest::RequestBuilder {
    let path = format!("/api/apps/{}/auth/{route}", app.app_id);
    app.http().post(app.url(&path)).json(&body)
}

async fn post(app: &TestApp, route: &str, body: Value) -> reqwest::Response {
    request(app, route, body).send().await.expect("request")
}

/// Sends all `requests` at once and returns their responses in order.
async fn burst(requests: impl IntoIterator<Item = reqwest::RequestBuilder>) -> Vec<reqwest::Response> {
    let tasks: Vec<_> = requests.into_iter().map(|request| tokio::spawn(request.send())).collect();
    let mut responses = Vec::with_capacity(tasks.len());
    for task in tasks {
        responses.push(task.await.expect("task").expect("request"));
    }
    responses
}

/// Statuses of `responses`, checking that every 429 carries `Retry-After`.
fn statuses(responses: &[reqwest::Response]) -> Vec<StatusCode> {
    for response in responses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS) {
        assert!(response.headers().get("retry-after").is_some(), "429 without Retry-After");
    }
    responses.iter().map(reqwest::Response::status).collect()
}

#[tokio::test]
async fn login_burst_checks_at_most_five_passwords_when_forty_arrive_at_once() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let attempts = (0..40).map(|n| {
        let password = if n == 20 { PASSWORD.to_owned() } else { format!("wrong password {n}") };
        request(&app, "login", json!({ "email": "ada@example.com", "password": password }))
    });

    let responses = burst(attempts).await;

    let statuses = statuses(&responses);
    let checked = statuses.iter().filter(|s| matches!(s.as_u16(), 200 | 401)).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 429).count();
    assert!((1..=5).contains(&checked), "{checked} passwords were checked: {statuses:?}");
    assert_eq!(checked + refused, 40, "{statuses:?}");
}

#[tokio::test]
async fn login_burst_from_one_client_checks_at_most_twenty_passwords() {
    let app = TestApp::spawn().await;
    let attempts = (0..40).map(|n| {
        request(&app, "login", json!({ "email": format!("guess{n}@example.com"), "password": "wrong password" }))
    });

    let responses = burst(attempts).await;

    let statuses = statuses(&responses);
    let checked = statuses.iter().filter(|s| s.as_u16() == 401).count();
    assert!((1..=20).contains(&checked), "{checked} passwords were checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| s.as_u16() == 429).count(), 40 - checked);
}

#[tokio::test]
async fn change_password_returns_429_after_five_wrong_current_passwords() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;
    let me = app.anonymous().with_token(&token).auth().me().await.expect("me");
    let change = |current: String| {
        let body = json!({ "user_id": me.id, "current_password": current, "new_password": "a brand new password" });
        let path = format!("/api/apps/{}/auth/change-password", app.app_id);
        app.http().post(app.url(&path)).bearer_auth(&token).json(&body)
    };

    let responses = burst((0..12).map(|n| change(format!("wrong password {n}")))).await;

    let statuses = statuses(&responses);
    let checked = statuses.iter().filter(|s| s.as_u16() == 400).count();
    assert!((1..=5).contains(&checked), "{checked} current passwords were checked: {statuses:?}");
    let right = change(PASSWORD.to_owned()).send().await.expect("request");
    assert!(right.headers().get("retry-after").is_some());
    assert_error(right, 429, "TOO_MANY_ATTEMPTS").await;
}

#[tokio::test]
async fn tokens_issued_before_a_password_change_are_refused_when_used_afterwards() {
    let app = TestApp::spawn().await;
    let joined = app.invite_and_join("ada@example.com", Role::User).await;
    let signed_in = post(&app, "login", json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let signed_in: Value = signed_in.json().await.expect("json");
    let signed_in = signed_in["access_token"].as_str().expect("token").to_owned();
    let me = app.anonymous().with_token(&signed_in).auth().me().await.expect("me");
    let body = json!({ "user_id": me.id, "current_password": PASSWORD, "new_password": "a brand new password" });
    let path = format!("/api/apps/{}/auth/change-password", app.app_id);

    // The service clock stands still: the old tokens, the change and the new token share
    // one second of `iat`.
    let changed = app.http().post(app.url(&path)).bearer_auth(&signed_in).json(&body).send().await.expect("change");

    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    let fresh = changed["access_token"].as_str().expect("a fresh token");
    for old in [&joined, &signed_in] {
        let refused = app.http().get(app.url(&format!("/api/apps/{}/entities/User/me", app.app_id))).bearer_auth(old);
        assert_error(refused.send().await.expect("me"), 401, "TOKEN_REVOKED").await;
    }
    assert_eq!(app.anonymous().with_token(fresh).auth().me().await.expect("me").id, me.id);
    let login = post(&app, "login", json!({ "email": "ada@example.com", "password": "a brand new password" })).await;
    let login: Value = login.json().await.expect("json");
    let later = login["access_token"].as_str().expect("token");
    assert!(app.anonymous().with_token(later).auth().me().await.is_ok(), "a sign-in after the change works");
}

#[tokio::test]
async fn tokens_issued_before_a_password_reset_are_refused_when_used_afterwards() {
    let app = TestApp::spawn().await;
    let old = app.invite_and_join("ada@example.com", Role::User).await;
    assert!(app.anonymous().with_token(&old).auth().me().await.is_ok());
    post(&app, "reset-password-request", json!({ "email": "ada@example.com" })).await;
    let link = app.mail.wait_for_nth("ada@example.com", 2).await.link_containing("/reset-password?token=");
    let token = link.split("token=").nth(1).expect("token").to_owned();

    let reset =
        post(&app, "reset-password", json!({ "reset_token": token, "new_password": "a brand new password" })).await;

    assert_eq!(reset.status(), 200);
    let me = app.http().get(app.url(&format!("/api/apps/{}/entities/User/me", app.app_id))).bearer_auth(&old);
    assert_error(me.send().await.expect("me"), 401, "TOKEN_REVOKED").await;
    let login = post(&app, "login", json!({ "email": "ada@example.com", "password": "a brand new password" })).await;
    let login: Value = login.json().await.expect("json");
    let fresh = login["access_token"].as_str().expect("token");
    assert!(app.anonymous().with_token(fresh).auth().me().await.is_ok());
}

/// The code in the `count`th email to `email`.
async fn code(app: &TestApp, email: &str, count: usize) -> String {
    let text = app.mail.wait_for_nth(email, count).await.text();
    text.split_whitespace().find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit())).expect("a code").to_owned()
}

async fn post_to(app: &TestApp, app_id: &str, route: &str, body: Value) -> reqwest::Response {
    app.http().post(app.url(&format!("/api/apps/{app_id}/auth/{route}"))).json(&body).send().await.expect("request")
}

/// A server with the default resend interval (60 s), as the probe found it: the victim's
/// `register` two seconds after the attacker's falls inside the interval, where it used to be
/// answered "code sent" with the victim's password dropped.
async fn spawn_with_the_default_resend_interval() -> TestApp {
    TestApp::spawn_with(|settings| settings.resend_interval = std::time::Duration::from_secs(60)).await
}

/// The attacker registers the victim's address first; the victim registers two seconds later
/// and enters the code from their email.
async fn assert_pre_hijack_fails(app: &TestApp, app_id: &str, mails_before: usize) {
    let victim = "victim@example.com";
    let attackers = "the attacker's password";
    let registered = post_to(app, app_id, "register", json!({ "email": victim, "password": attackers })).await;
    assert_eq!(registered.status(), 200);
    let attackers_code = code(app, victim, mails_before + 1).await;
    app.clock.advance(std::time::Duration::from_secs(2));

    let again = post_to(app, app_id, "register", json!({ "email": victim, "password": PASSWORD })).await;
    let victims_code = code(app, victim, mails_before + 2).await;
    let replaced =
        post_to(app, app_id, "verify-otp", json!({ "email": victim, "otp_code": attackers_code.clone() })).await;
    let verified = post_to(app, app_id, "verify-otp", json!({ "email": victim, "otp_code": victims_code })).await;

    assert_eq!(again.status(), 200);
    if attackers_code != code(app, victim, mails_before + 2).await {
        assert_error(replaced, 410, "CODE_REPLACED").await;
    }
    assert_eq!(verified.status(), 200);
    let login =
        |password: &'static str| post_to(app, app_id, "login", json!({ "email": victim, "password": password }));
    assert_error(login(attackers).await, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(login(PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn signup_keeps_the_owners_password_when_an_attacker_registered_the_address_first() {
    let app = spawn_with_the_default_resend_interval().await;
    let settings = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (open, _) = app.create_other_app_with("Open Club", settings).await;

    assert_pre_hijack_fails(&app, &open, 0).await;
}

#[tokio::test]
async fn signup_keeps_the_owners_password_when_an_attacker_registered_an_invited_address_first() {
    let app = spawn_with_the_default_resend_interval().await;
    app.client().users().invite_user("victim@example.com", Role::Admin).await.expect("invite");
    app.mail.wait_for("victim@example.com").await;

    assert_pre_hijack_fails(&app, &app.app_id, 1).await;

    let login = post(&app, "login", json!({ "email": "victim@example.com", "password": PASSWORD })).await;
    let body: Value = login.json().await.expect("json");
    assert_eq!(body["user"]["role"], "admin", "the invitation's role");
}

#[tokio::test]
async fn register_returns_429_with_retry_after_when_an_address_asked_for_too_many_codes() {
    let app = TestApp::spawn().await;
    let settings = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (open, _) = app.create_other_app_with("Open Club", settings).await;
    let register = || post_to(&app, &open, "register", json!({ "email": "ada@example.com", "password": PASSWORD }));
    for _ in 0..4 {
        assert_eq!(register().await.status(), 200);
    }
    app.clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(post_to(&app, &open, "resend-otp", json!({ "email": "ada@example.com" })).await.status(), 200);

    let refused = register().await;
    let resend = post_to(&app, &open, "resend-otp", json!({ "email": "ada@example.com" })).await;
    let other = post_to(&app, &open, "register", json!({ "email": "bob@example.com", "password": PASSWORD })).await;

    assert!(refused.headers().get("retry-after").is_some());
    assert_error(refused, 429, "TOO_MANY_CODES").await;
    assert_error(resend, 429, "TOO_MANY_CODES").await;
    assert_eq!(other.status(), 200, "the allowance is per address");
    assert_eq!(app.mail.wait_for_count("ada@example.com", 5).await.len(), 5);
    app.clock.advance(std::time::Duration::from_secs(60 * 60));
    assert_eq!(register().await.status(), 200, "a new hour, a new allowance");
}

/// An app whose members may invite, with a plain member; its id, API key and the member's token.
async fn members_may_invite(app: &TestApp) -> (String, String, String) {
    let settings = usher_core::model::AppSettings {
        invite_policy: usher_core::model::InvitePolicy::Members,
        ..Default::default()
    };
    let (id, key) = app.create_other_app_with("Open Club", settings).await;
    let member = app.invite_and_join_with(&app.client_of(&id, &key), "bob@example.com", Role::User).await;
    (id, key, member)
}

#[tokio::test]
async fn invite_user_returns_403_and_changes_nothing_when_a_member_reinvites_an_admin_invitation() {
    let app = TestApp::spawn().await;
    let (id, key, member) = members_may_invite(&app).await;
    let as_admin = app.client_of(&id, &key);
    let invited = as_admin.users().invite_user("ada@example.com", Role::Admin).await.expect("admin invites");
    let invitation = invited.invitation().expect("invitation").clone();
    let link = app.mail.wait_for("ada@example.com").await.join_link();

    let refused = app
        .http()
        .post(app.url(&format!("/api/apps/{id}/runtime/users/invite-user")))
        .bearer_auth(&member)
        .json(&json!({ "user_email": "ada@example.com", "role": "user" }))
        .send()
        .await
        .expect("request");

    assert_error(refused, 403, "ROLE_NOT_ALLOWED").await;
    let path = format!("/api/apps/{id}/invitations/{}", invitation.id);
    let now: Value =
        app.http().get(app.url(&path)).bearer_auth(&key).send().await.expect("get").json().await.expect("json");
    assert_eq!((now["role"].as_str(), now["times_sent"].as_u64()), (Some("admin"), Some(1)), "{now}");
    assert_eq!(now["invited_by"], invitation.invited_by);
    let joined = app.accept(&link, "Ada", PASSWORD).await;
    assert_eq!(joined.status(), 303, "the admin's link still works");
}

#[tokio::test]
async fn invite_user_hides_the_members_id_and_role_from_a_member_when_already_a_member() {
    let app = TestApp::spawn().await;
    let (id, key, member) = members_may_invite(&app).await;
    app.invite_and_join_with(&app.client_of(&id, &key), "ada@example.com", Role::Admin).await;

    let as_member = app
        .http()
        .post(app.url(&format!("/api/apps/{id}/runtime/users/invite-user")))
        .bearer_auth(&member)
        .json(&json!({ "user_email": "ada@example.com", "role": "user" }))
        .send()
        .await
        .expect("request");
    let as_admin = app.client_of(&id, &key).users().invite_user("ada@example.com", Role::User).await.expect("invite");

    assert_eq!(as_member.status(), 200);
    let body: Value = as_member.json().await.expect("json");
    assert_eq!(body["outcome"], "already_member");
    assert!(body["user"].is_null(), "no id or role for a caller who cannot list members: {body}");
    assert!(!body.to_string().contains("\"admin\""), "{body}");
    let base44::Invited::AlreadyMember { member, .. } = as_admin else { panic!("{as_admin:?}") };
    assert_eq!(member.expect("admins see the member").role, Role::Admin);
}

#[tokio::test]
async fn sign_in_page_returns_429_with_retry_after_when_a_burst_outruns_the_allowance() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let action = app.url(&format!("/apps/{}/login", app.app_id));
    let attempts = (0..10).map(|n| {
        let password = format!("wrong password {n}");
        app.http().post(action.clone()).form(&[("email", "ada@example.com"), ("password", password.as_str())])
    });

    let responses = burst(attempts).await;

    let statuses = statuses(&responses);
    assert!(statuses.iter().filter(|s| s.as_u16() == 401).count() <= 5, "{statuses:?}");
    assert!(statuses.iter().any(|s| s.as_u16() == 429), "{statuses:?}");
}

#[tokio::test]
async fn reset_request_answers_a_member_before_the_database_has_done_its_work() {
    // A member's request writes a link and its email, a stranger's writes nothing: answering
    // only after that work told the two apart by the time taken. With the writes held up, the
    // member's answer must still come at once, and the link once the database lets it through.
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let lock = app.lock_for_writes("password_resets").await;

    let request = post(&app, "reset-password-request", json!({ "email": "ada@example.com" }));
    let answered = tokio::time::timeout(std::time::Duration::from_secs(2), request).await;
    let mailed_while_locked =
        app.mail.all().iter().filter(|mail| mail.text().contains("/reset-password?token=")).count();
    drop(lock);

    let answered = answered.expect("the answer did not wait for the database");
    assert_eq!(answered.status(), 200);
    assert_eq!(mailed_while_locked, 0, "the work had not been done when the answer came");
    let link = app.mail.wait_for_nth("ada@example.com", 2).await.link_containing("/reset-password?token=");
    assert!(link.contains("token=rst_"), "the work was done afterwards: {link}");
}

#[tokio::test]
async fn signup_codes_are_stored_as_an_hmac_keyed_with_the_server_secret() {
    let secret = "the server secret of this test, at least 32 characters";
    let app = TestApp::spawn_with(|settings| settings.jwt_secret = Some(secret.to_owned().into())).await;
    let settings = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (open, _) = app.create_other_app_with("Open Club", settings).await;

    let registered =
        post_to(&app, &open, "register", json!({ "email": "Eve@Example.com", "password": PASSWORD })).await;

    assert_eq!(registered.status(), 200);
    let code = code(&app, "eve@example.com", 1).await;
    let stored = app.query_text("SELECT code_hash FROM signups").await;
    let app_id = usher_core::AppId::parse(&open).expect("app id");
    let email = usher_core::email::EmailAddress::parse("eve@example.com").expect("address");
    let code = usher_core::secret::OneTimeCode::parse(&code).expect("six digits");
    let keyed = |secret: &str| code.hash(&usher_core::secret::CodeKey::derive(secret.as_bytes()), &app_id, &email);
    assert_eq!(stored, [keyed(secret).as_str()], "HMAC under the key derived from the server secret");
    assert_ne!(stored[0], keyed("another server secret").as_str(), "the key matters");
    assert!(!stored[0].contains(code.expose()), "{stored:?}");
}

// What the probe found held, kept by test: bursts against the other single-use secrets.

/// How many of `responses` answered each `(status, code)`.
async fn tally(responses: Vec<reqwest::Response>) -> std::collections::BTreeMap<(u16, String), usize> {
    let mut tally = std::collections::BTreeMap::new();
    for response in responses {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        *tally.entry((status, code)).or_insert(0) += 1;
    }
    tally
}

#[tokio::test]
async fn verify_otp_burst_checks_at_most_five_codes_when_forty_arrive_at_once() {
    let app = TestApp::spawn().await;
    let settings = usher_core::model::AppSettings { is_signup_open: true, ..Default::default() };
    let (open, _) = app.create_other_app_with("Open Club", settings).await;
    post_to(&app, &open, "register", json!({ "email": "eve@example.com", "password": PASSWORD })).await;
    let right = code(&app, "eve@example.com", 1).await;
    let right_number: u32 = right.parse().expect("digits");
    let guesses = (1..=40).map(|n| {
        let guess = format!("{:06}", (right_number + n) % 1_000_000);
        let path = format!("/api/apps/{open}/auth/verify-otp");
        app.http().post(app.url(&path)).json(&json!({ "email": "eve@example.com", "otp_code": guess }))
    });

    let tally = tally(burst(guesses).await).await;
    let after = post_to(&app, &open, "verify-otp", json!({ "email": "eve@example.com", "otp_code": right })).await;

    let checked = tally.get(&(400, "INVALID_OTP".to_owned())).copied().unwrap_or(0);
    let refused = tally.get(&(429, "TOO_MANY_ATTEMPTS".to_owned())).copied().unwrap_or(0);
    assert!((1..=5).contains(&checked) && checked + refused == 40, "{tally:?}");
    assert_error(after, 429, "TOO_MANY_ATTEMPTS").await;
}

#[tokio::test]
async fn join_link_joins_once_when_twenty_accepts_arrive_at_once() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let link = app.mail.wait_for("ada@example.com").await.join_link();
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let accepts = (0..20).map(|n| {
        let path = format!("/api/apps/{}/invitations/accept", app.app_id);
        let body = json!({ "token": token, "full_name": "Ada", "password": format!("password number {n}") });
        app.http().post(app.url(&path)).json(&body)
    });

    let tally = tally(burst(accepts).await).await;

    assert_eq!(tally.get(&(200, String::new())), Some(&1), "{tally:?}");
    assert_eq!(tally.get(&(410, "INVITATION_ALREADY_ACCEPTED".to_owned())), Some(&19), "{tally:?}");
    let members = app.client().entities().user().list(&Default::default()).await.expect("list");
    assert_eq!(members.len(), 1);
}

#[tokio::test]
async fn reset_link_sets_one_password_when_twenty_resets_arrive_at_once() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    post(&app, "reset-password-request", json!({ "email": "ada@example.com" })).await;
    let link = app.mail.wait_for_nth("ada@example.com", 2).await.link_containing("/reset-password?token=");
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let resets = (0..20).map(|n| {
        request(&app, "reset-password", json!({ "reset_token": token, "new_password": format!("new password {n:02}") }))
    });

    let responses = burst(resets).await;

    let winner = responses.iter().position(|r| r.status() == 200);
    let tally = tally(responses).await;
    assert_eq!(tally.get(&(200, String::new())), Some(&1), "{tally:?}");
    assert_eq!(tally.get(&(410, "RESET_TOKEN_USED".to_owned())), Some(&19), "{tally:?}");
    let winner = winner.expect("one reset succeeded");
    let login = |password: String| post(&app, "login", json!({ "email": "ada@example.com", "password": password }));
    assert_eq!(login(format!("new password {winner:02}")).await.status(), 200, "the one that succeeded set it");
}
