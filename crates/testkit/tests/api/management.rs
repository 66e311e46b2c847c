//! Managing invitations: listing with filters and paging, re-sending and revoking.

use std::collections::HashSet;

use base44::{InviteOutcome, Role};
use serde_json::Value;
use usher_testkit::TestApp;

use crate::support::assert_error;

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http().get(app.url(path)).bearer_auth(token).send().await.expect("GET")
}

async fn post(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http().post(app.url(path)).bearer_auth(token).send().await.expect("POST")
}

#[tokio::test]
async fn invitations_page_through_all_in_a_stable_order_and_filter() {
    let app = TestApp::spawn().await;
    for n in 0..250 {
        app.client().users().invite_user(&format!("user{n}@example.com"), Role::User).await.expect("invite");
    }
    let list = format!("/api/apps/{}/invitations", app.app_id);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{list}?limit=100&cursor={c}"),
            None => format!("{list}?limit=100"),
        };
        let page: Value = get(&app, &path, &app.api_key).await.json().await.expect("page");
        seen.extend(
            page["items"].as_array().expect("items").iter().map(|i| i["email"].as_str().expect("email").to_owned()),
        );
        if page["has_more"] == false {
            break;
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let by_email: Value =
        get(&app, &format!("{list}?email=USER7@example.com"), &app.api_key).await.json().await.expect("filter");
    let accepted: Value =
        get(&app, &format!("{list}?status=accepted"), &app.api_key).await.json().await.expect("filter");

    assert_eq!(seen.len(), 250);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250, "no duplicates across pages");
    assert_eq!(by_email["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(accepted["items"].as_array().map(Vec::len), Some(0));
    assert_error(get(&app, &format!("{list}?status=lost"), &app.api_key).await, 400, "INVALID_QUERY").await;
    assert_error(get(&app, &format!("{list}?cursor=nonsense"), &app.api_key).await, 400, "INVALID_QUERY").await;
}

#[tokio::test]
async fn invitations_filter_by_the_delivery_state_of_their_email() {
    let app = TestApp::spawn().await;
    for to in ["ada@example.com", "bob@example.com"] {
        app.client().users().invite_user(to, Role::User).await.expect("invite");
        app.mail.wait_for(to).await;
    }
    let list = format!("/api/apps/{}/invitations", app.app_id);
    let emails = |delivery: &'static str| {
        let (app, list) = (&app, &list);
        async move {
            let page: Value =
                get(app, &format!("{list}?delivery={delivery}"), &app.api_key).await.json().await.expect("page");
            let items = page["items"].as_array().expect("items").clone();
            assert!(items.iter().all(|i| i["delivery"]["status"] == delivery), "{page}");
            items.len()
        }
    };

    // The worker marks a message sent just after the transport took it: wait for that.
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;
    while emails("sent").await < 2 {
        assert!(std::time::Instant::now() < deadline, "both emails are marked sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let through_sdk = |delivery| {
        let app = &app;
        async move {
            let filter = base44::InvitationFilter::new().delivery(delivery);
            app.client().invitations().list(&filter).await.expect("list").items.len()
        }
    };

    assert_eq!((emails("queued").await, emails("failed").await), (0, 0));
    assert_eq!(through_sdk(base44::DeliveryStatus::Sent).await, 2, "the SDK's filter");
    assert_eq!(through_sdk(base44::DeliveryStatus::Failed).await, 0);
    assert_error(get(&app, &format!("{list}?delivery=lost"), &app.api_key).await, 400, "INVALID_QUERY").await;
}

#[tokio::test]
async fn revoke_makes_the_link_say_revoked_and_resend_is_then_refused() {
    let app = TestApp::spawn().await;
    let invited = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let link = app.mail.wait_for("ada@example.com").await.join_link();

    let revoked: Value = post(&app, &format!("/api/apps/{}/invitations/{id}/revoke", app.app_id), &app.api_key)
        .await
        .json()
        .await
        .expect("revoke");
    let page = app.http().get(&link).send().await.expect("GET");
    let resend = post(&app, &format!("/api/apps/{}/invitations/{id}/resend", app.app_id), &app.api_key).await;
    let again = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite anew");

    assert_eq!(revoked["status"], "revoked");
    assert_eq!(page.status(), 410);
    assert!(page.text().await.expect("page").contains("revoked"));
    assert_error(resend, 409, "INVITATION_NOT_PENDING").await;
    assert_eq!(again.outcome(), InviteOutcome::Created, "a new invitation replaces the revoked one");
}

#[tokio::test]
async fn resend_rotates_the_link_like_a_reinvite() {
    let app = TestApp::spawn().await;
    let invited = app.client().users().invite_user("ada@example.com", Role::Admin).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let old = app.mail.wait_for("ada@example.com").await.join_link();

    let resent: Value = post(&app, &format!("/api/apps/{}/invitations/{id}/resend", app.app_id), &app.api_key)
        .await
        .json()
        .await
        .expect("resend");

    assert_eq!((resent["outcome"].as_str(), resent["invitation"]["times_sent"].as_u64()), (Some("resent"), Some(2)));
    assert_eq!(resent["invitation"]["role"], "admin");
    let new = app.mail.wait_for_nth("ada@example.com", 2).await.join_link();
    assert_ne!(new, old);
}

#[tokio::test]
async fn management_routes_refuse_members_and_other_apps() {
    let app = TestApp::spawn().await;
    let invited = app.client().users().invite_user("bob@example.com", Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let member = app.invite_and_join("ada@example.com", Role::User).await;
    let (other_id, other_key) = app.create_other_app("Other").await;
    let base = format!("/api/apps/{}/invitations", app.app_id);

    assert_error(get(&app, &base, &member).await, 403, "ADMIN_REQUIRED").await;
    assert_error(post(&app, &format!("{base}/{id}/revoke"), &member).await, 403, "ADMIN_REQUIRED").await;
    assert_error(post(&app, &format!("{base}/{id}/resend"), &member).await, 403, "ADMIN_REQUIRED").await;
    assert_error(get(&app, &base, &other_key).await, 403, "WRONG_APP").await;
    let foreign = post(&app, &format!("/api/apps/{other_id}/invitations/{id}/revoke"), &other_key).await;
    assert_error(foreign, 404, "INVITATION_NOT_FOUND").await;
}

#[tokio::test]
async fn bulk_answers_each_row_in_order_and_a_bad_row_never_fails_the_others() {
    let app = TestApp::spawn_with(|s| s.resend_interval = std::time::Duration::from_secs(60)).await;
    app.invite_and_join("member@example.com", Role::User).await;
    let body = serde_json::json!({ "items": [
        { "user_email": "ada@example.com", "role": "user" },
        { "user_email": "not an address", "role": "user" },
        { "user_email": "grace@example.com", "role": "owner" },
        { "user_email": "member@example.com", "role": "admin" },
        { "user_email": "ada@example.com", "role": "admin" },
        { "user_email": "linus@example.com", "role": "admin" }
    ]});
    let path = format!("/api/apps/{}/invitations/bulk", app.app_id);

    let response: Value = app.post_json(&path, &body).await.json().await.expect("json");

    let outcomes: Vec<(&str, Option<&str>)> = response["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["outcome"].as_str().expect("outcome"), r["code"].as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("created", None),
            ("error", Some("INVALID_EMAIL")),
            ("error", Some("INVALID_ROLE")),
            ("throttled", Some("RESEND_THROTTLED")),
            ("throttled", Some("RESEND_THROTTLED")),
            ("created", None),
        ]
    );
    assert_eq!(response["summary"]["created"], 2);
    app.mail.wait_for("linus@example.com").await;
    let rerun: Value = app.post_json(&path, &body).await.json().await.expect("json");
    assert_eq!(rerun["summary"]["created"].as_u64(), None, "a re-run emails nobody twice within the interval");
    assert_eq!(rerun["summary"]["throttled"], 4);
}
