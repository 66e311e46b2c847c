//! [`WebhookReceiver`]: the webhook receiver of the tests (tests/webhooks/receiver.py), which
//! verifies every delivery with the independent `standardwebhooks` library from PyPI and
//! records what it got.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base44::WebhookInfo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The receiver process; killed on drop.
pub struct WebhookReceiver {
    port: u16,
    _child: Child,
}

impl WebhookReceiver {
    /// Starts the receiver, or `None` (after a notice) without the test venv; on CI a failure.
    pub async fn start() -> Option<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("USHER_TEST_SMTP_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/smtp-venv/bin/python"));
        let has_library = python.exists()
            && Command::new(&python)
                .args(["-c", "import standardwebhooks"])
                .status()
                .await
                .is_ok_and(|status| status.success());
        if !has_library {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI needs the webhook verifier: run scripts/test, which installs standardwebhooks into target/smtp-venv"
            );
            eprintln!("SKIPPED: no standardwebhooks (scripts/test installs it into target/smtp-venv)");
            return None;
        }
        let mut child = Command::new(&python)
            .arg(root.join("tests/webhooks/receiver.py"))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("receiver starts");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout).lines().next_line().await.expect("read").expect("a line");
        let port = line.strip_prefix("listening ").expect("listening PORT").parse().expect("port");
        Some(Self { port, _child: child })
    }

    /// A URL on the receiver; deliveries go to `/hook`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Adds an endpoint to app `app_id` on the Usher server at `server` (its base URL) with
    /// `api_key`: `events` are posted to this receiver's `/hook`, which verifies them with the
    /// endpoint's secret from then on. Returns the endpoint as created (201), secret included.
    pub async fn subscribe(&self, server: &str, app_id: &str, api_key: &str, events: &[&str]) -> WebhookInfo {
        let url = format!("{}/api/apps/{app_id}/webhooks", server.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(api_key)
            .json(&json!({"url": self.url("/hook"), "events": events}))
            .send()
            .await
            .expect("add webhook");
        assert_eq!(response.status(), 201, "adding a webhook answers 201");
        let hook: WebhookInfo = response.json().await.expect("a webhook");
        self.configure(hook.secret.as_deref().expect("the secret, shown once"), 0).await;
        hook
    }

    /// Verifies with `secret` from now on, and answers 500 to the next `fail` deliveries.
    pub async fn configure(&self, secret: &str, fail: u32) {
        self.post_config(json!({"secret": secret, "fail": fail})).await;
    }

    /// While `hold` is true, deliveries are verified and recorded (with `"answered": null`) but
    /// not answered: they stay in flight until the sender gives up or goes away. Setting it
    /// false releases them (answered 503, to whoever still listens).
    pub async fn hold(&self, hold: bool) {
        self.post_config(json!({"hold": hold})).await;
    }

    async fn post_config(&self, config: Value) {
        let response = reqwest::Client::new().post(self.url("/_config")).json(&config).send().await.expect("configure");
        assert!(response.status().is_success());
    }

    /// Every delivery so far: `[{"id", "type", "verified", "answered", "payload"}…]`.
    pub async fn received(&self) -> Vec<Value> {
        reqwest::get(self.url("/_received")).await.expect("get").json().await.expect("json")
    }

    /// Waits until `done` holds for what was received (at most 30 s).
    pub async fn wait_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_at_most(Duration::from_secs(30), done).await
    }

    /// Waits until `done` holds for what was received, at most `patience`.
    pub async fn wait_at_most(&self, patience: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            let received = self.received().await;
            if done(&received) {
                return received;
            }
            if std::time::Instant::now() > deadline {
                panic!("the receiver did not get what was expected within {patience:?}: {received:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
