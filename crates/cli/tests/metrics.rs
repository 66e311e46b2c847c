//! `/metrics` on the listener `USHER_METRICS_LISTEN` names (and not on the public one), after
//! invites with each outcome, a delivered email and a throttled sign-in, read back with an
//! independent parser: `prometheus_client`'s text parser, from PyPI, in the test SMTP server's
//! Python (`tests/smtp/requirements.txt`).

#[expect(dead_code, reason = "each test file uses part of the support module")]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{PATIENCE, SmtpServer, free_port};

/// Parses the Prometheus text format on stdin; prints every sample as JSON. Fails on anything
/// the format does not allow.
const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": sample.name,
                        "labels": sample.labels, "value": sample.value})
print(json.dumps(samples))
"#;

/// One sample of the scrape.
#[derive(Debug)]
struct Sample {
    family_type: String,
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// Parses `text` with `prometheus_client` under `python`.
fn parse(python: &Path, text: &str) -> Vec<Sample> {
    let mut child = Command::new(python)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the scrape");
    let parsed = child.wait_with_output().expect("parser");
    assert!(parsed.status.success(), "the scrape does not parse: {}\n{text}", String::from_utf8_lossy(&parsed.stderr));
    let samples: Vec<Value> = serde_json::from_slice(&parsed.stdout).expect("JSON");
    samples
        .into_iter()
        .map(|s| Sample {
            family_type: s["type"].as_str().unwrap_or_default().to_owned(),
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            labels: s["labels"].as_object().cloned().unwrap_or_default(),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`, summed over the rest.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v)))
        .collect();
    (!matching.is_empty()).then(|| matching.iter().map(|s| s.value).sum())
}

#[tokio::test]
async fn metrics_listener_serves_parseable_metrics_of_requests_invites_mail_store_and_throttle() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&database);
    let (port, metrics_port) = (free_port(), free_port());
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut server = serve_with(&database, port, &smtp.url(), &[("USHER_METRICS_LISTEN", &metrics_addr)]);
    wait_healthy(port).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/apps/{app_id}");
    let invite = |email: &str| {
        http.post(format!("{base}/runtime/users/invite-user"))
            .bearer_auth(&api_key)
            .json(&json!({ "user_email": email, "role": "user" }))
            .send()
    };
    let statuses = [
        invite("ada@example.com").await.expect("invite").status().as_u16(),
        invite("ada@example.com").await.expect("invite again").status().as_u16(),
        invite("not an address").await.expect("bad invite").status().as_u16(),
    ];
    assert_eq!(statuses, [200, 429, 400]);
    let mut last_sign_in = 0;
    for _ in 0..6 {
        let body = json!({ "email": "ada@example.com", "password": "wrong password" });
        last_sign_in =
            http.post(format!("{base}/auth/login")).json(&body).send().await.expect("login").status().as_u16();
    }
    assert_eq!(last_sign_in, 429, "the sixth wrong sign-in is throttled");
    let public = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.expect("public /metrics");

    // The email counts once the worker has recorded it: scrape until then.
    let deadline = Instant::now() + PATIENCE;
    let (samples, content_type) = loop {
        let response = http.get(format!("http://{metrics_addr}/metrics")).send().await.expect("scrape");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
        let samples = parse(smtp.python(), &response.text().await.expect("body"));
        let sent = value(&samples, "usher_mail_delivery_attempts_total", &[("result", "sent")]);
        if sent.is_some() || Instant::now() > deadline {
            break (samples, content_type);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    server.kill().expect("stop");
    server.wait().expect("reaped");

    assert_eq!(public.status().as_u16(), 404, "the public listener has no /metrics");
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert_eq!(value(&samples, "usher_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    let invite_route = [("route", "/api/apps/{app_id}/runtime/users/invite-user"), ("method", "POST")];
    let by_status =
        |status| value(&samples, "usher_http_requests_total", &[invite_route[0], invite_route[1], ("status", status)]);
    assert_eq!((by_status("200"), by_status("429"), by_status("400")), (Some(1.0), Some(1.0), Some(1.0)));
    assert_eq!(value(&samples, "usher_http_request_duration_seconds_count", &invite_route), Some(3.0));
    let histogram = samples.iter().find(|s| s.name == "usher_http_request_duration_seconds_bucket").expect("buckets");
    assert_eq!(histogram.family_type, "histogram");
    assert!(!samples.iter().any(|s| s.labels.values().any(|v| v.as_str().is_some_and(|v| v.contains(&app_id)))));
    assert_eq!(value(&samples, "usher_invites_total", &[("outcome", "created")]), Some(1.0));
    assert_eq!(
        value(&samples, "usher_invites_total", &[("outcome", "refused"), ("code", "RESEND_THROTTLED")]),
        Some(1.0)
    );
    assert_eq!(value(&samples, "usher_invites_total", &[("outcome", "refused"), ("code", "INVALID_EMAIL")]), Some(1.0));
    assert!(value(&samples, "usher_outbox_messages", &[("status", "queued")]).is_some());
    assert!(value(&samples, "usher_outbox_messages", &[("status", "sending")]).is_some());
    assert_eq!(value(&samples, "usher_mail_delivery_attempts_total", &[("result", "sent")]), Some(1.0));
    assert_eq!(value(&samples, "usher_mail_delivery_latency_seconds_count", &[("kind", "invitation")]), Some(1.0));
    assert!(
        value(&samples, "usher_store_commit_duration_seconds_count", &[("backend", "sqlite")])
            .is_some_and(|n| n >= 1.0)
    );
    assert!(value(&samples, "usher_store_commit_batch_size_sum", &[("backend", "sqlite")]).is_some_and(|n| n >= 1.0));
    assert_eq!(value(&samples, "usher_sign_in_throttled_total", &[("operation", "sign_in")]), Some(1.0));
}

#[test]
fn serve_refuses_when_the_metrics_address_is_the_public_one() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");

    let refused = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("serve")
        .env("USHER_CONFIG", "/dev/null")
        .env("USHER_LISTEN", &addr)
        .env("USHER_METRICS_LISTEN", &addr)
        .output()
        .expect("usher serve");

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("USHER_METRICS_LISTEN") && stderr.contains("must differ from USHER_LISTEN"), "{stderr}");
}
