//! Reading back what the `file://` transport wrote, so that `usher mail ls` and `usher mail show`
//! can print captured mail and its links without anyone opening `.eml` files.
//!
//! The kind of a message comes from its `X-Usher-Kind` header, which the renderer adds; files
//! written by a build without it show no kind.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mailparse::MailHeaderMap;

/// The header naming what a message is for (`invitation`, `password_reset`, …).
pub const KIND_HEADER: &str = "X-Usher-Kind";

/// One message found in a mail directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedMail {
    /// The outbox message id (the file name without `.eml`).
    pub id: String,
    /// Where the file is.
    pub path: PathBuf,
    /// The `Date` header as Unix seconds, when it parses.
    pub sent_at: Option<i64>,
    /// The `Date` header as written.
    pub date: String,
    /// The `To` header.
    pub to: String,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The `X-Usher-Kind` header, when present.
    pub kind: Option<String>,
    /// The decoded plain-text part (or the whole body of a single-part message).
    pub text: String,
    /// Every `http://` and `https://` link of the text part, in order, without repeats.
    pub links: Vec<String>,
}

/// Why a mail directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CapturedError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a parseable message.
    #[error("{} is not an email: {reason}", path.display())]
    Unparseable {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// Every `.eml` message in `dir`, newest first (by `Date`, then by file time, then by id, which
/// grows with time within one server process).
pub fn list(dir: &Path) -> Result<Vec<CapturedMail>, CapturedError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CapturedError::Io { path, source }
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".eml")) else { continue };
        // `.{id}.eml.partial` files are being written; they end in `.partial`, not `.eml`.
        if id.starts_with('.') {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        found.push((parse(id, &path, &bytes)?, modified));
    }
    found.sort_by(|(a, a_time), (b, b_time)| (b.sent_at, b_time, &b.id).cmp(&(a.sent_at, a_time, &a.id)));
    Ok(found.into_iter().map(|(mail, _)| mail).collect())
}

/// The newest message to `address` (compared without regard to case) in `dir`.
pub fn newest_to(dir: &Path, address: &str) -> Result<Option<CapturedMail>, CapturedError> {
    let wanted = address.trim().to_lowercase();
    Ok(list(dir)?.into_iter().find(|mail| recipient(&mail.to) == wanted))
}

/// The message with outbox id `id` in `dir` (`id` may also be the file name).
pub fn by_id(dir: &Path, id: &str) -> Result<Option<CapturedMail>, CapturedError> {
    let id = id.strip_suffix(".eml").unwrap_or(id);
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Ok(None);
    }
    let path = dir.join(format!("{id}.eml"));
    match std::fs::read(&path) {
        Ok(bytes) => parse(id, &path, &bytes).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CapturedError::Io { path, source }),
    }
}

/// Reads one message.
fn parse(id: &str, path: &Path, bytes: &[u8]) -> Result<CapturedMail, CapturedError> {
    let unparseable =
        |e: mailparse::MailParseError| CapturedError::Unparseable { path: path.to_owned(), reason: e.to_string() };
    let mail = mailparse::parse_mail(bytes).map_err(unparseable)?;
    let header = |name: &str| mail.headers.get_first_value(name).unwrap_or_default();
    let date = header("Date");
    let text_part = if mail.subparts.is_empty() {
        Some(&mail)
    } else {
        mail.subparts.iter().find(|part| part.ctype.mimetype == "text/plain")
    };
    let text = match text_part {
        Some(part) => part.get_body().map_err(unparseable)?,
        None => String::new(),
    };
    Ok(CapturedMail {
        id: id.to_owned(),
        path: path.to_owned(),
        sent_at: mailparse::dateparse(&date).ok(),
        to: header("To"),
        subject: header("Subject"),
        kind: mail.headers.get_first_value(KIND_HEADER),
        links: links(&text),
        text,
        date,
    })
}

/// The bare address of a `To` value: `Ada <ada@example.com>` → `ada@example.com`.
fn recipient(to: &str) -> String {
    let to = to.trim();
    let bare = match (to.rfind('<'), to.rfind('>')) {
        (Some(start), Some(end)) if start < end => &to[start + 1..end],
        _ => to,
    };
    bare.trim().to_lowercase()
}

/// The `http(s)://` links of a text, in order and once each.
fn links(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')')) {
        let word = word.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if (word.starts_with("http://") || word.starts_with("https://")) && !found.iter().any(|l| l == word) {
            found.push(word.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Renderer;
    use crate::render::tests::{config, message};
    use crate::transport::{FileTransport, Transport};
    use usher_core::Timestamp;
    use usher_core::model::MailKind;

    async fn capture(dir: &Path, kind: MailKind, at_millis: i64) -> String {
        let msg = message(kind, "Acme");
        let email = Renderer::new(config())
            .expect("templates")
            .render(&msg, Timestamp::from_millis(at_millis))
            .expect("render");
        FileTransport::new(dir).expect("transport").send(&email, msg.id.as_str()).await.expect("send");
        msg.id.to_string()
    }

    #[tokio::test]
    async fn list_shows_newest_first_with_recipient_subject_and_kind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let older = capture(dir.path(), MailKind::Invitation, 1_700_000_000_000).await;
        let newer = capture(dir.path(), MailKind::PasswordReset, 1_700_000_060_000).await;
        std::fs::write(dir.path().join(".x.eml.partial"), "half").expect("partial");

        let mails = list(dir.path()).expect("list");

        let ids: Vec<_> = mails.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, [newer.as_str(), older.as_str()]);
        assert_eq!(mails[0].kind.as_deref(), Some("password_reset"));
        assert_eq!(mails[1].kind.as_deref(), Some("invitation"));
        assert_eq!(mails[1].to, "ada@example.com");
        assert_eq!(mails[1].subject, "Grace <Hopper> invited you to join Acme");
        assert_eq!(mails[0].sent_at, Some(1_700_000_060));
    }

    #[tokio::test]
    async fn newest_to_and_by_id_find_a_message_and_its_join_link() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = capture(dir.path(), MailKind::Invitation, 1_700_000_000_000).await;

        let found = newest_to(dir.path(), "ADA@example.com").expect("read").expect("found");

        assert_eq!(found.id, id);
        assert_eq!(found.links.len(), 1, "{:?}", found.links);
        assert!(found.links[0].starts_with("http://127.0.0.1:8044/apps/") && found.links[0].contains("?token=inv_"));
        assert_eq!(by_id(dir.path(), &id).expect("read"), Some(found));
        assert_eq!(by_id(dir.path(), "../etc/passwd").expect("read"), None);
        assert_eq!(newest_to(dir.path(), "bob@example.com").expect("read"), None);
    }

    #[test]
    fn links_are_found_once_each_without_trailing_punctuation() {
        let text = "Open https://a.test/x?token=1.\nAgain: https://a.test/x?token=1 or <http://b.test/>";

        assert_eq!(links(text), ["https://a.test/x?token=1", "http://b.test/"]);
    }

    #[test]
    fn recipient_reads_the_bare_address() {
        assert_eq!(recipient("Ada <Ada@Example.com>"), "ada@example.com");
        assert_eq!(recipient(" ada@example.com "), "ada@example.com");
    }
}
