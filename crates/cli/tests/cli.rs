//! The built `usher` binary, run as an operator would.

mod support;

use std::process::{Command, Output};

use usher_testkit::{SmtpServer, free_port};

fn usher(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usher"));
    command.args(args).env_remove("DATABASE_URL").env_remove("USHER_MAIL_URL").env("USHER_CONFIG", "/dev/null");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("run usher")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn app_create_json_prints_exactly_one_object_with_app_id_and_api_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    let output = usher(
        &["app", "create", "--name", "Acme", "--app-url", "https://acme.test/", "--json"],
        &[("DATABASE_URL", &url)],
    );

    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(json["app_id"].as_str().is_some_and(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(json["api_key"].as_str().is_some_and(|key| key.starts_with("usk_")));
}

#[test]
fn app_create_prints_the_line_that_points_the_cli_at_the_new_app() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    let output = usher(
        &["app", "create", "--name", "Acme", "--app-url", "https://acme.test/"],
        &[("DATABASE_URL", &url), ("USHER_SERVER", "http://127.0.0.1:9999")],
    );

    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let id = text.lines().find_map(|l| l.trim().strip_prefix("app id")).expect("app id").trim().to_owned();
    let key = text.lines().find_map(|l| l.trim().strip_prefix("API key")).expect("API key").trim().to_owned();
    let export = format!("export USHER_SERVER=http://127.0.0.1:9999 USHER_APP_ID={id} USHER_API_KEY={key}");
    assert!(text.contains(&export), "{text}");
}

#[test]
fn app_create_exits_1_with_the_reason_when_the_app_url_is_not_a_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    let output = usher(&["app", "create", "--name", "Acme", "--app-url", "acme.test"], &[("DATABASE_URL", &url)]);

    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("absolute http:// or https:// URL"));
}

#[test]
fn app_create_with_json_fails_as_one_json_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());

    let output =
        usher(&["app", "create", "--name", "Acme", "--app-url", "acme.test", "--json"], &[("DATABASE_URL", &url)]);

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "{output:?}");
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON on stderr");
    assert_eq!(error["code"], "COMMAND_FAILED");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("absolute http:// or https:// URL")), "{error}");
}

#[test]
fn serve_help_lists_every_setting_with_its_environment_variable() {
    let output = usher(&["serve", "--help"], &[]);

    let help = stdout(&output);
    for name in [
        "USHER_LISTEN",
        "USHER_PUBLIC_URL",
        "DATABASE_URL",
        "USHER_MAIL_URL",
        "USHER_RESEND_INTERVAL",
        "USHER_MAIL_FROM",
        "USHER_HEADER_TIMEOUT",
        "USHER_IDLE_TIMEOUT",
        "USHER_CONSOLE_IDLE_TIMEOUT",
        "USHER_METRICS_LISTEN",
    ] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}

#[tokio::test]
async fn mail_test_prints_the_servers_answer_when_the_message_is_accepted() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let mail_url = smtp.url();

    let output = usher(&["mail", "test", "--to", "ops@example.com"], &[("USHER_MAIL_URL", &mail_url)]);

    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("answered: 250"), "{}", stdout(&output));
    assert!(smtp.mail.wait_for("ops@example.com").await.text().contains("USHER_MAIL_URL works"));
}

#[test]
fn mail_test_exits_1_with_the_reason_when_the_server_is_unreachable() {
    let mail_url = format!("smtp://127.0.0.1:{}?tls=none", free_port());

    let output = usher(&["mail", "test", "--to", "ops@example.com"], &[("USHER_MAIL_URL", &mail_url)]);

    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Connection refused"));
}

#[tokio::test]
async fn console_link_prints_a_link_that_signs_in_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (first, _) = support::create_app(&url);
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let env = [("DATABASE_URL", url.as_str()), ("USHER_PUBLIC_URL", public_url.as_str())];

    let alone = usher(&["console", "link"], &env);
    assert!(alone.status.success(), "{alone:?}");
    assert!(stdout(&alone).starts_with(&format!("{public_url}/console/link?token=ucl_")), "{alone:?}");
    assert!(String::from_utf8_lossy(&alone.stderr).contains("once"), "{alone:?}");
    let (second, _) = support::create_app(&url);
    let ambiguous = usher(&["console", "link"], &env);
    assert_eq!(ambiguous.status.code(), Some(1), "{ambiguous:?}");
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("choose one with --app"), "{ambiguous:?}");
    let unknown = usher(&["console", "link", "--app", "0123456789abcdef01234567"], &env);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no app has the id"), "{unknown:?}");
    let output = usher(&["console", "link", "--app", &second], &env);
    assert!(output.status.success(), "{output:?}");
    let link = stdout(&output).trim().to_owned();
    assert_eq!(link.lines().count(), 1, "{link}");
    let token =
        url::Url::parse(&link).expect("a URL").query_pairs().find(|(k, _)| k == "token").expect("token").1.into_owned();

    let mut server = support::serve(&url, port, &format!("file://{}/mail", dir.path().display()), None);
    support::wait_healthy(port).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = http.get(&link).send().await.expect("page");
    let use_link = || http.post(format!("{public_url}/console/link")).form(&[("token", token.as_str())]).send();
    let signed_in = use_link().await.expect("post");
    let again = use_link().await.expect("post");
    let _ = server.kill();
    let _ = server.wait();

    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("text").contains("Continue to the console"));
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], format!("/console/apps/{second}/invitations").as_str());
    let cookie = signed_in.headers()["set-cookie"].to_str().expect("ascii");
    // The session names the link's key by id; no key's secret is in the cookie.
    assert!(cookie.starts_with(&format!("usher_console_{second}=key.")) && cookie.contains("HttpOnly"), "{cookie}");
    assert!(!cookie.contains("usk_"), "{cookie}");
    assert_eq!(again.status(), 410);
    assert!(again.text().await.expect("text").contains("used already"));
    assert_ne!(first, second);
}
