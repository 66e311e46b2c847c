//! `USHER_MAIL_URL`: which transport delivers mail.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A parsed mail transport URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailUrl {
    /// `file://DIR`: one `.eml` file per message in DIR (the embedded default).
    File(PathBuf),
    /// `log`: messages are only logged.
    Log,
}

/// The mail URL is not one Usher accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMailUrl {
    /// `smtp://` or `smtps://`, which this build cannot deliver to yet.
    #[error("SMTP delivery is not available in this build yet; use file://DIR or log")]
    SmtpUnavailable,
    /// `file://` without a directory.
    #[error("file:// needs a directory, e.g. file://usher-data/mail")]
    MissingDirectory,
    /// Anything else.
    #[error("unsupported mail URL scheme `{0}`; use file://DIR or log")]
    Unsupported(String),
}

impl FromStr for MailUrl {
    type Err = InvalidMailUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("log") {
            return Ok(Self::Log);
        }
        if let Some(dir) = s.strip_prefix("file://") {
            return if dir.is_empty() {
                Err(InvalidMailUrl::MissingDirectory)
            } else {
                Ok(Self::File(PathBuf::from(dir)))
            };
        }
        // Only the scheme is echoed: the rest may hold a password.
        let scheme = s.split_once("://").map_or(s, |(scheme, _)| scheme).to_ascii_lowercase();
        match scheme.as_str() {
            "smtp" | "smtps" => Err(InvalidMailUrl::SmtpUnavailable),
            _ => Err(InvalidMailUrl::Unsupported(scheme)),
        }
    }
}

impl fmt::Display for MailUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::Log => f.write_str("log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_relative_absolute_and_dotted_directories() {
        assert_eq!("file://usher-data/mail".parse(), Ok(MailUrl::File("usher-data/mail".into())));
        assert_eq!("file://./usher-data/mail".parse(), Ok(MailUrl::File("./usher-data/mail".into())));
        assert_eq!("file:///tmp/mail".parse(), Ok(MailUrl::File("/tmp/mail".into())));
        assert_eq!("log".parse(), Ok(MailUrl::Log));
    }

    #[test]
    fn parse_refuses_other_schemes_without_echoing_credentials() {
        let err = "smtp://user:hunter2@mail.example.com:587".parse::<MailUrl>().expect_err("not yet");
        assert_eq!(err, InvalidMailUrl::SmtpUnavailable);

        let err = "http://user:hunter2@example.com".parse::<MailUrl>().expect_err("unsupported");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!("file://".parse::<MailUrl>(), Err(InvalidMailUrl::MissingDirectory));
    }
}
