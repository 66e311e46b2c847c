//! SQLite on a full disk (a small tmpfs, mounted by the test; root only): invites are answered
//! 507 `STORAGE_FULL` (or 503), never 500 and never hung; nothing answered 200 is lost; and
//! invites succeed again once space is freed.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{create_app, serve, wait_healthy};
use usher_testkit::{MailDir, free_port};

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` at `dir`; `None` (after a notice) where mounting is not allowed.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("mount point");
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
        if !mounted.as_ref().is_ok_and(|out| out.status.success()) {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root): {mounted:?}");
            return None;
        }
        Some(Self(dir.to_owned()))
    }

    /// Grows the tmpfs to `size`: space is freed.
    fn grow(&self, size: &str) {
        let grown = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status();
        assert!(grown.is_ok_and(|status| status.success()), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_are_refused_with_a_clear_code_on_a_full_disk_and_succeed_once_space_is_freed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "3m") else { return };
    let database = format!("sqlite://{}/usher.db?mode=rwc", disk.0.display());
    let mail_dir = dir.path().join("mail");
    let (app_id, api_key) = create_app(&database);
    let port = free_port();
    let mut server = serve(&database, port, &format!("file://{}", mail_dir.display()), None);
    wait_healthy(port).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let url = format!("http://127.0.0.1:{port}/api/apps/{app_id}/runtime/users/invite-user");
    let invite = |n: usize| {
        let body = serde_json::json!({ "user_email": format!("disk{n}@example.com"), "role": "user" });
        let request = http.post(&url).bearer_auth(&api_key).json(&body).send();
        async move {
            let response = request.await.expect("every invite is answered");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    };

    let mut answered = HashSet::new();
    let mut refusals = Vec::new();
    let mut n = 0;
    let started = Instant::now();
    while refusals.len() < 5 && started.elapsed() < Duration::from_secs(90) {
        let (status, code) = invite(n).await;
        match status {
            200 => {
                answered.insert(format!("disk{n}@example.com"));
            }
            _ => refusals.push((status, code)),
        }
        n += 1;
    }
    disk.grow("256m");
    let freed_at = Instant::now();
    let recovered = loop {
        let (status, code) = invite(n).await;
        if status == 200 {
            answered.insert(format!("disk{n}@example.com"));
            n += 1;
            break Some(freed_at.elapsed());
        }
        n += 1;
        refusals.push((status, code));
        if freed_at.elapsed() > Duration::from_secs(10) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mail = MailDir::new(mail_dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let delivered: HashSet<String> = mail.all().iter().map(usher_testkit::Email::to).collect();
        if answered.is_subset(&delivered) || Instant::now() > deadline {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.kill().expect("stop");
    server.wait().expect("reaped");

    assert!(!refusals.is_empty(), "the disk filled up after {n} invites");
    for (status, code) in &refusals {
        assert!(
            matches!((status, code.as_str()), (507, "STORAGE_FULL") | (503, "DATABASE_UNAVAILABLE")),
            "{status} {code}"
        );
    }
    assert!(recovered.is_some(), "invites succeed again once space is freed");
    let lost: Vec<_> = answered.difference(&delivered).collect();
    assert!(lost.is_empty(), "answered 200 but never emailed: {lost:?}");
    eprintln!(
        "full disk: {} invites answered 200, {} refused ({:?}), recovered {recovered:?} after space was freed",
        answered.len(),
        refusals.len(),
        refusals.first()
    );
}
