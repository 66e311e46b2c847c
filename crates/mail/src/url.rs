//! `USHER_MAIL_URL`: which transport delivers mail.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;

/// A parsed mail transport URL.
#[derive(Clone, Debug)]
pub enum MailUrl {
    /// `smtp://…` or `smtps://…`: a real mail server.
    Smtp(SmtpUrl),
    /// `file://DIR`: one `.eml` file per message in DIR (the embedded default).
    File(PathBuf),
    /// `log`: messages are only logged.
    Log,
}

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise (the default).
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or no delivery.
    Required,
    /// `smtp://…?tls=none`: never TLS (a local relay).
    None,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// Where and how to reach an SMTP server. `Debug` and `Display` hide the password.
#[derive(Clone)]
pub struct SmtpUrl {
    /// Server host name or address.
    pub host: String,
    /// Server port (25 for `smtp://`, 465 for `smtps://` unless given).
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// User name and password for `AUTH`, if given.
    pub credentials: Option<(String, SecretString)>,
}

/// The mail URL is not one Usher accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMailUrl {
    /// `file://` without a directory.
    #[error("file:// needs a directory, e.g. file://usher-data/mail")]
    MissingDirectory,
    /// `smtp://` without a host.
    #[error("an SMTP URL needs a host, e.g. smtp://mail.example.com:587")]
    MissingHost,
    /// The `tls` parameter is not one of the accepted values.
    #[error("tls must be `required`, `none` or `opportunistic` (got `{0}`)")]
    InvalidTls(String),
    /// Not a URL at all.
    #[error("not a valid mail URL: {0}")]
    Syntax(String),
    /// Anything else.
    #[error("unsupported mail URL scheme `{0}`; use smtp://, smtps://, file://DIR or log")]
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
        // Only the scheme is ever echoed: the rest may hold a password.
        let scheme = s.split_once("://").map_or(s, |(scheme, _)| scheme).to_ascii_lowercase();
        match scheme.as_str() {
            "smtp" | "smtps" => parse_smtp(s).map(Self::Smtp),
            _ => Err(InvalidMailUrl::Unsupported(scheme)),
        }
    }
}

fn parse_smtp(s: &str) -> Result<SmtpUrl, InvalidMailUrl> {
    let url = url::Url::parse(s).map_err(|e| InvalidMailUrl::Syntax(e.to_string()))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(InvalidMailUrl::MissingHost)?;
    let is_implicit = url.scheme() == "smtps";
    let mut security = if is_implicit { SmtpSecurity::Implicit } else { SmtpSecurity::Opportunistic };
    for (key, value) in url.query_pairs() {
        if key != "tls" || is_implicit {
            continue;
        }
        security = match value.as_ref() {
            "required" => SmtpSecurity::Required,
            "none" => SmtpSecurity::None,
            "opportunistic" => SmtpSecurity::Opportunistic,
            other => return Err(InvalidMailUrl::InvalidTls(other.to_owned())),
        };
    }
    let credentials = (!url.username().is_empty()).then(|| {
        (percent_decode(url.username()), SecretString::from(percent_decode(url.password().unwrap_or_default())))
    });
    Ok(SmtpUrl {
        host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        port: url.port().unwrap_or(if is_implicit { 465 } else { 25 }),
        security,
        credentials,
    })
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.security == SmtpSecurity::Implicit { "smtps" } else { "smtp" };
        let user = self.credentials.as_ref().map(|(user, _)| format!("{user}:***@")).unwrap_or_default();
        write!(f, "{scheme}://{user}{}:{}", self.host, self.port)?;
        match self.security {
            SmtpSecurity::Required => f.write_str("?tls=required"),
            SmtpSecurity::None => f.write_str("?tls=none"),
            SmtpSecurity::Opportunistic | SmtpSecurity::Implicit => Ok(()),
        }
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

impl fmt::Display for MailUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smtp(url) => url.fmt(f),
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::Log => f.write_str("log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn smtp(s: &str) -> SmtpUrl {
        match s.parse::<MailUrl>().expect("valid") {
            MailUrl::Smtp(url) => url,
            other => panic!("not smtp: {other:?}"),
        }
    }

    #[test]
    fn parse_accepts_relative_absolute_and_dotted_directories() {
        assert!(
            matches!("file://usher-data/mail".parse(), Ok(MailUrl::File(d)) if d == std::path::Path::new("usher-data/mail"))
        );
        assert!(
            matches!("file://./usher-data/mail".parse(), Ok(MailUrl::File(d)) if d == std::path::Path::new("./usher-data/mail"))
        );
        assert!(matches!("file:///tmp/mail".parse(), Ok(MailUrl::File(d)) if d == std::path::Path::new("/tmp/mail")));
        assert!(matches!("log".parse(), Ok(MailUrl::Log)));
        assert!(matches!("file://".parse::<MailUrl>(), Err(InvalidMailUrl::MissingDirectory)));
    }

    #[test]
    fn parse_reads_smtp_host_port_security_and_credentials() {
        let url = smtp("smtp://apikey:p%40ss%2Bword@mail.example.com:587?tls=required");

        assert_eq!((url.host.as_str(), url.port, url.security), ("mail.example.com", 587, SmtpSecurity::Required));
        let (user, password) = url.credentials.expect("credentials");
        assert_eq!((user.as_str(), password.expose_secret()), ("apikey", "p@ss+word"));
    }

    #[test]
    fn parse_defaults_ports_and_security_by_scheme() {
        let plain = smtp("smtp://127.0.0.1");
        let implicit = smtp("smtps://mail.example.com?tls=none");

        assert_eq!((plain.port, plain.security), (25, SmtpSecurity::Opportunistic));
        assert_eq!((implicit.port, implicit.security), (465, SmtpSecurity::Implicit));
        assert_eq!(smtp("smtp://[::1]:2525").host, "::1");
    }

    #[test]
    fn parse_refuses_bad_urls_without_echoing_credentials() {
        assert!(matches!("smtp://relay?tls=sometimes".parse::<MailUrl>(), Err(InvalidMailUrl::InvalidTls(_))));
        let err = "http://user:hunter2@example.com".parse::<MailUrl>().expect_err("unsupported");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn display_hides_the_password() {
        let url = "smtp://user:hunter2@mail.example.com:587".parse::<MailUrl>().expect("valid");

        assert_eq!(url.to_string(), "smtp://user:***@mail.example.com:587");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
