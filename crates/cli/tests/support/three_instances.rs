//! Three `usher serve` processes on one database with one app, as behind a load balancer: the
//! start-up the several-instance suites share. Included by those suites only
//! (`#[path = "support/three_instances.rs"]`), so the others do not carry it as dead code.

use std::process::Child;

use serde_json::{Value, json};

use crate::support::{create_app, serve_with, wait_healthy};

/// Three instances serving one app; stopped when dropped.
pub struct ThreeInstances {
    /// The app's id.
    pub app_id: String,
    /// The app's API key.
    pub api_key: String,
    ports: Vec<u16>,
    servers: Vec<Child>,
    http: reqwest::Client,
}

impl ThreeInstances {
    /// Creates an app in `database` and starts three instances on it, each delivering to
    /// `mail_url` with the environment `settings` on top of the defaults; returns once all three
    /// answer `/healthz`.
    pub async fn start(database: &str, mail_url: &str, settings: &[(&str, &str)]) -> Self {
        let (app_id, api_key) = create_app(database);
        let ports: Vec<u16> = (0..3).map(|_| usher_testkit::free_port()).collect();
        let servers = ports.iter().map(|&port| serve_with(database, port, mail_url, settings)).collect();
        for &port in &ports {
            wait_healthy(port).await;
        }
        Self { app_id, api_key, ports, servers, http: reqwest::Client::new() }
    }

    /// The base URL of instance `n % 3`.
    pub fn base(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[n % 3])
    }

    /// The URL of the app's API route `path` on instance `n % 3`.
    pub fn api(&self, n: usize, path: &str) -> String {
        format!("{}/api/apps/{}/{path}", self.base(n), self.app_id)
    }

    /// Changes the app's settings through the first instance.
    pub async fn set(&self, settings: Value) {
        let response = self.http.patch(self.api(0, "settings")).bearer_auth(&self.api_key).json(&settings).send().await;
        assert_eq!(response.expect("settings").status(), 200, "settings {settings}");
    }

    /// Invites each address as a user, each through the next instance in turn.
    pub async fn invite_each(&self, addresses: impl IntoIterator<Item = String>) {
        for (n, address) in addresses.into_iter().enumerate() {
            let body = json!({ "user_email": address, "role": "user" });
            let response = self
                .http
                .post(self.api(n, "runtime/users/invite-user"))
                .bearer_auth(&self.api_key)
                .json(&body)
                .send()
                .await
                .expect("invite");
            assert_eq!(response.status(), 200, "invite {address}");
        }
    }

    /// Stops every instance and waits for it to exit.
    pub fn stop(&mut self) {
        for mut server in self.servers.drain(..) {
            server.kill().expect("stop");
            server.wait().expect("reaped");
        }
    }
}

impl Drop for ThreeInstances {
    /// A test that failed midway leaves no server running.
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
