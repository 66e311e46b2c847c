//! The first hour with `usher`, as a new user meets it (issue 22): the first start's export
//! line works when pasted, the log says which kind of link it prints, and mistyped settings
//! are answered with the form they should take.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use usher_testkit::{PATIENCE, free_port};

/// Runs the built `usher` with `args`, none of the `USHER_*` settings of the environment, and
/// `env` on top.
fn usher(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usher"));
    command
        .args(args)
        .env_remove("USHER_SERVER")
        .env_remove("USHER_APP_ID")
        .env_remove("USHER_API_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("USHER_MAIL_URL")
        .env("USHER_CONFIG", "/dev/null");
    command.envs(env.iter().copied()).output().expect("run usher")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Waits until the file at `path` holds a line containing `needle`, and returns that line.
async fn line_containing(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no line with {needle:?} in {}:\n{text}", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `NAME=value` pairs of an `export A=1 B=2` line.
fn exported(line: &str) -> Vec<(String, String)> {
    let assignments = line.trim().strip_prefix("export ").expect("an export line");
    assignments
        .split_whitespace()
        .map(|pair| pair.split_once('=').expect("NAME=value"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_first_starts_export_line_works_pasted_and_the_log_names_each_kind_of_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let mail_url = format!("file://{}/mail", dir.path().display());
    let port = free_port();
    let (banner, log) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut server = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("USHER_MAIL_URL", &mail_url)
        .env("USHER_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .env_remove("USHER_PUBLIC_URL")
        .stdout(std::fs::File::create(&banner).expect("stdout file"))
        .stderr(std::fs::File::create(&log).expect("stderr file"))
        .spawn()
        .expect("start usher serve");

    let export = line_containing(&banner, "export USHER_SERVER=").await;
    let pasted = exported(&export);
    let env: Vec<(&str, &str)> = pasted.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let invited = tokio::task::spawn_blocking({
        let env: Vec<(String, String)> = pasted.clone();
        move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            usher(&["invite", "ada@example.com"], &env)
        }
    })
    .await
    .expect("join");
    let join_line = line_containing(&log, "join link for").await;
    let join_link = join_line.split_whitespace().last().expect("link").to_owned();
    let token = join_link.split("token=").nth(1).expect("token");
    let joined = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http")
        .post(join_link.split('?').next().expect("action"))
        .form(&[("token", token), ("full_name", "Ada"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("join");
    let value = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).expect(name);
    let client = base44::Client::builder()
        .server_url(value("USHER_SERVER"))
        .app_id(value("USHER_APP_ID"))
        .build()
        .expect("client");
    client.auth().reset_password_request("ada@example.com").await.expect("reset request");
    let reset_line = line_containing(&log, "reset-password?token=").await;
    server.kill().expect("stop");
    server.wait().expect("reaped");

    assert_eq!(
        pasted.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        ["USHER_SERVER", "USHER_APP_ID", "USHER_API_KEY"]
    );
    assert_eq!(value("USHER_SERVER"), format!("http://127.0.0.1:{port}"));
    assert!(invited.status.success(), "{invited:?}");
    assert!(String::from_utf8_lossy(&invited.stdout).contains("Invitation id: "), "{invited:?}");
    assert!(join_line.contains("join link for a***@example.com: "), "{join_line}");
    assert_eq!(joined.status(), 303, "joined through the logged link");
    assert!(reset_line.contains("password reset link for a***@example.com: "), "{reset_line}");
}

#[test]
fn serve_answers_a_mistyped_listen_or_public_url_with_the_form_it_takes() {
    let port_only = usher(&["serve", "--listen", "8046"], &[]);
    let no_scheme = usher(&["serve", "--public-url", "example.com"], &[]);

    assert_eq!((port_only.status.code(), no_scheme.status.code()), (Some(2), Some(2)));
    assert!(stderr(&port_only).contains("write 127.0.0.1:8046 (this machine only) or 0.0.0.0:8046"), "{port_only:?}");
    assert!(!stderr(&port_only).contains("invalid socket address syntax"), "{port_only:?}");
    assert!(stderr(&no_scheme).contains("expected an absolute http(s) URL, e.g. https://usher.example.com"));
    assert!(!stderr(&no_scheme).contains("relative URL without a base"), "{no_scheme:?}");
}

#[test]
fn an_unreachable_postgresql_is_told_with_its_cause_once() {
    let closed = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{closed}/usher");

    let output = usher(&["serve", "--listen", "127.0.0.1:0"], &[("DATABASE_URL", &url)]);

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{closed}/usher")), "{message}");
    assert_eq!(message.matches("Connection refused").count(), 1, "{message}");
}

#[test]
fn invite_help_names_the_failed_rows_file_as_it_is_written() {
    let output = usher(&["invite", "--help"], &[]);

    let help = String::from_utf8_lossy(&output.stdout);
    // `invite --csv team.csv` writes team.failed.csv (tests/invite.rs reads it back).
    assert!(help.contains("people.csv → people.failed.csv"), "{help}");
    assert!(help.contains("--server") && help.contains("--app") && help.contains("--key"), "{help}");
}
