//! The daily allowance: `max_invites_per_day` invitation emails (new invitations and
//! re-sends) in any 24 hours; beyond it 429 DAILY_INVITE_LIMIT with Retry-After.

use std::time::Duration;

use base44::{InviteOutcome, InviteUserRequest, Role};
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

async fn patch(app: &TestApp, changes: Value) -> Value {
    let response = app
        .http()
        .patch(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&changes)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn invite(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(&app.invite_path(), &json!({ "user_email": email, "role": "user" })).await
}

#[tokio::test]
async fn invitations_and_resends_beyond_the_allowance_are_refused_until_the_oldest_leaves_the_window() {
    let app = TestApp::spawn().await;
    let defaults = app.client().settings().get().await.expect("settings");
    app.invite_and_join("member@example.com", Role::User).await;
    app.clock.advance(Duration::from_secs(2 * 3600));
    // The member's invitation counts too: with it, two more fit.
    patch(&app, json!({ "max_invites_per_day": 3 })).await;

    let first = invite(&app, "ada@example.com").await;
    app.clock.advance(Duration::from_secs(3600));
    let resent = invite(&app, "ada@example.com").await;
    let beyond = invite(&app, "bob@example.com").await;
    let resend_beyond = invite(&app, "ada@example.com").await;
    let reminder = app.client().users().invite_user("member@example.com", Role::User).await.expect("reminder");
    let shown = app.client().settings().get().await.expect("settings");

    assert_eq!((defaults.max_invites_per_day, defaults.invites_last_24h), (None, 0), "off by default");
    assert_eq!((first.status().as_u16(), resent.status().as_u16()), (200, 200));
    let retry_after = beyond.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = assert_error(beyond, 429, "DAILY_INVITE_LIMIT").await;
    // The member's invitation went out three hours ago: it leaves the window in 21 hours.
    assert_eq!(retry_after.as_deref(), Some("75600"));
    assert_eq!(
        (body["detail"]["retry_after_seconds"].as_u64(), body["detail"]["max_invites_per_day"].as_u64()),
        (Some(75600), Some(3))
    );
    assert_error(resend_beyond, 429, "DAILY_INVITE_LIMIT").await;
    assert_eq!(reminder.outcome(), InviteOutcome::AlreadyMember, "a reminder is no invitation");
    assert_eq!((shown.invites_last_24h, shown.max_invites_per_day), (3, Some(3)), "used / limit");

    app.clock.advance(Duration::from_secs(21 * 3600));
    let next_day = invite(&app, "bob@example.com").await;
    assert_eq!(next_day.status(), 200, "the member's invitation left the window");
    app.mail.wait_for("bob@example.com").await;
}

#[tokio::test]
async fn bulk_rows_beyond_the_allowance_are_refused_one_by_one_and_the_dry_run_says_so_first() {
    let app = TestApp::spawn().await;
    patch(&app, json!({ "max_invites_per_day": 3 })).await;
    let items: Vec<InviteUserRequest> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|name| InviteUserRequest {
            user_email: format!("{name}@example.com"),
            role: Role::User,
            locale: None,
            idempotency_key: None,
        })
        .collect();

    let dry = app.client().invitations().bulk_dry_run(items.clone()).await.expect("dry run");
    let real = app.client().invitations().bulk(items).await.expect("bulk");
    let after = app.client().settings().get().await.expect("settings");

    let codes = |answer: &base44::BulkInviteResponse| {
        answer.results.iter().map(|r| r.code().unwrap_or(r.outcome()).to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(codes(&real), ["created", "created", "created", "DAILY_INVITE_LIMIT", "DAILY_INVITE_LIMIT"]);
    assert_eq!(codes(&dry), codes(&real), "the dry run agreed");
    assert_eq!(after.invites_last_24h, 3);
    let single = invite(&app, "f@example.com").await;
    assert_error(single, 429, "DAILY_INVITE_LIMIT").await;
    patch(&app, json!({ "max_invites_per_day": null })).await;
    assert_eq!(invite(&app, "f@example.com").await.status(), 200, "switched off");
}
