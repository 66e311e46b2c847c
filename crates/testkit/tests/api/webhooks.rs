//! Signed webhooks against a real HTTP receiver (tests/webhooks/receiver.py) that verifies
//! every delivery with the independent `standardwebhooks` library from PyPI.

use std::time::Duration;

use serde_json::{Value, json};
use usher_testkit::{TestApp, WebhookReceiver as Receiver};

use crate::support::assert_api_error;

fn of_type<'a>(received: &'a [Value], kind: &str) -> Vec<&'a Value> {
    received.iter().filter(|r| r["type"] == kind).collect()
}

const ALL: [&str; 9] = [
    "invitation.created",
    "invitation.resent",
    "invitation.accepted",
    "invitation.revoked",
    "invitation.expired",
    "email.sent",
    "email.failed",
    "member.joined",
    "member.removed",
];

#[tokio::test]
async fn the_life_of_invitations_arrives_signed_and_without_secrets() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn().await;
    let hook = receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &ALL).await;
    assert!(hook.secret.as_deref().is_some_and(|secret| secret.starts_with("whsec_")));

    // Listed without the secret.
    let listed: Value = app
        .http()
        .get(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["items"][0]["id"], hook.id.as_str());
    assert!(listed["items"][0].get("secret").is_none());

    // Invited, mailed, joined, removed.
    let token = app.invite_and_join("ada@example.com", base44::Role::User).await;
    assert!(!token.is_empty());
    let received = receiver.wait_until(|r| !of_type(r, "member.joined").is_empty()).await;
    let joined = of_type(&received, "member.joined")[0];
    let user_id = joined["payload"]["data"]["user_id"].as_str().expect("user id").to_owned();
    let removed = app
        .http()
        .delete(app.url(&format!("api/apps/{}/entities/User/{user_id}", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), 200);

    // Invited, re-sent and revoked.
    let client = app.client();
    client.users().invite_user("bob@example.com", base44::Role::Admin).await.expect("invite");
    let resent = client.users().invite_user("bob@example.com", base44::Role::Admin).await.expect("re-send");
    client.invitations().revoke(&resent.invitation().expect("re-sent").id).await.expect("revoke");

    // Invited and left to expire: announced once, however often the worker sweeps.
    client.users().invite_user("carol@example.com", base44::Role::User).await.expect("invite");
    app.clock.advance(Duration::from_secs(8 * 24 * 3600));

    receiver
        .wait_until(|r| {
            ["member.removed", "invitation.revoked", "invitation.expired"]
                .iter()
                .all(|kind| !of_type(r, kind).is_empty())
        })
        .await;
    // Another sweep or two must not announce it again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let received = receiver.received().await.into_iter().filter(|r| r["answered"] == 204).collect::<Vec<_>>();
    assert!(received.len() >= 9, "{received:#?}");

    for record in &received {
        assert_eq!(record["verified"], true, "every signature verifies: {record:#?}");
        let text = record["payload"].to_string();
        for secret_shape in ["inv_", "usk_", "whsec_", "rst_", "password", "token", "access_token"] {
            assert!(!text.contains(secret_shape), "{secret_shape} in {text}");
        }
    }
    let count = |kind: &str| of_type(&received, kind).len();
    assert_eq!(count("invitation.created"), 3, "{received:#?}");
    assert_eq!(count("invitation.resent"), 1);
    assert_eq!(count("invitation.accepted"), 1);
    assert_eq!(count("member.joined"), 1);
    assert_eq!(count("member.removed"), 1);
    assert_eq!(count("invitation.revoked"), 1);
    assert_eq!(count("invitation.expired"), 1, "expiry is announced exactly once");
    assert!(count("email.sent") >= 1);
    let expired = of_type(&received, "invitation.expired")[0];
    assert_eq!(expired["payload"]["data"]["email"], "carol@example.com");
    assert_eq!(expired["payload"]["data"]["status"], "expired");
    let accepted = of_type(&received, "invitation.accepted")[0];
    assert_eq!(accepted["payload"]["data"]["email"], "ada@example.com");
    assert_eq!(accepted["payload"]["data"]["role"], "user");
    assert_eq!(accepted["payload"]["data"]["app_id"], app.app_id.as_str());
    // Each event is delivered once here, each with an id of its own.
    let mut ids: Vec<&str> = received.iter().filter_map(|r| r["id"].as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_delivery_a_third_time() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn().await;
    let hook = receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &["invitation.created"]).await;
    receiver.configure(hook.secret.as_deref().expect("secret"), 2).await;

    app.client().users().invite_user("dora@example.com", base44::Role::User).await.expect("invite");
    receiver.wait_until(|r| r.len() == 1).await;
    // Retries back off (1 s, then 5 s) on the server's clock.
    app.clock.advance(Duration::from_secs(2));
    receiver.wait_until(|r| r.len() == 2).await;
    app.clock.advance(Duration::from_secs(6));
    let received = receiver.wait_until(|r| r.len() == 3).await;

    let answers: Vec<&Value> = received.iter().map(|r| &r["answered"]).collect();
    assert_eq!(answers, [&json!(500), &json!(500), &json!(204)]);
    assert!(received.iter().all(|r| r["verified"] == true));
    assert!(received.iter().all(|r| r["id"] == received[0]["id"]), "the same webhook-id on every attempt");

    let deliveries_url = format!("api/apps/{}/webhooks/{}/deliveries", app.app_id, hook.id);
    let mut deliveries = Value::Null;
    for _ in 0..50 {
        deliveries = app
            .http()
            .get(app.url(&deliveries_url))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("deliveries")
            .json()
            .await
            .expect("json");
        if deliveries["items"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivery = &deliveries["items"][0];
    assert_eq!(delivery["status"], "delivered", "{deliveries:#?}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status_code"], 204);
    assert_eq!(delivery["id"], received[0]["id"]);

    // Retried by hand: delivered once more, with the same id.
    let retry = app
        .http()
        .post(app.url(&format!("{deliveries_url}/{}/retry", delivery["id"].as_str().expect("id"))))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("retry");
    assert_eq!(retry.status(), 200);
    let received = receiver.wait_until(|r| r.len() == 4).await;
    assert_eq!(received[3]["id"], received[0]["id"]);
    assert_eq!(received[3]["verified"], true);
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let app = TestApp::spawn_with(|settings| settings.webhook_allow_private = false).await;
    for url in ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "ftp://example.com/", "http://[::1]/"] {
        let response = app
            .http()
            .post(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
            .bearer_auth(&app.api_key)
            .json(&json!({"url": url, "events": ["invitation.created"]}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], "INVALID_WEBHOOK");
    }
    let unknown = app
        .http()
        .post(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&json!({"url": "https://hooks.example.com/", "events": ["invitation.created", "user.created"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn another_apps_endpoints_and_unknown_deliveries_are_not_found() {
    let app = TestApp::spawn().await;
    let hook =
        app.client().webhooks().create("https://hooks.example.com/usher", &["invitation.created"]).await.expect("add");
    let hook_id = hook.id.as_str();
    let (other_app, other_key) = app.create_other_app("Other").await;
    let call = |method: reqwest::Method, app_id: &str, key: &str, tail: &str| {
        app.http().request(method, app.url(&format!("api/apps/{app_id}/webhooks/{tail}"))).bearer_auth(key).send()
    };
    let error = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        (status, body["code"].as_str().expect("code").to_owned())
    };
    let not_found = (404, "WEBHOOK_NOT_FOUND".to_owned());

    for (method, tail) in [
        (reqwest::Method::DELETE, hook_id.to_owned()),
        (reqwest::Method::POST, format!("{hook_id}/rotate-secret")),
        (reqwest::Method::GET, format!("{hook_id}/deliveries")),
        (reqwest::Method::POST, format!("{hook_id}/deliveries/msg_x/retry")),
    ] {
        let response = call(method.clone(), &other_app, &other_key, &tail).await.expect("call");
        assert_eq!(error(response).await, not_found, "{method} {tail} from another app");
    }
    let unknown_delivery =
        call(reqwest::Method::POST, &app.app_id, &app.api_key, &format!("{hook_id}/deliveries/msg_x/retry")).await;
    assert_eq!(error(unknown_delivery.expect("call")).await, (404, "WEBHOOK_DELIVERY_NOT_FOUND".to_owned()));
    let no_events = app
        .http()
        .post(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&json!({"url": "https://hooks.example.com/", "events": []}))
        .send()
        .await
        .expect("post");
    assert_eq!(error(no_events).await, (400, "INVALID_WEBHOOK".to_owned()));
    let listed: Value = app
        .http()
        .get(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "the other app's calls changed nothing");
}

#[tokio::test]
async fn changes_wake_the_webhook_worker_instead_of_waiting_for_its_poll() {
    let Some(receiver) = Receiver::start().await else { return };
    // An hour between polls: within this test only being woken delivers anything.
    let app = TestApp::spawn_with(|settings| settings.webhook_poll = Duration::from_secs(3600)).await;
    let events = ["invitation.created", "invitation.revoked", "invitation.accepted", "member.joined", "member.removed"];
    let hook = receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &events).await;
    let client = app.client();
    let delivered = |kind: &'static str, count: usize| move |r: &[Value]| of_type(r, kind).len() >= count;

    let invited = client.users().invite_user("bob@example.com", base44::Role::User).await.expect("invite");
    receiver.wait_until(delivered("invitation.created", 1)).await;
    client.invitations().revoke(&invited.invitation().expect("invited").id).await.expect("revoke");
    receiver.wait_until(delivered("invitation.revoked", 1)).await;
    app.invite_and_join("ada@example.com", base44::Role::User).await;
    let received = receiver.wait_until(delivered("member.joined", 1)).await;
    assert_eq!(of_type(&received, "invitation.accepted").len(), 1);
    let user_id = of_type(&received, "member.joined")[0]["payload"]["data"]["user_id"].as_str().expect("id").to_owned();
    let removed = app
        .http()
        .delete(app.url(&format!("api/apps/{}/entities/User/{user_id}", app.app_id)))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), 200);
    let received = receiver.wait_until(delivered("member.removed", 1)).await;

    let first = received[0]["id"].as_str().expect("webhook-id");
    let deliveries_url = format!("api/apps/{}/webhooks/{}/deliveries", app.app_id, hook.id);
    let mut retried = reqwest::StatusCode::CONFLICT;
    for _ in 0..50 {
        // Retried once its first delivery is recorded delivered (not while it is being sent).
        retried = app
            .http()
            .post(app.url(&format!("{deliveries_url}/{first}/retry")))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("retry")
            .status();
        if retried == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(retried, 200);
    let received = receiver.wait_until(|r| r.iter().filter(|d| d["id"] == first).count() == 2).await;
    assert!(received.iter().all(|d| d["verified"] == true && d["answered"] == 204), "{received:#?}");
}

#[tokio::test]
async fn email_events_written_by_the_mail_worker_wake_the_webhook_worker() {
    let Some(receiver) = Receiver::start().await else { return };
    // An hour between polls: within this test only being woken delivers anything.
    let app = TestApp::spawn_with(|settings| settings.webhook_poll = Duration::from_secs(3600)).await;
    app.invite_and_join("ada@example.com", base44::Role::User).await;
    let client = app.client();
    let invitation = client.invitations().list(&base44::InvitationFilter::new()).await.expect("list").items.remove(0);
    wait_for_email_sent(&client, &invitation.id).await;
    receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &["email.sent"]).await;

    // A reset link: queued by a service that wakes only the mail worker; the mail worker
    // writes `email.sent` when it has sent it.
    client.auth().reset_password_request("ada@example.com").await.expect("reset");
    let is_reset = |r: &&Value| r["payload"]["data"]["kind"] == "password_reset";
    let received = receiver.wait_until(|r| of_type(r, "email.sent").iter().any(is_reset)).await;

    let sent = &of_type(&received, "email.sent").into_iter().find(is_reset).expect("the reset's")["payload"]["data"];
    assert_eq!(sent["email"], "ada@example.com");
    assert!(received.iter().all(|r| r["verified"] == true));
}

/// Waits until the invitation's email is recorded sent (the file is written a moment before).
async fn wait_for_email_sent(client: &base44::Client, id: &str) {
    for _ in 0..300 {
        if client.invitations().get(id).await.expect("invitation").delivery.status == base44::DeliveryStatus::Sent {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the invitation's email was not recorded sent");
}

#[tokio::test]
async fn member_removed_is_stamped_with_the_servers_clock() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn().await;
    receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &["member.removed"]).await;
    app.invite_and_join("ada@example.com", base44::Role::User).await;
    let client = app.client();
    let members = client.entities().user().list(&base44::UserQuery::default()).await.expect("members");
    let ada = members.iter().filter_map(|m| m.as_user()).find(|m| m.email == "ada@example.com").expect("ada");

    // Days later by the server's clock, which is the time every other event carries.
    app.clock.advance(Duration::from_secs(3 * 24 * 3600));
    let removed_at = usher_core::Clock::now(&*app.clock);
    client.entities().user().delete(&ada.id).await.expect("remove");
    let received = receiver.wait_until(|r| !of_type(r, "member.removed").is_empty()).await;

    let payload = &of_type(&received, "member.removed")[0]["payload"];
    assert_eq!(payload["timestamp"], removed_at.to_rfc3339(), "{payload:#}");
    assert_eq!(payload["data"]["email"], "ada@example.com");
}

/// The endpoint's deliveries once `done` holds for them (the receiver has an answer a moment
/// before the attempt is recorded).
async fn deliveries_when(
    client: &base44::Client,
    hook_id: &str,
    done: impl Fn(&[base44::WebhookDeliveryInfo]) -> bool,
) -> Vec<base44::WebhookDeliveryInfo> {
    let mut deliveries = Vec::new();
    for _ in 0..300 {
        deliveries = client.webhooks().deliveries(hook_id).await.expect("deliveries");
        if done(&deliveries) {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deliveries did not come to the expected state: {deliveries:#?}");
}

#[tokio::test]
async fn the_sdk_adds_lists_rotates_retries_and_removes_webhooks() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn().await;
    let webhooks = app.client();
    let webhooks = webhooks.webhooks();

    let hook = webhooks.create(&receiver.url("/hook"), &["invitation.created"]).await.expect("create");
    let secret = hook.secret.clone().expect("the secret, shown once");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        (hook.url.as_str(), hook.events.as_slice()),
        (receiver.url("/hook").as_str(), &["invitation.created".to_owned()][..])
    );
    let listed = webhooks.list().await.expect("list");
    assert_eq!(
        listed.iter().map(|h| (h.id.as_str(), h.secret.as_deref())).collect::<Vec<_>>(),
        [(hook.id.as_str(), None)]
    );

    // Rotated: what is sent from now on verifies with the new secret only.
    let rotated = webhooks.rotate_secret(&hook.id).await.expect("rotate");
    let new_secret = rotated.secret.expect("the new secret, shown once");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    receiver.configure(&new_secret, 1).await;
    app.client().users().invite_user("dora@example.com", base44::Role::User).await.expect("invite");
    receiver.wait_until(|r| r.len() == 1).await;
    let failed_once = deliveries_when(&app.client(), &hook.id, |d| {
        d.first().is_some_and(|d| d.attempts == 1 && d.status == "pending")
    })
    .await;
    let delivery = &failed_once[0];
    assert_eq!((delivery.event_type.as_str(), delivery.last_status_code), ("invitation.created", Some(500)));
    assert!(delivery.last_error.is_some() && delivery.next_attempt_date.is_some(), "{delivery:#?}");

    // Retried by hand before its backoff (on the server's clock, which stands still) is over.
    let retried = webhooks.retry_delivery(&hook.id, &delivery.id).await.expect("retry");
    assert_eq!(retried.id, delivery.id);
    let received = receiver.wait_until(|r| r.len() == 2).await;
    assert!(received.iter().all(|r| r["verified"] == true && r["id"] == delivery.id.as_str()), "{received:#?}");
    let delivered =
        deliveries_when(&app.client(), &hook.id, |d| d.first().is_some_and(|d| d.status == "delivered")).await;
    assert_eq!((delivered[0].attempts, delivered[0].last_status_code), (2, Some(204)));

    webhooks.delete(&hook.id).await.expect("delete");
    assert!(webhooks.list().await.expect("list").is_empty());
    assert_api_error(webhooks.deliveries(&hook.id).await, 404, "WEBHOOK_NOT_FOUND");
    assert_api_error(webhooks.delete(&hook.id).await, 404, "WEBHOOK_NOT_FOUND");
    assert_api_error(webhooks.rotate_secret(&hook.id).await, 404, "WEBHOOK_NOT_FOUND");
    assert_api_error(webhooks.retry_delivery(&hook.id, &delivery.id).await, 404, "WEBHOOK_NOT_FOUND");
    assert_api_error(webhooks.create("ftp://example.com/", &["invitation.created"]).await, 400, "INVALID_WEBHOOK");
    assert_api_error(app.anonymous().webhooks().list().await, 401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_on_delivery() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn_with(|settings| settings.webhook_allow_private = false).await;
    // A host name passes when the endpoint is added (DNS may answer differently later); what
    // it resolves to is checked on every delivery, before connecting.
    let port = receiver.url("").rsplit(':').next().expect("port").to_owned();
    let hook = app
        .client()
        .webhooks()
        .create(&format!("http://localhost:{port}/hook"), &["invitation.created"])
        .await
        .expect("a host name is accepted");
    receiver.configure(hook.secret.as_deref().expect("secret"), 0).await;

    app.client().users().invite_user("ada@example.com", base44::Role::User).await.expect("invite");
    let tried = deliveries_when(&app.client(), &hook.id, |d| {
        d.first().is_some_and(|d| d.attempts == 1 && d.status == "pending")
    })
    .await;

    let error = tried[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("resolves only to private, loopback, link-local or metadata addresses"), "{tried:#?}");
    assert_eq!((tried[0].status.as_str(), tried[0].last_status_code), ("pending", None), "retried later");
    assert!(receiver.received().await.is_empty(), "nothing reached the receiver on loopback");
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_within_10_seconds_is_retried_later() {
    let Some(receiver) = Receiver::start().await else { return };
    let app = TestApp::spawn().await;
    let hook = receiver.subscribe(app.base.as_str(), &app.app_id, &app.api_key, &["invitation.created"]).await;
    receiver.hold(true).await;

    app.client().users().invite_user("ada@example.com", base44::Role::User).await.expect("invite");
    receiver.wait_until(|r| r.len() == 1).await;
    let tried = deliveries_when(&app.client(), &hook.id, |d| {
        d.first().is_some_and(|d| d.attempts == 1 && d.status == "pending")
    })
    .await;
    receiver.hold(false).await;

    let delivery = &tried[0];
    assert_eq!(delivery.last_error.as_deref(), Some("timed out after 10 s"), "{delivery:#?}");
    assert_eq!((delivery.status.as_str(), delivery.last_status_code), ("pending", None));
    let next = delivery.next_attempt_date.expect("a next attempt");
    assert!(next > delivery.created_date, "backs off: {delivery:#?}");
}

#[tokio::test]
async fn an_admin_may_manage_webhooks_and_a_plain_member_may_not() {
    let app = TestApp::spawn().await;
    let admin = app.invite_and_join("grace@example.com", base44::Role::Admin).await;
    let member = app.invite_and_join("ada@example.com", base44::Role::User).await;
    let as_admin = app.anonymous().with_token(&admin);
    let as_member = app.anonymous().with_token(&member);

    let hook = as_admin.webhooks().create("https://hooks.example.com/usher", &["member.joined"]).await.expect("add");

    assert_eq!(as_admin.webhooks().list().await.expect("list").len(), 1);
    assert_api_error(as_member.webhooks().list().await, 403, "ADMIN_REQUIRED");
    assert_api_error(
        as_member.webhooks().create("https://hooks.example.com/x", &["member.joined"]).await,
        403,
        "ADMIN_REQUIRED",
    );
    assert_api_error(as_member.webhooks().delete(&hook.id).await, 403, "ADMIN_REQUIRED");
    assert_api_error(as_member.webhooks().rotate_secret(&hook.id).await, 403, "ADMIN_REQUIRED");
    assert_api_error(as_member.webhooks().deliveries(&hook.id).await, 403, "ADMIN_REQUIRED");
    as_admin.webhooks().delete(&hook.id).await.expect("the admin removes it");
}
