//! Delivery over real SMTP (aiosmtpd on a loopback port): the mail arrives and its link works,
//! and the server's reply is kept with the attempt; a server that is down gets every mail once
//! when it is back, the backoff showing meanwhile; a connection lost at the end of DATA is
//! retried; a 550 fails the invitation with the reason.

use std::time::{Duration, Instant};

use base44::{DeliveryStatus, Invitation, InvitationStatus, Role};
use usher_testkit::{PATIENCE, SmtpServer, TestApp, free_port};

/// Polls the invitation until `done` holds for it.
async fn wait_for_invitation(app: &TestApp, id: &str, done: impl Fn(&Invitation) -> bool) -> Invitation {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = app
            .http()
            .get(app.url(&format!("/api/apps/{}/invitations/{id}", app.app_id)))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        let invitation: Invitation = response.json().await.expect("invitation");
        if done(&invitation) {
            return invitation;
        }
        assert!(Instant::now() < deadline, "invitation never reached the expected state: {invitation:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn invitation_mail_arrives_over_smtp_and_its_link_completes_the_join() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;

    let invited = app.client().users().invite_user("ada@example.com", Role::Admin).await.expect("invite");
    let mail = smtp.mail.wait_for("ada@example.com").await;

    assert_eq!(mail.content_type(), "multipart/alternative");
    assert!(mail.header("From").is_some_and(|f| f.contains("Acme Notes")));
    assert!(mail.header("Message-ID").is_some_and(|id| id.starts_with('<')));
    assert!(mail.header("Date").is_some());
    assert!(mail.part("text/html").is_some_and(|html| html.contains("Acme Notes")));
    let response = app.accept(&mail.join_link(), "Ada", "correct horse battery").await;
    assert_eq!(response.status(), 303);
    let id = invited.invitation().expect("invitation").id.clone();
    let shown = wait_for_invitation(&app, &id, |i| i.delivery.status == DeliveryStatus::Sent).await;
    assert_eq!((shown.status, shown.delivery.attempts), (InvitationStatus::Accepted, 1));
    // The attempt keeps the server's reply, which the console's invitation page shows.
    let replies = app.query_text(&format!("SELECT reply FROM delivery_attempts WHERE invitation_id = '{id}'")).await;
    let queued_as = replies.first().and_then(|reply| reply.strip_prefix("250 2.0.0 Ok: queued as "));
    assert!(queued_as.is_some_and(|name| name.len() == 32), "{replies:?}");
}

#[tokio::test]
async fn invitation_mails_arrive_once_each_after_the_smtp_server_comes_up_when_it_was_down() {
    let port = free_port();
    let app =
        TestApp::spawn_with(|s| s.mail_url = format!("smtp://127.0.0.1:{port}?tls=none").parse().expect("url")).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let invited = app.client().users().invite_user(&format!("down{n}@example.com"), Role::User).await;
        ids.push(invited.expect("invite").invitation().expect("invitation").id.clone());
    }
    let mut waiting = Vec::new();
    for id in &ids {
        let retry_waits = |i: &Invitation| i.delivery.attempts == 1 && i.delivery.next_attempt_at.is_some();
        waiting.push(wait_for_invitation(&app, id, retry_waits).await);
    }

    let Some(smtp) = SmtpServer::start_on(port).await else { return };
    app.clock.advance(Duration::from_secs(120));

    for failed_once in &waiting {
        assert_eq!(failed_once.delivery.status, DeliveryStatus::Queued, "a refused connection is retried");
        let error = failed_once.delivery.last_error.as_deref().unwrap_or_default();
        assert!(error.contains(&format!("127.0.0.1:{port}")), "the reason names the server: {error}");
        let next = failed_once.delivery.next_attempt_at.expect("a next attempt");
        assert!(next > failed_once.created_date, "the retry waits for its backoff: {next}");
    }
    for (n, id) in ids.iter().enumerate() {
        smtp.mail.wait_for(&format!("down{n}@example.com")).await;
        let sent = wait_for_invitation(&app, id, |i| i.delivery.status == DeliveryStatus::Sent).await;
        assert_eq!((sent.delivery.attempts, sent.delivery.next_attempt_at), (2, None));
    }
    for n in 0..20 {
        assert_eq!(smtp.mail.to(&format!("down{n}@example.com")).len(), 1, "down{n} once");
    }
}

#[tokio::test]
async fn invitation_mail_is_retried_and_arrives_once_when_the_connection_drops_at_the_end_of_data() {
    let port = free_port();
    let Some(smtp) = SmtpServer::start_with(port, &["--drop-first", "1"]).await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;

    let invited = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let dropped = wait_for_invitation(&app, &id, |i| i.delivery.last_error.is_some()).await;
    app.clock.advance(Duration::from_secs(120));
    smtp.mail.wait_for("ada@example.com").await;

    let sent = wait_for_invitation(&app, &id, |i| i.delivery.status == DeliveryStatus::Sent).await;
    assert_eq!((dropped.delivery.status, dropped.delivery.attempts), (DeliveryStatus::Queued, 1), "{dropped:?}");
    assert_eq!(sent.delivery.attempts, 2);
    assert_eq!(smtp.mail.to("ada@example.com").len(), 1);
}

#[tokio::test]
async fn invitation_shows_failed_with_the_reason_when_the_server_answers_550() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;

    let invited = app.client().users().invite_user("bounce@example.com", Role::User).await.expect("invite");

    let id = invited.invitation().expect("invitation").id.clone();
    let failed = wait_for_invitation(&app, &id, |i| i.delivery.status == DeliveryStatus::Failed).await;
    assert!(failed.delivery.last_error.as_deref().is_some_and(|e| e.contains("550")), "{failed:?}");
    assert_eq!(failed.delivery.attempts, 1, "a permanent refusal is not retried");
}

#[tokio::test]
async fn each_invitation_is_mailed_once_when_delivery_succeeds() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;
    let addresses: Vec<String> = (0..40).map(|n| format!("member{n}@example.com")).collect();

    for address in &addresses {
        app.client().users().invite_user(address, Role::User).await.expect("invite");
    }
    for address in &addresses {
        smtp.mail.wait_for(address).await;
    }
    // Past every lease: nothing delivered may be claimed again.
    app.clock.advance(Duration::from_secs(3600));
    app.client().users().invite_user("last@example.com", Role::User).await.expect("invite");
    smtp.mail.wait_for("last@example.com").await;

    for address in &addresses {
        assert_eq!(smtp.mail.to(address).len(), 1, "{address}");
    }
}

#[tokio::test]
async fn invitation_is_not_found_in_another_app_and_needs_an_admin() {
    let app = TestApp::spawn().await;
    let invited = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let (other_id, other_key) = app.create_other_app("Other").await;
    let member = app.invite_and_join("bob@example.com", Role::User).await;

    let elsewhere = app
        .http()
        .get(app.url(&format!("/api/apps/{other_id}/invitations/{id}")))
        .bearer_auth(&other_key)
        .send()
        .await
        .expect("GET");
    let as_member = app
        .http()
        .get(app.url(&format!("/api/apps/{}/invitations/{id}", app.app_id)))
        .bearer_auth(&member)
        .send()
        .await
        .expect("GET");

    crate::support::assert_error(elsewhere, 404, "INVITATION_NOT_FOUND").await;
    crate::support::assert_error(as_member, 403, "ADMIN_REQUIRED").await;
}
