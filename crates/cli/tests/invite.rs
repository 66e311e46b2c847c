//! `usher invite` against a real server: one address, and a CSV with bad rows and a re-run.

use std::process::{Command, Output};
use std::time::Duration;

use usher_testkit::TestApp;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs the built `usher` with `args` against `app`'s first app, off the async runtime.
async fn usher(app: &TestApp, args: &'static [&'static str]) -> Output {
    let (base, id, key) = (app.base.clone(), app.app_id.clone(), app.api_key.clone());
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .env("USHER_SERVER", base.as_str())
            .env("USHER_APP_ID", id)
            .env("USHER_API_KEY", key)
            .output()
            .expect("run usher")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn invite_one_address_prints_what_happened() {
    let app = TestApp::spawn().await;

    let output = usher(&app, &["invite", "ada@example.com", "--role", "admin", "--json"]).await;

    assert!(output.status.success(), "{output:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!((answer["outcome"].as_str(), answer["invitation"]["role"].as_str()), (Some("created"), Some("admin")));
    app.mail.wait_for("ada@example.com").await;
}

#[tokio::test]
async fn invite_csv_reports_a_summary_writes_failed_rows_and_replays_a_rerun_emailing_nobody_twice() {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("team.csv");
    std::fs::write(
        &csv,
        "email,role\nada@example.com,admin\nbob@example.com,\nnot-an-address,user\ncy@example.com,owner\n",
    )
    .expect("write csv");
    let csv_arg = csv.to_string_lossy().into_owned();
    let run = |json: bool| {
        let (base, id, key, csv_arg) = (app.base.clone(), app.app_id.clone(), app.api_key.clone(), csv_arg.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["invite".to_owned(), "--csv".to_owned(), csv_arg];
            if json {
                args.push("--json".to_owned());
            }
            Command::new(env!("CARGO_BIN_EXE_usher"))
                .args(args)
                .env("USHER_SERVER", base.as_str())
                .env("USHER_APP_ID", id)
                .env("USHER_API_KEY", key)
                .output()
                .expect("run usher")
        })
    };

    let first = run(false).await.expect("join");
    let rerun = run(true).await.expect("join");

    assert_eq!(first.status.code(), Some(1), "bad rows fail the run: {first:?}");
    assert!(stdout(&first).contains("Created 2"), "{}", stdout(&first));
    let failed = std::fs::read_to_string(dir.path().join("team.failed.csv")).expect("failed rows");
    assert!(failed.contains("not-an-address") && failed.contains("INVALID_EMAIL"), "{failed}");
    assert!(failed.contains("cy@example.com") && failed.contains("INVALID_ROLE"), "{failed}");
    assert!(failed.find("not-an-address") < failed.find("cy@example.com"), "in the file's order: {failed}");
    let summary: serde_json::Value = serde_json::from_str(&stdout(&rerun)).expect("JSON");
    // The rerun's rows carry the same keys (from the file's name and each row): the first
    // answers of the two invited rows are replayed, and the summary says so. The bad address
    // kept no key (nothing was done for it): it is refused again, not replayed.
    assert_eq!(
        (summary["created"].as_u64(), summary["throttled"].as_u64(), summary["replayed"].as_u64()),
        (Some(2), Some(0), Some(2))
    );
    app.mail.wait_for("ada@example.com").await;
    app.mail.wait_for("bob@example.com").await;
    assert_eq!(app.mail.to("ada@example.com").len(), 1, "nobody is emailed twice within the interval");
}

#[tokio::test]
async fn invite_one_address_prints_the_invitation_id_for_the_other_commands() {
    let app = TestApp::spawn().await;

    let output = usher(&app, &["invite", "ada@example.com"]).await;

    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("Invitation for ada@example.com created; its email is queued."), "{text}");
    let listed =
        app.client().invitations().list(&base44::InvitationFilter::new().email("ada@example.com")).await.expect("list");
    assert!(text.contains(&format!("Invitation id: {}", listed.items[0].id)), "{text}");
}

#[test]
fn invite_without_an_app_or_key_is_bad_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["invite", "ada@example.com"])
        .env_remove("USHER_APP_ID")
        .env_remove("USHER_API_KEY")
        .output()
        .expect("run usher");

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--app"));
}

/// Runs `usher` with owned `args` against `app`'s first app, off the async runtime.
async fn usher_owned(app: &TestApp, args: Vec<String>) -> Output {
    let (base, id, key) = (app.base.clone(), app.app_id.clone(), app.api_key.clone());
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .env("USHER_SERVER", base.as_str())
            .env("USHER_APP_ID", id)
            .env("USHER_API_KEY", key)
            .output()
            .expect("run usher")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn invite_csv_dry_run_prints_the_summary_table_writes_nothing_and_agrees_with_the_real_run() {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    app.invite_and_join("member@example.com", base44::Role::User).await;
    app.clock.advance(Duration::from_secs(3600));
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("team.csv");
    std::fs::write(
        &csv,
        "email,role\nada@example.com,admin\nmember@example.com,\nada@example.com,user\nnot-an-address,user\n",
    )
    .expect("write csv");
    let csv = csv.to_string_lossy().into_owned();
    let args = |extra: &[&str]| {
        let mut args = vec!["invite".to_owned(), "--csv".to_owned(), csv.clone()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };

    let table = usher_owned(&app, args(&["--dry-run"])).await;
    let dry = usher_owned(&app, args(&["--dry-run", "--json"])).await;
    let pending = base44::InvitationFilter::new().status(base44::InvitationStatus::Pending);
    let nothing_yet = app.client().invitations().list(&pending).await.expect("list");
    let failed_file_after_dry_run = dir.path().join("team.failed.csv").exists();
    let real = usher_owned(&app, args(&["--json"])).await;

    assert_eq!(table.status.code(), Some(1), "a row would fail: {table:?}");
    let text = stdout(&table);
    assert!(text.starts_with("Dry run: nothing was written and nobody was emailed."), "{text}");
    for line in [
        "created",
        "already a member",
        "throttled         RESEND_THROTTLED  1",
        "refused           INVALID_EMAIL     1",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(text.contains("Rows that would be refused") && text.contains("not-an-address"), "{text}");
    assert!(!failed_file_after_dry_run, "a dry run writes no file");
    assert!(nothing_yet.items.is_empty(), "nothing was invited: {:?}", nothing_yet.items);
    let dry: serde_json::Value = serde_json::from_str(&stdout(&dry)).expect("JSON");
    let real: serde_json::Value = serde_json::from_str(&stdout(&real)).expect("JSON");
    let counts = |v: &serde_json::Value| {
        ["created", "resent", "already_members", "throttled", "failed"].map(|k| v[k].as_u64().unwrap_or(99))
    };
    assert_eq!(counts(&dry), [1, 0, 1, 1, 1]);
    assert_eq!(counts(&real), counts(&dry), "the real run does what the dry run said");
    assert_eq!(dry["dry_run"], true);
    app.mail.wait_for("ada@example.com").await;
    assert_eq!(app.mail.to("ada@example.com").len(), 1, "only the real run emailed");
}

#[tokio::test]
async fn invite_one_address_dry_run_says_what_would_happen() {
    let app = TestApp::spawn().await;

    let output = usher(&app, &["invite", "ada@example.com", "--dry-run"]).await;

    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("Dry run: an invitation for ada@example.com would be created"), "{output:?}");
    let listed = app.client().invitations().list(&base44::InvitationFilter::new()).await.expect("list");
    assert!(listed.items.is_empty());
}

/// The edited-file case over real SMTP: a run with a typo, the typo fixed, the file run again.
/// Only the fixed row is invited; the others are replayed from their row keys, and the SMTP
/// server received one mail per address. (The server re-sends without a wait: without row
/// keys the re-run would email everyone again.)
#[tokio::test]
async fn invite_csv_rerun_after_fixing_one_row_invites_only_that_row_and_mails_nobody_twice() {
    let Some(smtp) = usher_testkit::SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("staff.csv");
    let csv_arg = csv.to_string_lossy().into_owned();
    let args = || vec!["invite".to_owned(), "--csv".to_owned(), csv_arg.clone(), "--json".to_owned()];
    std::fs::write(&csv, "email,role\nada@example.com,admin\ncy@@example.com,\nbob@example.com,user\n").expect("csv");

    let first = usher_owned(&app, args()).await;
    std::fs::write(&csv, "email,role\nada@example.com,admin\ncy@example.com,\nbob@example.com,user\n").expect("fix");
    let rerun = usher_owned(&app, args()).await;

    assert_eq!(first.status.code(), Some(1), "the typo fails its row: {first:?}");
    let first: serde_json::Value = serde_json::from_str(&stdout(&first)).expect("JSON");
    assert_eq!((first["created"].as_u64(), first["failed"].as_u64()), (Some(2), Some(1)), "{first}");
    assert!(rerun.status.success(), "{rerun:?}");
    let rerun: serde_json::Value = serde_json::from_str(&stdout(&rerun)).expect("JSON");
    let counts = ["created", "resent", "replayed", "failed"].map(|k| rerun[k].as_u64().unwrap_or(99));
    assert_eq!(counts, [3, 0, 2, 0], "cy created, ada and bob replayed as created: {rerun}");
    // Every invitation sent once, its mail delivered: then the SMTP server has them all.
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;
    let listed = loop {
        let listed = app.client().invitations().list(&base44::InvitationFilter::new()).await.expect("list");
        if listed.items.iter().all(|i| i.delivery.status == base44::DeliveryStatus::Sent) {
            break listed.items;
        }
        assert!(std::time::Instant::now() < deadline, "mail never went out: {:?}", listed.items);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent: Vec<(String, u32)> = listed.iter().map(|i| (i.email.clone(), i.times_sent)).collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|(_, times)| *times == 1), "nobody invited twice: {sent:?}");
    let mails = smtp.mail.all();
    assert_eq!(
        mails.len(),
        3,
        "one mail per address over SMTP: {:?}",
        mails.iter().map(|m| m.to()).collect::<Vec<_>>()
    );
    for address in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        assert_eq!(smtp.mail.to(address).len(), 1, "{address}");
    }
}

#[tokio::test]
async fn invite_dry_run_passes_the_locale_so_a_bad_one_is_flagged() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("team.csv");
    std::fs::write(&csv, "email,role,locale\nada@example.com,,\nbob@example.com,,de\n").expect("csv");
    let csv = csv.to_string_lossy().into_owned();

    let one = usher(&app, &["invite", "ada@example.com", "--dry-run", "--locale", "klingon", "--json"]).await;
    let good = usher(&app, &["invite", "ada@example.com", "--dry-run", "--locale", "de-AT"]).await;
    let file = usher_owned(
        &app,
        ["invite", "--csv", &csv, "--dry-run", "--locale", "klingon", "--json"].map(str::to_owned).to_vec(),
    )
    .await;

    assert_eq!(one.status.code(), Some(1), "{one:?}");
    let said = format!("{}{}", stdout(&one), String::from_utf8_lossy(&one.stderr));
    assert!(said.contains("UNSUPPORTED_LOCALE"), "{said}");
    assert!(good.status.success(), "a supported locale passes: {good:?}");
    // The row without its own locale takes --locale and is flagged; bob's own `de` is fine.
    assert_eq!(file.status.code(), Some(1), "{file:?}");
    let summary: serde_json::Value = serde_json::from_str(&stdout(&file)).expect("JSON");
    assert_eq!((summary["created"].as_u64(), summary["failed"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(summary["refused"][0]["code"], "UNSUPPORTED_LOCALE", "{summary}");
    let listed = app.client().invitations().list(&base44::InvitationFilter::new()).await.expect("list");
    assert!(listed.items.is_empty(), "dry runs invite nobody");
}
