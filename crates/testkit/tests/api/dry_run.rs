//! `?dry_run=true` on both invite routes and bulk: the outcome each address would get,
//! decided by the same code on the same data, and nothing written or sent.

use std::time::Duration;

use base44::{InvitationFilter, InviteOutcome, InviteUserRequest, Role};
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

/// Status, code (or outcome) of an invite answer: what a dry run and a real run must agree on.
async fn verdict(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    let what = body["code"].as_str().or_else(|| body["outcome"].as_str()).unwrap_or_default().to_owned();
    (status, what)
}

/// Every row's outcome and code, in order.
fn rows(answer: &base44::BulkInviteResponse) -> Vec<(String, Option<String>)> {
    answer.results.iter().map(|r| (r.outcome().to_owned(), r.code().map(str::to_owned))).collect()
}

async fn invitations(app: &TestApp) -> Vec<(String, u32)> {
    let page = app.client().invitations().list(&InvitationFilter::new().limit(100)).await.expect("list");
    page.items.into_iter().map(|i| (i.email, i.times_sent)).collect()
}

async fn audit_len(app: &TestApp) -> usize {
    let response = app
        .http()
        .get(app.url(&format!("/api/apps/{}/audit?limit=100", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("audit");
    let body: Value = response.json().await.expect("json");
    body["items"].as_array().map_or(0, Vec::len)
}

/// An app with a member, a pending invitation an hour old, an address emailed just now and a
/// blocked domain: one address of each outcome.
async fn app_with_history() -> TestApp {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    app.invite_and_join("member@example.com", Role::User).await;
    app.client().users().invite_user("pending@example.com", Role::User).await.expect("invite");
    app.mail.wait_for("pending@example.com").await;
    app.clock.advance(Duration::from_secs(3600));
    app.client().users().invite_user("recent@example.com", Role::User).await.expect("invite");
    app.mail.wait_for("recent@example.com").await;
    let response = app
        .http()
        .patch(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&json!({ "blocked_email_domains": ["rival.com"] }))
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), 200);
    app
}

#[tokio::test]
async fn single_dry_run_answers_what_the_real_invite_then_does_on_both_routes_and_writes_nothing() {
    let app = app_with_history().await;
    let routes = [app.invite_path(), format!("/api/apps/{}/users/invite-user", app.app_id)];
    let addresses =
        ["new@example.com", "pending@example.com", "member@example.com", "recent@example.com", "eve@rival.com"];
    let before = (invitations(&app).await, audit_len(&app).await);

    let mut dry = Vec::new();
    for route in &routes {
        for address in addresses {
            let body = json!({ "user_email": address, "role": "user" });
            dry.push(verdict(app.post_json(&format!("{route}?dry_run=true"), &body).await).await);
        }
    }
    let after_dry = (invitations(&app).await, audit_len(&app).await);
    let mut real = Vec::new();
    for address in addresses {
        let body = json!({ "user_email": address, "role": "user" });
        real.push(verdict(app.post_json(&routes[0], &body).await).await);
    }

    let expected: Vec<(u16, String)> = [
        (200, "created"),
        (200, "resent"),
        (200, "already_member"),
        (429, "RESEND_THROTTLED"),
        (403, "DOMAIN_NOT_ALLOWED"),
    ]
    .into_iter()
    .map(|(status, what)| (status, what.to_owned()))
    .collect();
    assert_eq!(dry[..5], expected[..], "first route");
    assert_eq!(dry[5..], expected[..], "second route");
    assert_eq!(real, expected, "the real run does what the dry run said");
    assert_eq!(after_dry, before, "the dry runs wrote no invitation and no audit record");
    // The real run's mail went out; none of the dry runs' did.
    app.mail.wait_for("new@example.com").await;
    app.mail.wait_for_nth("pending@example.com", 2).await;
    assert_eq!(app.mail.to("new@example.com").len(), 1);
    assert_eq!(app.mail.to("pending@example.com").len(), 2);
}

#[tokio::test]
async fn single_dry_run_body_says_so_and_shows_no_invitation_or_email() {
    let app = TestApp::spawn().await;

    let answer = app.client().users().invite_user_dry_run("ada@example.com", Role::Admin).await.expect("dry run");
    let raw: Value = app
        .post_json(
            &format!("{}?dry_run=true", app.invite_path()),
            &json!({ "user_email": "ada@example.com", "role": "user" }),
        )
        .await
        .json()
        .await
        .expect("json");
    let bad = app
        .post_json(
            &format!("{}?dry_run=yes", app.invite_path()),
            &json!({ "user_email": "ada@example.com", "role": "user" }),
        )
        .await;

    assert_eq!((answer.outcome, answer.dry_run), (InviteOutcome::Created, true));
    assert_eq!((answer.invitation, answer.email), (None, None));
    assert!(answer.message.starts_with("Dry run:"), "{}", answer.message);
    assert_eq!((raw["dry_run"].as_bool(), raw["invitation"].is_null()), (Some(true), true));
    assert_error(bad, 400, "INVALID_QUERY").await;
    assert!(invitations(&app).await.is_empty());
}

#[tokio::test]
async fn bulk_dry_run_agrees_row_by_row_with_the_real_run_that_follows() {
    let app = app_with_history().await;
    let item = |email: &str| InviteUserRequest {
        user_email: email.into(),
        role: Role::User,
        locale: None,
        idempotency_key: None,
    };
    let items = vec![
        item("new@example.com"),
        item("pending@example.com"),
        item("member@example.com"),
        item("recent@example.com"),
        item("eve@rival.com"),
        // The same address twice: the second row sees the first row's email.
        item("twice@example.com"),
        item("twice@example.com"),
        item("not an address"),
    ];
    let before = (invitations(&app).await, audit_len(&app).await);

    let dry = app.client().invitations().bulk_dry_run(items.clone()).await.expect("dry run");
    let after_dry = (invitations(&app).await, audit_len(&app).await);
    let real = app.client().invitations().bulk(items).await.expect("real run");

    let some = |code: &str| Some(code.to_owned());
    let expected = vec![
        ("created".to_owned(), None),
        ("resent".to_owned(), None),
        ("already_member".to_owned(), None),
        ("throttled".to_owned(), some("RESEND_THROTTLED")),
        ("error".to_owned(), some("DOMAIN_NOT_ALLOWED")),
        ("created".to_owned(), None),
        ("throttled".to_owned(), some("RESEND_THROTTLED")),
        ("error".to_owned(), some("INVALID_EMAIL")),
    ];
    assert_eq!(rows(&dry), expected);
    assert_eq!(rows(&real), rows(&dry), "the dry run and the real run cannot disagree");
    assert_eq!((dry.dry_run, real.dry_run), (true, false));
    assert_eq!(dry.summary, real.summary);
    assert_eq!(after_dry, before, "the dry run wrote nothing");
    assert!(dry.results.iter().all(|r| match r {
        base44::BulkInviteResult::Invited { response, .. } => response.dry_run && response.invitation.is_none(),
        base44::BulkInviteResult::Refused { .. } => true,
    }));
    app.mail.wait_for("twice@example.com").await;
    assert_eq!(app.mail.to("new@example.com").len(), 1, "one email: the real run's");
}

#[tokio::test]
async fn a_dry_run_keeps_no_idempotency_key_so_the_real_run_with_that_key_runs() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "ada@example.com", "role": "user" });
    let keyed = |path: String| {
        app.http()
            .post(app.url(&path))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "import-1")
            .json(&body)
            .send()
    };

    let dry = keyed(format!("{}?dry_run=true", app.invite_path())).await.expect("dry");
    let real = keyed(app.invite_path()).await.expect("real");

    assert_eq!(dry.status(), 200);
    assert_eq!(real.status(), 200);
    assert!(real.headers().get("idempotency-replayed").is_none(), "processed, not replayed");
    let real: Value = real.json().await.expect("json");
    assert_eq!((real["outcome"].as_str(), real["dry_run"].as_bool()), (Some("created"), None));
    assert_eq!(invitations(&app).await.len(), 1);
}
