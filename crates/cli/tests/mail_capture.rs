//! `usher mail ls` and `usher mail show` over a directory the `file://` transport wrote.

use std::path::Path;
use std::process::{Command, Output};

use url::Url;
use usher_core::model::{App, AppSettings, InvitationLink, MailKind, OutboxMessage, ResetLink};
use usher_core::secret::{InvitationToken, ResetToken};
use usher_core::{AppId, EmailAddress, MessageId, Role, Timestamp};
use usher_mail::{FileTransport, MailerConfig, Renderer, Transport};

/// Renders a `kind` message to `to`, dated `at_secs`, into `dir` as the server would; returns
/// its id and its link.
async fn capture(dir: &Path, kind: MailKind, to: &str, at_secs: i64) -> (String, Option<String>) {
    let config = MailerConfig {
        public_url: Url::parse("http://127.0.0.1:8044/").expect("url"),
        default_from: EmailAddress::parse("no-reply@usher.test").expect("address"),
        log_links: false,
        dkim: None,
    };
    let expires_at = Timestamp::from_millis(1_800_000_000_000);
    let msg = OutboxMessage {
        id: MessageId::generate(),
        kind,
        to: EmailAddress::parse(to).expect("address"),
        app: App {
            id: AppId::generate(),
            name: "Acme".into(),
            app_url: "https://acme.test/".into(),
            settings: AppSettings::default(),
            created_at: Timestamp::from_millis(0),
        },
        role: Role::User,
        inviter_name: "Acme".into(),
        invitation: (kind == MailKind::Invitation)
            .then(|| InvitationLink { token: InvitationToken::generate(), expires_at }),
        reset: (kind == MailKind::PasswordReset).then(|| ResetLink { token: ResetToken::generate(), expires_at }),
        code: None,
        locale: usher_core::Locale::En,
        template: None,
        attempts: 0,
        created_at: Timestamp::from_millis(0),
    };
    let email =
        Renderer::new(config).expect("templates").render(&msg, Timestamp::from_millis(at_secs * 1000)).expect("render");
    FileTransport::new(dir).expect("transport").send(&email, msg.id.as_str()).await.expect("written");
    (msg.id.to_string(), email.link)
}

fn usher(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["mail"])
        .args(args)
        .env("USHER_MAIL_URL", format!("file://{}", dir.display()))
        .output()
        .expect("usher runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[tokio::test]
async fn mail_ls_lists_captured_messages_newest_first_with_time_to_subject_and_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (older, _) = capture(dir.path(), MailKind::Invitation, "ada@example.com", 1_700_000_000).await;
    let (newer, _) = capture(dir.path(), MailKind::PasswordReset, "bob@example.com", 1_700_000_060).await;

    let out = stdout(&usher(dir.path(), &["ls"]));

    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("KIND"), "{out}");
    assert!(lines[1].starts_with("2023-11-14 22:14:20 UTC"), "{out}");
    assert!(lines[1].contains("bob@example.com") && lines[1].contains("Reset your Acme password"), "{out}");
    assert!(lines[1].contains("password_reset") && lines[1].contains(&newer), "{out}");
    assert!(lines[2].contains("ada@example.com") && lines[2].contains("You are invited to join Acme"), "{out}");
    assert!(lines[2].contains("invitation") && lines[2].contains(&older), "{out}");
}

#[tokio::test]
async fn mail_show_prints_the_newest_message_to_an_address_or_only_its_links() {
    let dir = tempfile::tempdir().expect("temp dir");
    capture(dir.path(), MailKind::Invitation, "ada@example.com", 1_700_000_000).await;
    let (id, link) = capture(dir.path(), MailKind::Invitation, "ada@example.com", 1_700_000_060).await;
    let link = link.expect("a join link");

    let links = stdout(&usher(dir.path(), &["show", "--to", "Ada@Example.com", "--links"]));
    let shown = stdout(&usher(dir.path(), &["show", &id]));

    assert_eq!(links, format!("{link}\n"));
    assert!(shown.contains(&format!("Id:      {id}")), "{shown}");
    assert!(shown.contains("Subject: You are invited to join Acme"), "{shown}");
    assert!(shown.contains("Kind:    invitation"), "{shown}");
    assert!(shown.contains("Accept the invitation and choose your password here:"), "{shown}");
    assert!(shown.contains(&link), "{shown}");
}

#[test]
fn mail_show_fails_with_the_reason_when_nothing_matches_or_the_transport_keeps_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");

    let missing = usher(dir.path(), &["show", "--to", "nobody@example.com"]);
    let smtp = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["mail", "ls", "--mail-url", "smtp://127.0.0.1:2525"])
        .output()
        .expect("usher runs");

    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no message to nobody@example.com"));
    assert!(!smtp.status.success());
    assert!(
        String::from_utf8_lossy(&smtp.stderr).contains("keeps no copy"),
        "{}",
        String::from_utf8_lossy(&smtp.stderr)
    );
}
