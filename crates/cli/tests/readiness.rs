//! `/readyz` of a real `usher serve`: 503 with the reason while the delivery worker cannot
//! register, while `/healthz` (the process answers) stays 200; ready by itself once the cause
//! is gone.

mod support;

use std::time::{Duration, Instant};

use support::{create_app, serve, wait_healthy};
use usher_testkit::{PATIENCE, free_port};

/// `GET /readyz` on `port`: its status and JSON body.
async fn readyz(port: u16) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.expect("readyz answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn readyz_answers_503_with_the_reason_until_the_delivery_worker_can_register() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let mail = format!("file://{}/mail", dir.path().display());
    create_app(&database);
    // The directory of the instances' lock files cannot be made: a file is in its way.
    let blocker = dir.path().join("usher.db-instances");
    std::fs::write(&blocker, "in the way").expect("blocker");
    let port = free_port();
    let mut server = serve(&database, port, &mail, Some(Duration::from_secs(1)));
    wait_healthy(port).await;

    let (status, body) = readyz(port).await;
    std::fs::remove_file(&blocker).expect("the cause goes away");
    let deadline = Instant::now() + PATIENCE;
    let recovered = loop {
        let (status, _) = readyz(port).await;
        if status == 200 || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.kill().expect("stop");
    server.wait().expect("reaped");

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "NOT_READY", "{body}");
    assert_eq!((&body["detail"]["database"], &body["detail"]["migrations"]), (&"ok".into(), &"ok".into()), "{body}");
    let delivery = body["detail"]["delivery"].as_str().unwrap_or_default();
    assert!(delivery.contains("has not registered"), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains(delivery), "{body}");
    assert_eq!(recovered, 200, "ready once the worker registers");
}
