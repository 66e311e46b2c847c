//! `usher serve` as a child process, for the tests that kill it or run several.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use usher_testkit::PATIENCE;

/// Creates an app with `usher app create --json` in `database`; returns its id and API key.
pub fn create_app(database: &str) -> (String, String) {
    let created = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["app", "create", "--name", "Acme", "--app-url", "https://acme.test/", "--json"])
        .env("DATABASE_URL", database)
        .output()
        .expect("app create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let field = |name: &str| created[name].as_str().unwrap_or_else(|| panic!("no {name} in {created}")).to_owned();
    (field("app_id"), field("api_key"))
}

/// `usher serve` on `port` with `database` and `mail_url`, and `USHER_MAIL_LEASE` set to
/// `lease` when given (how long an instance may miss its heartbeat before the others send what
/// it had claimed), else its default.
pub fn serve(database: &str, port: u16, mail_url: &str, lease: Option<Duration>) -> Child {
    let lease = lease.map(|lease| lease.as_secs().to_string());
    let settings: Vec<(&str, &str)> = lease.iter().map(|lease| ("USHER_MAIL_LEASE", lease.as_str())).collect();
    serve_with(database, port, mail_url, &settings)
}

/// [`serve`] with the environment `settings` (name, value) on top of the defaults.
pub fn serve_with(database: &str, port: u16, mail_url: &str, settings: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usher"));
    command
        .arg("serve")
        .env("DATABASE_URL", database)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("USHER_MAIL_URL", mail_url)
        .env_remove("USHER_MAIL_LEASE")
        .env("USHER_CONFIG", "/dev/null")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().expect("start usher serve")
}

/// Waits until the server on `port` answers `/healthz` with 200.
pub async fn wait_healthy(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.map(|r| r.status().as_u16()).ok() != Some(200)
    {
        assert!(Instant::now() < deadline, "usher did not become healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
