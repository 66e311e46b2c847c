//! Signed webhooks against a real HTTP receiver (tests/webhooks/receiver.py) that verifies
//! every delivery with the independent `standardwebhooks` library from PyPI.

use std::time::Duration;

use serde_json::{Value, json};
use usher_testkit::{TestApp, WebhookReceiver as Receiver};

fn of_type<'a>(received: &'a [Value], kind: &str) -> Vec<&'a Value> {
    received.iter().filter(|r| r["type"] == kind).collect()
}

async fn add_webhook(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let response = app
        .http()
        .post(app.url(&format!("api/apps/{}/webhooks", app.app_id)))
        .bearer_auth(&app.api_key)
        .json(&json!({"url": url, "events": events}))
        .send()
        .await
        .expect("add webhook");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
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
    let hook = add_webhook(&app, &receiver.url("/hook"), &ALL).await;
    let secret = hook["secret"].as_str().expect("secret shown once");
    assert!(secret.starts_with("whsec_"));
    receiver.configure(secret, 0).await;

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
    assert_eq!(listed["items"][0]["id"], hook["id"]);
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
    let hook = add_webhook(&app, &receiver.url("/hook"), &["invitation.created"]).await;
    receiver.configure(hook["secret"].as_str().expect("secret"), 2).await;

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

    let deliveries_url = format!("api/apps/{}/webhooks/{}/deliveries", app.app_id, hook["id"].as_str().expect("id"));
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
    let hook = add_webhook(&app, "https://hooks.example.com/usher", &["invitation.created"]).await;
    let hook_id = hook["id"].as_str().expect("id");
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
    let hook = add_webhook(&app, &receiver.url("/hook"), &events).await;
    receiver.configure(hook["secret"].as_str().expect("secret"), 0).await;
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
    // `delete_user` stamps its event with the wall clock, not the server's (manual) one: move
    // the server's ahead so that the event is due when it is written.
    app.clock.advance(Duration::from_secs(600));
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
    let deliveries_url = format!("api/apps/{}/webhooks/{}/deliveries", app.app_id, hook["id"].as_str().expect("id"));
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
