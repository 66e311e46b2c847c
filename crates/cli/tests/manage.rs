//! `usher invitations …`, `usher keys …` and `usher app settings` against a real server.

use std::process::Output;

use base44::Role;
use usher_testkit::TestApp;

/// Runs the built `usher` with `args` against `app`, off the async runtime.
async fn usher(app: &TestApp, args: &[&str]) -> Output {
    let env = [
        ("USHER_SERVER", app.base.to_string()),
        ("USHER_APP_ID", app.app_id.clone()),
        ("USHER_API_KEY", app.api_key.clone()),
    ];
    usher_with(args, env).await
}

/// Runs the built `usher` with `args` and only the `USHER_*` variables in `env`.
async fn usher_with<const N: usize>(args: &[&str], env: [(&'static str, String); N]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_usher"));
        command.args(args).env_remove("USHER_SERVER").env_remove("USHER_APP_ID").env_remove("USHER_API_KEY");
        command.envs(env).output().expect("run usher")
    })
    .await
    .expect("join")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn invitations_are_listed_shown_resent_and_revoked() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    let page = json(&usher(&app, &["invitations", "list", "--json"]).await);
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let shown = json(&usher(&app, &["invitations", "show", &id, "--json"]).await);
    let resent = json(&usher(&app, &["invitations", "resend", &id, "--json"]).await);
    let revoked = json(&usher(&app, &["invitations", "revoke", &id, "--json"]).await);
    let again = usher(&app, &["invitations", "resend", &id]).await;
    let table = usher(&app, &["invitations", "list"]).await;

    assert_eq!(shown["email"], "ada@example.com");
    assert_eq!(resent["outcome"], "resent");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("INVITATION_NOT_PENDING"));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("ada@example.com") && table.contains("revoked"), "{table}");
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked() {
    let app = TestApp::spawn().await;

    let created = json(&usher(&app, &["keys", "create", "--name", "ci", "--json"]).await);
    let listed = json(&usher(&app, &["keys", "list", "--json"]).await);
    let revoked = usher(&app, &["keys", "revoke", created["id"].as_str().expect("id")]).await;

    assert!(created["api_key"].as_str().is_some_and(|k| k.starts_with("usk_")));
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(revoked.status.success(), "{revoked:?}");
}

#[tokio::test]
async fn app_settings_are_shown_and_changed() {
    let app = TestApp::spawn().await;

    let changed = json(
        &usher(
            &app,
            &["app", "settings", "--set", "invite_policy=members", "--set", "invitation_ttl_seconds=3600", "--json"],
        )
        .await,
    );
    let refused = usher(&app, &["app", "settings", "--set", "invitation_ttl_seconds=1"]).await;

    assert_eq!(
        (changed["invite_policy"].as_str(), changed["invitation_ttl_seconds"].as_u64()),
        (Some("members"), Some(3600))
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INVALID_SETTING"));
}

#[tokio::test]
async fn domain_rules_and_the_daily_allowance_are_set_from_the_command_line_and_enforced() {
    let app = TestApp::spawn().await;

    let changed = json(
        &usher(
            &app,
            &[
                "app",
                "settings",
                "--set",
                r#"allowed_email_domains=["acme.com","*.acme.com"]"#,
                "--set",
                r#"blocked_email_domains=["lab.acme.com"]"#,
                "--set",
                "max_invites_per_day=1",
                "--json",
            ],
        )
        .await,
    );
    let outside = usher(&app, &["invite", "eve@gmail.com"]).await;
    let inside = usher(&app, &["invite", "ada@eu.acme.com"]).await;
    let beyond = usher(&app, &["invite", "bob@acme.com"]).await;
    let table = usher(&app, &["app", "settings"]).await;

    assert_eq!(changed["allowed_email_domains"], serde_json::json!(["acme.com", "*.acme.com"]));
    assert_eq!(changed["blocked_email_domains"], serde_json::json!(["lab.acme.com"]));
    assert_eq!(changed["max_invites_per_day"], 1);
    assert_eq!(outside.status.code(), Some(1));
    assert!(stderr(&outside).contains("DOMAIN_NOT_ALLOWED") && stderr(&outside).contains("gmail.com"), "{outside:?}");
    assert!(inside.status.success(), "{inside:?}");
    assert_eq!(beyond.status.code(), Some(1));
    assert!(stderr(&beyond).contains("DAILY_INVITE_LIMIT"), "{beyond:?}");
    let text = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(text.contains("invites_last_24h") && text.contains("max_invites_per_day"), "{text}");
}

#[tokio::test]
async fn reminders_are_set_from_the_command_line_and_shown_on_the_invitation() {
    let app = TestApp::spawn().await;

    let changed = json(&usher(&app, &["app", "settings", "--set", "reminder_before_expiry_hours=24", "--json"]).await);
    let refused = usher(&app, &["app", "settings", "--set", "reminder_before_expiry_hours=0"]).await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let page = json(&usher(&app, &["invitations", "list", "--email", "ada@example.com", "--json"]).await);
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let shown = String::from_utf8_lossy(&usher(&app, &["invitations", "show", &id]).await.stdout).into_owned();

    assert_eq!(changed["reminder_before_expiry_hours"], 24);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("INVALID_SETTING"), "{refused:?}");
    assert!(page["items"][0]["reminder_due_at"].is_string(), "{page}");
    assert!(shown.contains("Reminder due: "), "{shown}");
}

#[tokio::test]
async fn server_flags_work_after_the_subcommand_too() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    let output = usher_with(
        &["invitations", "list", "--json", "--server", app.base.as_str(), "--app", &app.app_id, "--key", &app.api_key],
        [],
    )
    .await;

    assert_eq!(json(&output)["items"][0]["email"], "ada@example.com");
}

#[tokio::test]
async fn server_flags_work_before_the_command_too() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    let listed = usher_with(
        &["--server", app.base.as_str(), "--app", &app.app_id, "--key", &app.api_key, "invitations", "list", "--json"],
        [],
    )
    .await;
    let mixed = usher_with(
        &["--app", &app.app_id, "invite", "bob@example.com", "--key", &app.api_key, "--server", app.base.as_str()],
        [],
    )
    .await;

    assert_eq!(json(&listed)["items"][0]["email"], "ada@example.com");
    assert!(mixed.status.success(), "{mixed:?}");
    assert!(String::from_utf8_lossy(&mixed.stdout).contains("Invitation for bob@example.com created"), "{mixed:?}");
}

#[tokio::test]
async fn errors_with_json_are_one_json_object_on_stderr_and_exit_1() {
    let app = TestApp::spawn().await;

    let output = usher(&app, &["invitations", "show", "0123456789abcdef01234567", "--json"]).await;

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON on stderr");
    assert_eq!(error["code"], "INVITATION_NOT_FOUND");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{error}");
}

#[tokio::test]
async fn usage_errors_with_json_are_json_too_and_exit_2() {
    let app = TestApp::spawn().await;

    let bad_value = usher(&app, &["invitations", "list", "--status", "bogus", "--json"]).await;
    let no_key = usher_with(
        &["keys", "list", "--json"],
        [("USHER_SERVER", app.base.to_string()), ("USHER_APP_ID", app.app_id.clone())],
    )
    .await;

    for output in [&bad_value, &no_key] {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON on stderr");
        assert_eq!(error["code"], "USAGE");
    }
    let message =
        |output: &Output| serde_json::from_slice::<serde_json::Value>(&output.stderr).expect("JSON")["message"].clone();
    assert!(message(&bad_value).as_str().is_some_and(|m| m.contains("expected pending, accepted, revoked or expired")));
    assert!(message(&no_key).as_str().is_some_and(|m| m.contains("USHER_API_KEY")));
}

#[tokio::test]
async fn revoking_an_already_revoked_invitation_says_so_and_fails() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let page = json(&usher(&app, &["invitations", "list", "--json"]).await);
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();

    let first = usher(&app, &["invitations", "revoke", &id]).await;
    let second = usher(&app, &["invitations", "revoke", &id]).await;

    assert!(first.status.success(), "{first:?}");
    assert_eq!(second.status.code(), Some(1));
    assert!(stderr(&second).contains("this invitation is revoked"), "{}", stderr(&second));
    assert!(stderr(&second).contains("INVITATION_NOT_PENDING"));
}

#[tokio::test]
async fn the_invitations_table_lines_up_for_every_role() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    app.client().users().invite_user("bob@example.com", Role::Admin).await.expect("invite");

    let output = usher(&app, &["invitations", "list"]).await;

    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    let status_column = |line: &str| line.find("pending").or_else(|| line.find("STATUS"));
    let columns: Vec<_> = table.lines().filter(|l| !l.trim().is_empty()).map(status_column).collect();
    assert_eq!(columns.len(), 3, "{table}");
    assert!(columns.iter().all(|c| c.is_some() && *c == columns[0]), "{table}");
    assert!(table.lines().all(|l| !l.ends_with(' ')), "no trailing blanks: {table:?}");
}

#[tokio::test]
async fn an_unknown_key_or_app_names_the_setting_it_came_from() {
    let app = TestApp::spawn().await;
    let unknown_key = format!("usk_{}", "0".repeat(64));

    let key = usher_with(
        &["invitations", "list"],
        [("USHER_SERVER", app.base.to_string()), ("USHER_APP_ID", app.app_id.clone()), ("USHER_API_KEY", unknown_key)],
    )
    .await;
    let wrong_app = usher_with(
        &["invitations", "list"],
        [
            ("USHER_SERVER", app.base.to_string()),
            ("USHER_APP_ID", "0123456789abcdef01234567".to_owned()),
            ("USHER_API_KEY", app.api_key.clone()),
        ],
    )
    .await;

    assert_eq!((key.status.code(), wrong_app.status.code()), (Some(1), Some(1)));
    assert!(stderr(&key).contains("this API key is unknown or was revoked"), "{}", stderr(&key));
    assert!(stderr(&key).contains("--key or USHER_API_KEY"), "{}", stderr(&key));
    assert!(stderr(&wrong_app).contains("0123456789abcdef01234567"), "{}", stderr(&wrong_app));
    assert!(stderr(&wrong_app).contains("--app or USHER_APP_ID"), "{}", stderr(&wrong_app));
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_named_with_how_to_start_one() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);

    let output = usher_with(
        &["invitations", "list"],
        [
            ("USHER_SERVER", url.clone()),
            ("USHER_APP_ID", "0123456789abcdef01234567".into()),
            ("USHER_API_KEY", "usk_x".into()),
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("no Usher server answered at {url}")), "{message}");
    assert!(message.contains("usher serve") && message.contains("SERVER_UNREACHABLE"), "{message}");
}

#[tokio::test]
async fn show_tells_the_email_state_with_its_last_error_and_next_attempt() {
    let port = usher_testkit::free_port();
    let app =
        TestApp::spawn_with(|s| s.mail_url = format!("smtp://127.0.0.1:{port}?tls=none").parse().expect("url")).await;
    let invited = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;
    while app.client().invitations().get(&id).await.expect("get").delivery.attempts == 0 {
        assert!(std::time::Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let output = usher(&app, &["invitations", "show", &id]).await;

    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.contains("Email: queued, 1 delivery attempt(s)."), "{text}");
    assert!(text.contains("Last delivery error:") && text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("Next attempt: "), "{text}");
}

#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let env = [
        ("USHER_SERVER", app.base.to_string()),
        ("USHER_APP_ID", app.app_id.clone()),
        ("USHER_API_KEY", app.api_key.clone()),
    ];

    // `usher invitations list | head -0`: the reader is gone before the table is written.
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["invitations", "list"])
            .envs(env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run usher");
        drop(child.stdout.take());
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");

    assert!(output.status.success(), "{output:?}");
    assert_eq!(stderr(&output), "");
}

#[tokio::test]
async fn show_tells_the_opens_and_list_filters_opened_not_accepted() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    app.client().users().invite_user("bob@example.com", Role::User).await.expect("invite");
    let link = app.mail.wait_for("ada@example.com").await.join_link();
    app.mail.wait_for("bob@example.com").await;
    let page = json(&usher(&app, &["invitations", "list", "--email", "ada@example.com", "--json"]).await);
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;
    while app.client().invitations().get(&id).await.expect("get").delivery.status != base44::DeliveryStatus::Sent {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A scanner's HEAD, then (a minute after delivery) a person's view reported by the join
    // page's script.
    app.http().head(&link).send().await.expect("HEAD");
    app.clock.advance(std::time::Duration::from_secs(60));
    let url = url::Url::parse(&link).expect("link");
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("token");
    let reported = app
        .http()
        .post(format!("{}{}/opened", url.origin().ascii_serialization(), url.path()))
        .form(&[("token", token)])
        .send()
        .await
        .expect("report");
    assert_eq!(reported.status(), 204);

    let shown = String::from_utf8_lossy(&usher(&app, &["invitations", "show", &id]).await.stdout).into_owned();
    let opened =
        json(&usher(&app, &["invitations", "list", "--opened", "true", "--status", "pending", "--json"]).await);

    assert!(shown.contains("Opened by a person: 20"), "{shown}");
    assert!(shown.contains("Scanner opens: 1"), "{shown}");
    let emails: Vec<_> = opened["items"].as_array().expect("items").iter().map(|i| i["email"].clone()).collect();
    assert_eq!(emails, ["ada@example.com"]);
}

#[tokio::test]
async fn list_filters_by_the_delivery_state_of_the_latest_email() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    app.mail.wait_for("ada@example.com").await;
    let emails = |delivery: &'static str| {
        let app = &app;
        async move {
            let page = json(&usher(app, &["invitations", "list", "--delivery", delivery, "--json"]).await);
            page["items"].as_array().expect("items").iter().map(|i| i["email"].clone()).collect::<Vec<_>>()
        }
    };
    // The worker records the message sent just after the SMTP server took it.
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;
    while emails("sent").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never recorded as sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let unknown = usher(&app, &["invitations", "list", "--delivery", "lost"]).await;

    assert_eq!(emails("sent").await, ["ada@example.com"]);
    assert!(emails("queued").await.is_empty() && emails("failed").await.is_empty());
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(stderr(&unknown).contains("expected queued, sent or failed"), "{}", stderr(&unknown));
}

#[tokio::test]
async fn invites_name_their_locale_and_templates_are_set_previewed_and_removed_from_the_command_line() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    };
    let (subject, text, html) = (
        file("subject.txt", "Willkommen bei {{ app_name }}"),
        file("text.txt", "Hier entlang: {{ link }}"),
        file("html.html", "<a href=\"{{ link }}\">los</a>"),
    );
    let broken = file("broken.txt", "Hallo {{ vorname }}");
    let csv = file("people.csv", "email,role,locale\nlena@example.com,user,de\nmateo@example.com,user,\n");

    let set =
        usher(&app, &["templates", "set", "invitation", "de", "--subject", &subject, "--text", &text, "--html", &html])
            .await;
    let refused =
        usher(&app, &["templates", "set", "invitation", "fr", "--subject", &broken, "--text", &text, "--html", &html])
            .await;
    let listed = usher(&app, &["templates", "ls"]).await;
    let preview = json(&usher(&app, &["templates", "preview", "invitation", "de", "--json"]).await);
    let single = usher(&app, &["invite", "jonas@example.com", "--locale", "de"]).await;
    let imported = usher(&app, &["invite", "--csv", &csv, "--locale", "es"]).await;
    let jonas = app.mail.wait_for("jonas@example.com").await;
    let lena = app.mail.wait_for("lena@example.com").await;
    let mateo = app.mail.wait_for("mateo@example.com").await;
    let removed = usher(&app, &["templates", "rm", "invitation", "de"]).await;
    let shown = json(&usher(&app, &["templates", "show", "invitation", "de", "--json"]).await);

    assert!(set.status.success(), "{set:?}");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("INVALID_TEMPLATE") && stderr(&refused).contains("vorname"), "{refused:?}");
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(table.lines().any(|l| l.contains("invitation") && l.contains("de") && l.contains("app")), "{table}");
    assert_eq!(
        (preview["source"].as_str(), preview["subject"].as_str()),
        (Some("app"), Some("Willkommen bei Acme Notes"))
    );
    assert!(single.status.success() && imported.status.success(), "{single:?} {imported:?}");
    assert_eq!(jonas.header("Subject").as_deref(), Some("Willkommen bei Acme Notes"));
    assert_eq!(lena.header("Subject").as_deref(), Some("Willkommen bei Acme Notes"), "the CSV row's locale");
    assert_eq!(
        mateo.header("Subject").as_deref(),
        Some("Te han invitado a unirte a Acme Notes"),
        "--locale for the rest"
    );
    assert!(removed.status.success(), "{removed:?}");
    assert_eq!(shown["source"], "built_in");
}
