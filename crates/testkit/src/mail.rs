//! Reading the `.eml` files the file transport writes.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// A directory of delivered `.eml` files.
#[derive(Clone)]
pub struct MailDir {
    dir: PathBuf,
}

impl MailDir {
    /// Reads `.eml` files from `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Every message delivered so far, oldest first.
    pub fn all(&self) -> Vec<Email> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut mails: Vec<(SystemTime, Email)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|ext| ext == "eml"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, Email { raw: std::fs::read(e.path()).ok()? })))
            .collect();
        mails.sort_by_key(|(written, _)| *written);
        mails.into_iter().map(|(_, mail)| mail).collect()
    }

    /// Messages delivered so far to `to`.
    pub fn to(&self, to: &str) -> Vec<Email> {
        self.all().into_iter().filter(|m| m.to().contains(to)).collect()
    }

    /// Waits (up to [`crate::PATIENCE`]) until `count` messages to `to` were delivered.
    pub async fn wait_for_count(&self, to: &str, count: usize) -> Vec<Email> {
        let deadline = Instant::now() + crate::PATIENCE;
        loop {
            let found = self.to(to);
            if found.len() >= count {
                return found;
            }
            assert!(Instant::now() < deadline, "expected {count} message(s) to {to}, found {}", found.len());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first message to `to`.
    pub async fn wait_for(&self, to: &str) -> Email {
        self.wait_for_count(to, 1).await.remove(0)
    }

    /// Waits until `count` messages to `to` were delivered and returns the newest.
    pub async fn wait_for_nth(&self, to: &str, count: usize) -> Email {
        self.wait_for_count(to, count).await.pop().expect("at least one")
    }
}

/// One delivered message.
pub struct Email {
    raw: Vec<u8>,
}

impl Email {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.raw).expect("a parseable RFC 5322 message")
    }

    /// The raw message.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// A header's decoded value.
    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    /// The `To` header.
    pub fn to(&self) -> String {
        self.header("To").unwrap_or_default()
    }

    /// The `Content-Type` of the top-level part.
    pub fn content_type(&self) -> String {
        self.parsed().ctype.mimetype
    }

    /// The decoded body of the first part with this MIME type.
    pub fn part(&self, mimetype: &str) -> Option<String> {
        fn find(mail: &mailparse::ParsedMail<'_>, mimetype: &str) -> Option<String> {
            if mail.ctype.mimetype == mimetype {
                return mail.get_body().ok();
            }
            mail.subparts.iter().find_map(|p| find(p, mimetype))
        }
        find(&self.parsed(), mimetype)
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        self.part("text/plain").expect("a text/plain part")
    }

    /// The first link in the text body whose path contains `marker`.
    pub fn link_containing(&self, marker: &str) -> String {
        self.text()
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains(marker))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no link with {marker:?} in the text part"))
    }

    /// The join link in the text body.
    pub fn join_link(&self) -> String {
        let text = self.text();
        text.split_whitespace()
            .find(|word| word.contains("/join?token="))
            .map(|w| w.trim_matches(|c| c == '<' || c == '>').to_owned())
            .expect("a join link in the text part")
    }
}
