//! DKIM: mail sent through the real test SMTP server carries a signature that an independent
//! verifier (dkimpy, from PyPI, in the test SMTP server's Python) accepts with the public key
//! handed to it directly instead of looked up in DNS; keys are made by the `openssl` command.
//! A missing or wrong key file stops start-up with the reason.

#[expect(dead_code, reason = "each test file uses part of the support module")]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::json;
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{PATIENCE, SmtpServer, free_port};

/// Verifies the message in the file `argv[1]`, answering the one DNS query with the TXT record
/// `argv[2]` when it asks for `argv[3]`; prints `verified` or why not.
const VERIFIER: &str = r#"
import logging, sys, dkim
message = open(sys.argv[1], "rb").read()
record, expected = sys.argv[2].encode(), sys.argv[3]
asked = []
def dns(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    asked.append(name)
    return record if name.rstrip(".") == expected else None
logging.basicConfig(level=logging.DEBUG)
ok = dkim.verify(message, dnsfunc=dns, logger=logging.getLogger("dkim"))
print("verified" if ok else f"NOT verified (asked for {asked})")
"#;

/// A key made by openssl, and the DKIM TXT record of its public half, derived by openssl too.
struct Key {
    file: PathBuf,
    record: String,
}

/// Runs `script` in `sh`, returning its standard output; `None` (a notice, or a failure on CI)
/// when there is no `openssl` command.
fn openssl(script: &str) -> Option<String> {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs the openssl command to make DKIM keys");
        eprintln!("SKIPPED: no openssl command");
        return None;
    }
    let done = Command::new("sh").args(["-c", script]).output().expect("sh");
    assert!(done.status.success(), "{script}: {}", String::from_utf8_lossy(&done.stderr));
    Some(String::from_utf8_lossy(&done.stdout).trim().to_owned())
}

/// An RSA-2048 key (PKCS#8, or PKCS#1 when `pkcs1`) in `dir`.
fn rsa_key(dir: &Path, pkcs1: bool) -> Option<Key> {
    let file = dir.join(if pkcs1 { "rsa-pkcs1.pem" } else { "rsa.pem" });
    let f = file.display();
    let convert =
        if pkcs1 { format!(" && openssl rsa -in {f} -traditional -out {f}.1 && mv {f}.1 {f}") } else { String::new() };
    openssl(&format!("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {f} 2>/dev/null{convert}"))?;
    let public = openssl(&format!("openssl pkey -in {f} -pubout -outform DER | openssl base64 -A"))?;
    Some(Key { file, record: format!("v=DKIM1; k=rsa; p={public}") })
}

/// An Ed25519 key in `dir`; its record holds the raw 32-byte public key (RFC 8463), the end
/// of the DER public key.
fn ed25519_key(dir: &Path) -> Option<Key> {
    let file = dir.join("ed25519.pem");
    let f = file.display();
    openssl(&format!("openssl genpkey -algorithm ed25519 -out {f}"))?;
    let public = openssl(&format!("openssl pkey -in {f} -pubout -outform DER | tail -c 32 | openssl base64 -A"))?;
    Some(Key { file, record: format!("v=DKIM1; k=ed25519; p={public}") })
}

/// What dkimpy says of `raw` with `record` published at `name`.
fn verify(python: &Path, raw: &str, record: &str, name: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("message.eml");
    std::fs::write(&file, raw).expect("write the message");
    let done = Command::new(python).args(["-c", VERIFIER]).arg(&file).arg(record).arg(name).output().expect("python");
    let stdout = String::from_utf8_lossy(&done.stdout).trim().to_owned();
    format!(
        "{stdout}{}",
        if stdout == "verified" { String::new() } else { String::from_utf8_lossy(&done.stderr).into_owned() }
    )
}

/// `usher mail test` with the DKIM settings; returns its standard output.
fn mail_test(smtp: &SmtpServer, selector: &str, key: &Path) -> String {
    let done = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["mail", "test", "--to", "ada@example.com"])
        .env("USHER_CONFIG", "/dev/null")
        .env("USHER_MAIL_URL", smtp.url())
        .env("USHER_MAIL_FROM", "invites@example.com")
        .env("USHER_DKIM_DOMAIN", "example.com")
        .env("USHER_DKIM_SELECTOR", selector)
        .env("USHER_DKIM_KEY_FILE", key)
        .output()
        .expect("usher mail test");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    String::from_utf8_lossy(&done.stdout).into_owned()
}

#[tokio::test]
async fn mail_test_signs_and_dkimpy_verifies_when_the_key_is_rsa_or_ed25519() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(rsa) = rsa_key(dir.path(), false) else { return };
    let Some(ed25519) = ed25519_key(dir.path()) else { return };

    let rsa_said = mail_test(&smtp, "usher-rsa", &rsa.file);
    let ed25519_said = mail_test(&smtp, "usher-ed", &ed25519.file);

    assert!(rsa_said.contains("DKIM: signed for example.com with selector usher-rsa (rsa-sha256)"), "{rsa_said}");
    assert!(rsa_said.contains(&format!("usher-rsa._domainkey.example.com  TXT  \"{}\"", rsa.record)), "{rsa_said}");
    assert!(ed25519_said.contains("with selector usher-ed (ed25519-sha256)"), "{ed25519_said}");
    assert!(ed25519_said.contains(&format!("\"{}\"", ed25519.record)), "{ed25519_said}");
    let mail = smtp.mail.to("ada@example.com");
    assert_eq!(mail.len(), 2);
    let by_selector = |selector: &str| {
        mail.iter()
            .find(|m| m.header("DKIM-Signature").is_some_and(|s| s.contains(&format!("s={selector};"))))
            .unwrap_or_else(|| panic!("no message signed with s={selector}"))
            .raw()
    };
    let name = |selector: &str| format!("{selector}._domainkey.example.com");
    let rsa_verdict = verify(smtp.python(), &by_selector("usher-rsa"), &rsa.record, &name("usher-rsa"));
    assert_eq!(rsa_verdict, "verified");
    let ed25519_verdict = verify(smtp.python(), &by_selector("usher-ed"), &ed25519.record, &name("usher-ed"));
    assert_eq!(ed25519_verdict, "verified");
    // The verifier is not lenient: the RSA message does not verify against the other key.
    let wrong_key = verify(smtp.python(), &by_selector("usher-rsa"), &ed25519.record, &name("usher-rsa"));
    assert_ne!(wrong_key, "verified");
}

#[tokio::test]
async fn invitation_email_is_signed_and_dkimpy_verifies_it_when_sent_by_serve() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(key) = rsa_key(dir.path(), true) else { return };
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&database);
    let port = free_port();
    let key_file = key.file.display().to_string();
    let dkim = [
        ("USHER_MAIL_FROM", "invites@example.com"),
        ("USHER_DKIM_DOMAIN", "example.com"),
        ("USHER_DKIM_SELECTOR", "usher2026"),
        ("USHER_DKIM_KEY_FILE", key_file.as_str()),
    ];
    let mut server = serve_with(&database, port, &smtp.url(), &dkim);
    wait_healthy(port).await;

    let invited = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user"))
        .bearer_auth(&api_key)
        .json(&json!({ "user_email": "grace@example.com", "role": "user" }))
        .send()
        .await
        .expect("invite");
    let deadline = Instant::now() + PATIENCE;
    let mail = loop {
        if let Some(mail) = smtp.mail.to("grace@example.com").pop() {
            break mail;
        }
        assert!(Instant::now() < deadline, "the invitation was not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    server.kill().expect("stop");
    server.wait().expect("reaped");

    assert_eq!(invited.status().as_u16(), 200);
    let signature = mail.header("DKIM-Signature").expect("signed");
    assert!(signature.contains("d=example.com;") && signature.contains("s=usher2026;"), "{signature}");
    let verdict = verify(smtp.python(), &mail.raw(), &key.record, "usher2026._domainkey.example.com");
    assert_eq!(verdict, "verified");
    assert!(mail.text().contains("If you did not expect this invitation, you can ignore this email."));
}

#[test]
fn serve_stops_with_the_reason_when_the_dkim_key_file_is_missing_or_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(ed25519) = ed25519_key(dir.path()) else { return };
    let public = dir.path().join("public.pem");
    openssl(&format!("openssl pkey -in {} -pubout -out {}", ed25519.file.display(), public.display()));
    let start = |key_file: &Path| {
        let done = Command::new(env!("CARGO_BIN_EXE_usher"))
            .arg("serve")
            .env("USHER_CONFIG", "/dev/null")
            .env("DATABASE_URL", format!("sqlite://{}/usher.db?mode=rwc", dir.path().display()))
            .env("USHER_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("USHER_DKIM_DOMAIN", "example.com")
            .env("USHER_DKIM_SELECTOR", "s1")
            .env("USHER_DKIM_KEY_FILE", key_file)
            .output()
            .expect("usher serve");
        assert!(!done.status.success(), "serve started with {}", key_file.display());
        String::from_utf8_lossy(&done.stderr).into_owned()
    };

    let missing = start(&dir.path().join("nope.pem"));
    let wrong = start(&public);

    assert!(missing.contains("cannot read the DKIM key file") && missing.contains("nope.pem"), "{missing}");
    assert!(wrong.contains("holds `BEGIN PUBLIC KEY`, not an RSA or Ed25519 private key"), "{wrong}");
}
