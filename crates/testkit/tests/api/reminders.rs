//! Reminders before expiry (issue 18): an app's `reminder_before_expiry_hours` mails one
//! reminder with the same join link that many hours before the link expires, over a real SMTP
//! server, unless the invitation was accepted, revoked or re-sent meanwhile; off by default;
//! the due and sent times show on the invitation. Time is the server's manual clock, moved
//! past the due time; the delivery worker then finds the reminder due.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use usher_testkit::{PATIENCE, SmtpServer, TestApp};

use crate::support::assert_error;

const HOUR: Duration = Duration::from_secs(3600);

async fn patch_settings(app: &TestApp, changes: Value) -> reqwest::Response {
    app.http()
        .patch(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&changes)
        .send()
        .await
        .expect("request")
}

/// Invitations live two hours; the reminder is due one hour before expiry.
async fn app_with_reminders(smtp: &SmtpServer) -> TestApp {
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;
    let response =
        patch_settings(&app, json!({ "invitation_ttl_seconds": 7200, "reminder_before_expiry_hours": 1 })).await;
    assert_eq!(response.status(), 200);
    let settings: Value = response.json().await.expect("settings");
    assert_eq!(settings["reminder_before_expiry_hours"], 1);
    app
}

/// Invites `email` and returns the invitation as the answer shows it.
async fn invite(app: &TestApp, email: &str) -> Value {
    let response = app.post_json(&app.invite_path(), &json!({ "user_email": email, "role": "user" })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["invitation"].clone()
}

async fn invitation(app: &TestApp, id: &str) -> Value {
    let response = app
        .http()
        .get(app.url(&format!("/api/apps/{}/invitations/{id}", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.http().post(app.url(path)).bearer_auth(&app.api_key).send().await.expect("POST")
}

/// True when the invitation's reminder is due one hour before its link expires.
fn due_an_hour_before_expiry(invitation: &Value) -> bool {
    let typed: base44::Invitation = serde_json::from_value(invitation.clone()).expect("an invitation");
    typed.reminder_due_at == Some(typed.expires_at - HOUR)
}

/// The statuses of the reminder rows to `email`, oldest first.
async fn reminder_statuses(app: &TestApp, email: &str) -> Vec<String> {
    app.query_text(&format!(
        "SELECT status FROM outbox_messages WHERE kind = 'reminder' AND recipient = '{email}' \
         ORDER BY created_at, id"
    ))
    .await
}

/// Waits until the reminder rows to `email` have these statuses.
async fn wait_for_reminders(app: &TestApp, email: &str, expected: &[&str]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let statuses = reminder_statuses(app, email).await;
        if statuses == expected {
            return;
        }
        assert!(Instant::now() < deadline, "reminders to {email}: {statuses:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_reminder_with_the_same_link_is_mailed_before_expiry_and_shows_on_the_invitation() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = app_with_reminders(&smtp).await;

    let created = invite(&app, "ada@example.com").await;
    assert!(due_an_hour_before_expiry(&created), "{created}");
    assert_eq!(created["reminded_at"], Value::Null);
    let id = created["id"].as_str().expect("id").to_owned();
    let shown = invitation(&app, &id).await;
    assert_eq!(shown["reminder_due_at"], created["reminder_due_at"], "{shown}");
    let first = smtp.mail.wait_for("ada@example.com").await;

    app.clock.advance(HOUR + Duration::from_secs(60));
    let mails = smtp.mail.wait_for_count("ada@example.com", 2).await;
    let reminder = &mails[1];
    assert_eq!(reminder.join_link(), first.join_link(), "the same link");
    assert!(reminder.header("Subject").is_some_and(|s| s.contains("Reminder")), "{}", reminder.raw());
    assert_eq!(reminder.header("X-Usher-Kind").as_deref(), Some("reminder"));
    let token = first.join_link().split("token=").nth(1).expect("a token").to_owned();
    assert!(reminder.part("text/html").is_some_and(|html| html.contains(&token)));
    wait_for_reminders(&app, "ada@example.com", &["sent"]).await;
    let reminded = invitation(&app, &id).await;
    assert_eq!(reminded["reminder_due_at"], Value::Null, "{reminded}");
    assert!(reminded["reminded_at"].is_string(), "{reminded}");
    assert_eq!(reminded["status"], "pending");

    // Once: later, and still before expiry, nothing more is due; the link still works.
    app.clock.advance(Duration::from_secs(30 * 60));
    let response = app.accept(&first.join_link(), "Ada", "correct horse battery").await;
    assert_eq!(response.status(), 303);
    assert_eq!(reminder_statuses(&app, "ada@example.com").await, ["sent"]);
    assert_eq!(smtp.mail.to("ada@example.com").len(), 2);
}

/// The reminder is written in its invitation's language: the one the invite named, else the
/// app's default.
#[tokio::test]
async fn a_reminder_is_written_in_its_invitations_locale() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = app_with_reminders(&smtp).await;
    assert_eq!(patch_settings(&app, json!({ "locale": "fr" })).await.status(), 200);
    let named = json!({ "user_email": "jonas@example.com", "role": "user", "locale": "de" });
    assert_eq!(app.post_json(&app.invite_path(), &named).await.status(), 200);
    invite(&app, "camille@example.com").await;
    smtp.mail.wait_for("jonas@example.com").await;
    smtp.mail.wait_for("camille@example.com").await;

    app.clock.advance(HOUR + Duration::from_secs(60));
    let german = smtp.mail.wait_for_count("jonas@example.com", 2).await;
    let french = smtp.mail.wait_for_count("camille@example.com", 2).await;

    for (mails, subject, words) in [
        (&german, "Erinnerung: Ihre Einladung zu Acme Notes läuft bald ab", "Dies ist eine Erinnerung"),
        (&french, "Rappel : votre invitation à rejoindre Acme Notes expire bientôt", "Petit rappel"),
    ] {
        let reminder = &mails[1];
        assert_eq!(reminder.header("X-Usher-Kind").as_deref(), Some("reminder"));
        assert_eq!(reminder.header("Subject").as_deref(), Some(subject));
        assert!(reminder.text().contains(words), "{}", reminder.text());
        assert_eq!(reminder.join_link(), mails[0].join_link(), "the same link");
    }
    assert!(german[1].text().contains(" um "), "the expiry in German words: {}", german[1].text());
}

#[tokio::test]
async fn no_reminder_goes_to_an_accepted_revoked_or_replaced_link_and_a_re_sent_link_gets_its_own() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = app_with_reminders(&smtp).await;
    invite(&app, "accepted@example.com").await;
    let revoked = invite(&app, "revoked@example.com").await;
    invite(&app, "resent@example.com").await;
    let accepted_link = smtp.mail.wait_for("accepted@example.com").await.join_link();
    let old_link = smtp.mail.wait_for("resent@example.com").await.join_link();
    assert_eq!(app.accept(&accepted_link, "Acc", "correct horse battery").await.status(), 303);
    let id = revoked["id"].as_str().expect("id");
    assert_eq!(post(&app, &format!("/api/apps/{}/invitations/{id}/revoke", app.app_id)).await.status(), 200);
    // Re-sent half an hour later: a new link, expiring then, with a reminder of its own.
    app.clock.advance(Duration::from_secs(30 * 60));
    let resent = invite(&app, "resent@example.com").await;
    assert!(due_an_hour_before_expiry(&resent), "{resent}");
    let new_link = smtp.mail.wait_for_nth("resent@example.com", 2).await.join_link();
    assert_ne!(new_link, old_link);
    assert_eq!(reminder_statuses(&app, "resent@example.com").await, ["cancelled", "queued"], "replaced at once");

    // The first links' reminders fall due: each is cancelled, none is mailed.
    app.clock.advance(Duration::from_secs(31 * 60));
    wait_for_reminders(&app, "accepted@example.com", &["cancelled"]).await;
    wait_for_reminders(&app, "revoked@example.com", &["cancelled"]).await;
    assert_eq!(smtp.mail.to("accepted@example.com").len(), 1);
    assert_eq!(smtp.mail.to("revoked@example.com").len(), 1);
    assert_eq!(smtp.mail.to("resent@example.com").len(), 2);

    // The re-sent link's own reminder, with the new link.
    app.clock.advance(Duration::from_secs(30 * 60));
    let mails = smtp.mail.wait_for_count("resent@example.com", 3).await;
    assert_eq!(mails[2].join_link(), new_link);
    assert_eq!(mails[2].header("X-Usher-Kind").as_deref(), Some("reminder"));
    wait_for_reminders(&app, "resent@example.com", &["cancelled", "sent"]).await;
}

#[tokio::test]
async fn reminders_are_off_by_default_and_switching_them_off_cancels_those_not_yet_sent() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;
    let defaults: Value = app
        .http()
        .get(app.url(&format!("/api/apps/{}/settings", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(defaults["reminder_before_expiry_hours"], Value::Null, "off by default");
    let plain = invite(&app, "plain@example.com").await;
    assert_eq!(plain["reminder_due_at"], Value::Null);
    smtp.mail.wait_for("plain@example.com").await;
    assert!(reminder_statuses(&app, "plain@example.com").await.is_empty(), "none scheduled");

    let response = patch_settings(&app, json!({ "reminder_before_expiry_hours": 24 })).await;
    assert_eq!(response.status(), 200);
    let scheduled = invite(&app, "later@example.com").await;
    assert!(scheduled["reminder_due_at"].is_string(), "{scheduled}");
    smtp.mail.wait_for("later@example.com").await;
    let response = patch_settings(&app, json!({ "reminder_before_expiry_hours": null })).await;
    assert_eq!(response.status(), 200);
    let settings: Value = response.json().await.expect("json");
    assert_eq!(settings["reminder_before_expiry_hours"], Value::Null);

    app.clock.advance(Duration::from_secs(6 * 24 * 3600 + 60));
    wait_for_reminders(&app, "later@example.com", &["cancelled"]).await;
    assert_eq!(smtp.mail.to("later@example.com").len(), 1);
    assert!(reminder_statuses(&app, "plain@example.com").await.is_empty());
    assert_eq!(smtp.mail.to("plain@example.com").len(), 1);
}

#[tokio::test]
async fn reminder_settings_out_of_range_are_refused_with_invalid_setting() {
    let app = TestApp::spawn().await;
    // The default lifetime is 7 days (168 hours).
    for bad in [
        json!({ "reminder_before_expiry_hours": 0 }),
        json!({ "reminder_before_expiry_hours": -1 }),
        json!({ "reminder_before_expiry_hours": 1.5 }),
        json!({ "reminder_before_expiry_hours": "24" }),
        json!({ "reminder_before_expiry_hours": 168 }),
        json!({ "reminder_before_expiry_hours": 1, "invitation_ttl_seconds": 3600 }),
    ] {
        let body = assert_error(patch_settings(&app, bad.clone()).await, 400, "INVALID_SETTING").await;
        assert_eq!(body["detail"]["field"], "reminder_before_expiry_hours", "{bad}: {body}");
    }
    let response = patch_settings(&app, json!({ "reminder_before_expiry_hours": 167 })).await;
    assert_eq!(response.status(), 200);
    // A lifetime shorter than the lead is refused too, and nothing changes.
    let body =
        assert_error(patch_settings(&app, json!({ "invitation_ttl_seconds": 86400 })).await, 400, "INVALID_SETTING")
            .await;
    assert_eq!(body["detail"]["field"], "reminder_before_expiry_hours", "{body}");
    let settings = app.client().settings().get().await.expect("settings");
    assert_eq!((settings.invitation_ttl_seconds, settings.reminder_before_expiry_hours), (7 * 24 * 3600, Some(167)));
}
