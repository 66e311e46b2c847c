//! A real SMTP server for tests: `tests/smtp/server.py` (aiosmtpd) in a child process,
//! writing what it receives into a temporary directory that [`MailDir`] reads.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::MailDir;

/// A running SMTP server on a loopback port.
pub struct SmtpServer {
    /// The port it listens on.
    pub port: u16,
    /// The mail it accepted.
    pub mail: MailDir,
    child: Child,
    python: PathBuf,
    options: Vec<String>,
    dir: TempDir,
}

/// The Python with aiosmtpd that `scripts/test` prepares, if it is there.
fn python() -> Option<PathBuf> {
    let path = std::env::var_os("USHER_TEST_SMTP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/smtp-venv/bin/python"));
    path.exists().then_some(path)
}

impl SmtpServer {
    /// Starts a server on a free port, or returns `None` (with a notice) when aiosmtpd is not
    /// installed here. On CI (`CI=true`) a missing server is a failure, never a skip.
    pub async fn start() -> Option<Self> {
        // Another test may take the free port between the probe and the server's bind: try
        // again on another one.
        for _ in 1..ATTEMPTS {
            match Self::try_start(free_port(), &[]).await? {
                Ok(server) => return Some(server),
                Err(reason) => eprintln!("test SMTP server: {reason}; trying another port"),
            }
        }
        Self::start_with(free_port(), &[]).await
    }

    /// Starts a server on `port`.
    pub async fn start_on(port: u16) -> Option<Self> {
        Self::start_with(port, &[]).await
    }

    /// Starts a server on `port` with extra `tests/smtp/server.py` options, e.g. the faults
    /// `--data-delay SECONDS` (a slow server) or `--drop-first N` (connections lost at the end
    /// of DATA).
    pub async fn start_with(port: u16, options: &[&str]) -> Option<Self> {
        Some(Self::try_start(port, options).await?.unwrap_or_else(|reason| panic!("test SMTP server: {reason}")))
    }

    /// Starts a server, `None` without aiosmtpd, `Some(Err)` when it did not come up.
    async fn try_start(port: u16, options: &[&str]) -> Option<Result<Self, String>> {
        let Some(python) = python() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI needs the test SMTP server: run scripts/test, which installs aiosmtpd into target/smtp-venv"
            );
            eprintln!("SKIPPED: no aiosmtpd (scripts/test installs it into target/smtp-venv)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let options: Vec<String> = options.iter().map(|&option| option.to_owned()).collect();
        let started = spawn(&python, port, &dir, &options).await;
        Some(started.map(|child| Self { port, mail: MailDir::new(dir.path().to_owned()), child, python, options, dir }))
    }

    /// Takes the server down as a crash would (its connections drop, its port refuses new
    /// ones), keeping the mail it accepted; [`SmtpServer::come_back`] starts it again.
    pub async fn go_down(&mut self) {
        self.child.kill().await.ok();
    }

    /// Starts the server again after [`SmtpServer::go_down`], on the same port, with the same
    /// options and mail directory.
    pub async fn come_back(&mut self) {
        self.child.kill().await.ok();
        // The port was this server's a moment ago; the kernel may take a moment to free it.
        for attempt in 1..=ATTEMPTS {
            match spawn(&self.python, self.port, &self.dir, &self.options).await {
                Ok(child) => {
                    self.child = child;
                    return;
                }
                Err(reason) if attempt == ATTEMPTS => panic!("test SMTP server: {reason}"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    /// The Python this server runs on: `tests/smtp/requirements.txt` is installed there, so
    /// tests also find the independent checkers (the Prometheus text parser, dkimpy) in it.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The `USHER_MAIL_URL` of this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Stops the server (as a crash would: connections drop).
    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

/// How many times a server is started before its failure to come up fails the test.
const ATTEMPTS: u32 = 5;

/// Runs `tests/smtp/server.py` on `port`, writing into `dir`, and waits until it is ready.
async fn spawn(python: &Path, port: u16, dir: &TempDir, options: &[String]) -> Result<Child, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/server.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .args(options)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the test SMTP server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let ready = tokio::time::timeout(crate::PATIENCE, BufReader::new(stdout).read_line(&mut line)).await;
    if matches!(ready, Ok(Ok(_))) && line.trim() == "ready" {
        Ok(child)
    } else {
        child.kill().await.ok();
        Err(format!("did not start on port {port} (its first line: {line:?})"))
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}
