//! Configuration of `usher serve`: built-in defaults, then an optional TOML file, then
//! environment variables and command-line flags (clap merges those two, flags winning).
//! The result is one [`Settings`] of parsed values; a bad value stops the start with a message
//! naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;
use usher_core::EmailAddress;
use usher_mail::{DkimSigner, MailUrl, RetryPolicy, WorkerConfig};

use crate::serve::ConnectionTimeouts;

/// The database used when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://usher-data/usher.db?mode=rwc";
const DEFAULT_LISTEN: &str = "127.0.0.1:8044";
const DEFAULT_MAIL_URL: &str = "file://usher-data/mail";
const DEFAULT_MAIL_FROM: &str = "no-reply@localhost";
const DEFAULT_CONFIG_FILE: &str = "usher.toml";
const DEFAULT_RESEND_INTERVAL_SECS: u64 = 60;
const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 24 * 60 * 60;

/// Where the data lives; shared by every command that opens the database.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DatabaseArgs {
    /// Database: `sqlite://PATH?mode=rwc` (embedded), or `postgres://USER[:PASS]@HOST[:PORT]/DB`
    /// for several instances sharing one database [default: sqlite://usher-data/usher.db?mode=rwc]
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The configured URL, or the embedded default.
    pub fn url_or_default(&self) -> DatabaseUrl {
        DatabaseUrl(self.database_url.clone().unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()))
    }
}

/// Options of `usher serve`. Each can also be set in the TOML file under the same name in
/// snake_case (e.g. `public_url = "https://usher.example.com"`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8044]
    #[arg(long, env = "USHER_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,

    /// Base URL of the links in emails, as invitees reach this server [default: http://<listen address>]
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<Url>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Mail transport: `smtp://[user:pass@]host:port[?tls=required|none]` (STARTTLS when
    /// offered), `smtps://…` (implicit TLS), `file://DIR` (one .eml per message) or `log`
    /// [default: file://usher-data/mail]
    #[arg(long, env = "USHER_MAIL_URL", value_name = "URL", hide_env_values = true)]
    pub mail_url: Option<String>,

    /// Emails sent at once, and SMTP connections kept open [default: 16]
    #[arg(long, env = "USHER_MAIL_CONCURRENCY", value_name = "N")]
    pub mail_concurrency: Option<usize>,

    /// Seconds before the first retry of a failed email; doubles with each failure [default: 30]
    #[arg(long, env = "USHER_MAIL_RETRY_BASE", value_name = "SECONDS")]
    pub mail_retry_base: Option<u64>,

    /// Longest wait between two retries, in seconds [default: 3600]
    #[arg(long, env = "USHER_MAIL_RETRY_CAP", value_name = "SECONDS")]
    pub mail_retry_cap: Option<u64>,

    /// Seconds after which an undelivered email fails for good [default: 86400]
    #[arg(long, env = "USHER_MAIL_GIVE_UP_AFTER", value_name = "SECONDS")]
    pub mail_give_up_after: Option<u64>,

    /// Seconds this instance may go without renewing its heartbeat in the database (renewed
    /// every fifth of this, at most every 5 s) before other instances presume it dead and send
    /// the emails it had claimed. A live instance keeps its claims however slow its SMTP
    /// server; on SQLite a restart takes over a dead process's claims at once [default: 15]
    #[arg(long, env = "USHER_MAIL_LEASE", value_name = "SECONDS")]
    pub mail_lease: Option<u64>,

    /// Sender address used when an app sets none [default: no-reply@localhost]
    #[arg(long, env = "USHER_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,

    /// Minimum seconds between two invitation emails to one address [default: 60]
    #[arg(long, env = "USHER_RESEND_INTERVAL", value_name = "SECONDS")]
    pub resend_interval: Option<u64>,

    /// Let webhooks reach loopback, private and link-local addresses (development and tests
    /// only) [default: false]
    #[arg(long, env = "USHER_WEBHOOK_ALLOW_PRIVATE", value_name = "BOOL")]
    pub webhook_allow_private: Option<bool>,

    /// Secret that signs access tokens; share it between instances. Generated once and kept
    /// in the database when unset
    #[arg(long, env = "USHER_JWT_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long a sign-up code works, in seconds [default: 600]
    #[arg(long, env = "USHER_SIGNUP_CODE_TTL", value_name = "SECONDS")]
    pub signup_code_ttl: Option<u64>,

    /// Lifetime of access tokens in seconds [default: 86400]
    #[arg(long, env = "USHER_ACCESS_TOKEN_TTL", value_name = "SECONDS")]
    pub access_token_ttl: Option<u64>,

    /// Seconds a console session lasts without a page view; the server refuses it after that,
    /// whatever the browser kept [default: 1800]
    #[arg(long, env = "USHER_CONSOLE_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub console_idle_timeout: Option<u64>,

    /// Seconds a client has to send a request's headers (from the connection's opening, or
    /// from the first byte of a later request), and at most between two pieces of its body;
    /// the connection is closed after that [default: 10]
    #[arg(long, env = "USHER_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<u64>,

    /// Seconds a keep-alive connection may stay idle between two requests before it is
    /// closed [default: 60]
    #[arg(long, env = "USHER_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// Domain that DKIM signatures are made for (`d=`), e.g. example.com; with the selector
    /// and key file, every email is signed [default: unsigned]
    #[arg(long, env = "USHER_DKIM_DOMAIN", value_name = "DOMAIN")]
    pub dkim_domain: Option<String>,

    /// DKIM selector (`s=`): the public key is published at SELECTOR._domainkey.DOMAIN
    #[arg(long, env = "USHER_DKIM_SELECTOR", value_name = "SELECTOR")]
    pub dkim_selector: Option<String>,

    /// DKIM private key: a PEM file with an RSA (2048 bits) or Ed25519 key
    #[arg(long, env = "USHER_DKIM_KEY_FILE", value_name = "FILE")]
    pub dkim_key_file: Option<PathBuf>,

    /// Address of a second listener that serves Prometheus metrics at `/metrics`, e.g.
    /// 127.0.0.1:9090; keep it off the public network [default: off]
    #[arg(long, env = "USHER_METRICS_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub metrics_listen: Option<SocketAddr>,

    /// TOML file with any of these settings; flags and environment variables override it
    /// [default: usher.toml, if it exists]
    #[arg(long, env = "USHER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The TOML file: the same settings, all optional, nothing else allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    dkim_domain: Option<String>,
    dkim_selector: Option<String>,
    dkim_key_file: Option<PathBuf>,
    public_url: Option<Url>,
    database_url: Option<String>,
    mail_url: Option<String>,
    mail_concurrency: Option<usize>,
    mail_retry_base: Option<u64>,
    mail_retry_cap: Option<u64>,
    mail_give_up_after: Option<u64>,
    mail_lease: Option<u64>,
    mail_from: Option<String>,
    resend_interval: Option<u64>,
    webhook_allow_private: Option<bool>,
    jwt_secret: Option<String>,
    access_token_ttl: Option<u64>,
    console_idle_timeout: Option<u64>,
    signup_code_ttl: Option<u64>,
    header_timeout: Option<u64>,
    idle_timeout: Option<u64>,
}

/// A database URL whose `Debug` and `Display` hide any password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, for opening the database.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                f.write_str(url.as_str())
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is not valid or has unknown keys.
    #[error("invalid config file {path}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The DKIM settings are incomplete or the key file is unusable.
    #[error(transparent)]
    Dkim(usher_mail::DkimError),
    /// A value is not acceptable.
    #[error("invalid {name}: {message}")]
    Invalid {
        /// The environment variable it is set by.
        name: &'static str,
        /// Why.
        message: String,
    },
}

/// Everything `usher serve` runs with, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the metrics listener, if metrics are on.
    pub metrics_listen: Option<SocketAddr>,
    /// Signs every email, when DKIM is set up; its key was read and checked on loading.
    pub dkim: Option<Arc<DkimSigner>>,
    /// Base of the links in emails and pages.
    pub public_url: Url,
    /// The database.
    pub database_url: DatabaseUrl,
    /// The mail transport.
    pub mail_url: MailUrl,
    /// How the delivery worker paces and retries.
    pub mail_worker: WorkerConfig,
    /// Sender address for apps that set none.
    pub mail_from: EmailAddress,
    /// Minimum time between two emails to one address in one app.
    pub resend_interval: Duration,
    /// Whether webhooks may reach private addresses.
    pub webhook_allow_private: bool,
    /// How often the webhook worker looks for due deliveries when nothing woke it: retries,
    /// and events written by other instances. Events this instance writes wake it at once.
    /// Not a flag; tests lengthen it to show that.
    pub webhook_poll: Duration,
    /// Signing secret for access tokens, if configured.
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// How long a console session lasts without a page view.
    pub console_idle: Duration,
    /// How long a sign-up code works.
    pub signup_code_ttl: Duration,
    /// How long clients may take to send a request, and leave a connection idle.
    pub connection_timeouts: ConnectionTimeouts,
}

impl Settings {
    /// Layers the TOML file (if any) under the flags and environment in `args`.
    pub fn load(args: &ServeArgs) -> Result<Self, SettingsError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => read_file(Path::new(DEFAULT_CONFIG_FILE))?,
            None => FileSettings::default(),
        };
        let mail_worker = mail_worker(args, &file)?;
        let connection_timeouts = connection_timeouts(args, &file)?;
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().map_err(|_| invalid("USHER_LISTEN", "bad built-in default"))?,
        };
        let public_url = match args.public_url.clone().or(file.public_url) {
            Some(url) => url,
            None => default_public_url(listen)?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.cannot_be_a_base() {
            return Err(invalid("USHER_PUBLIC_URL", "must be an http:// or https:// URL"));
        }
        let database_url = args.database.database_url.clone().or(file.database_url);
        let mail_url = args.mail_url.clone().or(file.mail_url).unwrap_or_else(|| DEFAULT_MAIL_URL.to_owned());
        let mail_from = args.mail_from.clone().or(file.mail_from).unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned());
        let resend = args.resend_interval.or(file.resend_interval).unwrap_or(DEFAULT_RESEND_INTERVAL_SECS);
        let ttl = args.access_token_ttl.or(file.access_token_ttl).unwrap_or(DEFAULT_ACCESS_TOKEN_TTL_SECS);
        if ttl == 0 {
            return Err(invalid("USHER_ACCESS_TOKEN_TTL", "must be at least 1 second"));
        }
        let signup_code_ttl = match args.signup_code_ttl.or(file.signup_code_ttl) {
            Some(0) => return Err(invalid("USHER_SIGNUP_CODE_TTL", "must be at least 1 second")),
            Some(secs) => Duration::from_secs(secs),
            None => usher_core::signup::DEFAULT_CODE_TTL,
        };
        let console_idle = match args.console_idle_timeout.or(file.console_idle_timeout) {
            Some(0) => return Err(invalid("USHER_CONSOLE_IDLE_TIMEOUT", "must be at least 1 second")),
            Some(secs) => Duration::from_secs(secs),
            None => usher_core::console_session::DEFAULT_IDLE,
        };
        let jwt_secret = args.jwt_secret.clone().or(file.jwt_secret);
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("USHER_JWT_SECRET", "must be at least 32 characters (try `openssl rand -hex 32`)"));
        }
        let metrics_listen = args.metrics_listen.or(file.metrics_listen);
        if metrics_listen == Some(listen) {
            return Err(invalid("USHER_METRICS_LISTEN", "must differ from USHER_LISTEN"));
        }
        let dkim = DkimSigner::from_settings(
            args.dkim_domain.as_deref().or(file.dkim_domain.as_deref()),
            args.dkim_selector.as_deref().or(file.dkim_selector.as_deref()),
            args.dkim_key_file.as_deref().or(file.dkim_key_file.as_deref()),
        )
        .map_err(SettingsError::Dkim)?;
        Ok(Self {
            listen,
            metrics_listen,
            dkim: dkim.map(Arc::new),
            public_url,
            database_url: DatabaseUrl(database_url.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())),
            mail_url: mail_url.parse().map_err(|e: usher_mail::InvalidMailUrl| invalid("USHER_MAIL_URL", e))?,
            mail_worker,
            mail_from: EmailAddress::parse(&mail_from).map_err(|e| invalid("USHER_MAIL_FROM", e))?,
            resend_interval: Duration::from_secs(resend),
            webhook_allow_private: args.webhook_allow_private.or(file.webhook_allow_private).unwrap_or(false),
            webhook_poll: usher_mail::DEFAULT_WEBHOOK_POLL,
            jwt_secret: jwt_secret.map(SecretString::from),
            access_token_ttl: Duration::from_secs(ttl),
            console_idle,
            signup_code_ttl,
            connection_timeouts,
        })
    }

    /// Settings for an in-process test server: the given database and mail directory, links
    /// pointing at `public_url`, no resend interval unless the test sets one.
    pub fn for_tests(database_url: &str, public_url: Url, mail_dir: &Path) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], public_url.port().unwrap_or(0)));
        Self {
            listen,
            metrics_listen: None,
            dkim: None,
            public_url,
            database_url: DatabaseUrl::new(database_url),
            mail_url: MailUrl::File(mail_dir.to_owned()),
            mail_worker: WorkerConfig::default(),
            mail_from: EmailAddress::parse(DEFAULT_MAIL_FROM).expect("the default sender is valid"),
            resend_interval: Duration::ZERO,
            // Test receivers listen on 127.0.0.1.
            webhook_allow_private: true,
            webhook_poll: usher_mail::DEFAULT_WEBHOOK_POLL,
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(DEFAULT_ACCESS_TOKEN_TTL_SECS),
            console_idle: usher_core::console_session::DEFAULT_IDLE,
            signup_code_ttl: usher_core::signup::DEFAULT_CODE_TTL,
            connection_timeouts: ConnectionTimeouts::default(),
        }
    }
}

fn connection_timeouts(args: &ServeArgs, file: &FileSettings) -> Result<ConnectionTimeouts, SettingsError> {
    let defaults = ConnectionTimeouts::default();
    let seconds = |value: Option<u64>, default: Duration, name: &'static str| match value {
        Some(0) => Err(invalid(name, "must be at least 1 second")),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Ok(default),
    };
    Ok(ConnectionTimeouts {
        header: seconds(args.header_timeout.or(file.header_timeout), defaults.header, "USHER_HEADER_TIMEOUT")?,
        idle: seconds(args.idle_timeout.or(file.idle_timeout), defaults.idle, "USHER_IDLE_TIMEOUT")?,
    })
}

fn mail_worker(args: &ServeArgs, file: &FileSettings) -> Result<WorkerConfig, SettingsError> {
    let defaults = WorkerConfig::default();
    let seconds =
        |flag: Option<u64>, from_file: Option<u64>, default: Duration, name: &'static str| match flag.or(from_file) {
            Some(0) => Err(invalid(name, "must be at least 1 second")),
            Some(secs) => Ok(Duration::from_secs(secs)),
            None => Ok(default),
        };
    let concurrency = args.mail_concurrency.or(file.mail_concurrency).unwrap_or(defaults.concurrency);
    if !(1..=256).contains(&concurrency) {
        return Err(invalid("USHER_MAIL_CONCURRENCY", "must be between 1 and 256"));
    }
    let retry = RetryPolicy {
        base: seconds(args.mail_retry_base, file.mail_retry_base, defaults.retry.base, "USHER_MAIL_RETRY_BASE")?,
        cap: seconds(args.mail_retry_cap, file.mail_retry_cap, defaults.retry.cap, "USHER_MAIL_RETRY_CAP")?,
        give_up_after: seconds(
            args.mail_give_up_after,
            file.mail_give_up_after,
            defaults.retry.give_up_after,
            "USHER_MAIL_GIVE_UP_AFTER",
        )?,
    };
    if retry.cap < retry.base {
        return Err(invalid("USHER_MAIL_RETRY_CAP", "must not be shorter than USHER_MAIL_RETRY_BASE"));
    }
    let lease = seconds(args.mail_lease, file.mail_lease, defaults.lease, "USHER_MAIL_LEASE")?;
    Ok(WorkerConfig { concurrency, lease, retry })
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| SettingsError::ParseFile { path: path.to_owned(), message: e.to_string() })
}

/// `--listen`: an IP address and a port, with what to write instead of a common mistake.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| match text.trim().parse::<u16>() {
        Ok(port) => format!("a port alone is not an address: write 127.0.0.1:{port} (this machine only) or 0.0.0.0:{port} (every interface)"),
        Err(_) => format!("expected IP:PORT, e.g. 127.0.0.1:8044 or [::1]:8044, not {text:?}"),
    })
}

/// `--public-url`: an absolute http(s) URL, as invitees reach this server.
pub fn parse_public_url(text: &str) -> Result<Url, String> {
    match Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(format!("expected an absolute http(s) URL, e.g. https://usher.example.com, not {text:?}")),
    }
}

fn default_public_url(listen: SocketAddr) -> Result<Url, SettingsError> {
    // A wildcard address is not reachable as such; links must name a host.
    let host = if listen.ip().is_unspecified() { "localhost".to_owned() } else { listen.ip().to_string() };
    let host = if listen.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
    Url::parse(&format!("http://{host}:{}", listen.port())).map_err(|e| invalid("USHER_PUBLIC_URL", e))
}

fn invalid(name: &'static str, message: impl fmt::Display) -> SettingsError {
    SettingsError::Invalid { name, message: message.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_public_url_errors_show_the_expected_form() {
        let port_only = parse_listen("8046").expect_err("a port alone");
        let not_a_url = parse_public_url("example.com").expect_err("no scheme");

        assert!(port_only.contains("127.0.0.1:8046"), "{port_only}");
        assert!(parse_listen("localhost").expect_err("a name").contains("e.g. 127.0.0.1:8044"));
        assert!(not_a_url.contains("e.g. https://usher.example.com"), "{not_a_url}");
        assert_eq!(parse_listen(" 0.0.0.0:80 ").map(|a| a.port()), Ok(80));
        assert!(parse_public_url("https://usher.example.com/base/").is_ok());
    }

    #[test]
    fn load_uses_documented_defaults_when_nothing_is_set() {
        let empty = tempfile::NamedTempFile::new().expect("temp file");

        let settings = Settings::load(&ServeArgs { config: Some(empty.path().to_owned()), ..ServeArgs::default() })
            .expect("defaults are valid");

        assert_eq!(settings.listen.to_string(), "127.0.0.1:8044");
        assert_eq!(settings.public_url.as_str(), "http://127.0.0.1:8044/");
        assert_eq!(settings.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(settings.resend_interval, Duration::from_secs(60));
        assert!(matches!(settings.mail_url, MailUrl::File(_)));
        assert_eq!(settings.connection_timeouts.header, Duration::from_secs(10));
        assert_eq!(settings.connection_timeouts.idle, Duration::from_secs(60));
    }

    #[test]
    fn load_prefers_flags_and_env_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usher.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nresend_interval = 5\n").expect("write");
        let args = ServeArgs { config: Some(path), resend_interval: Some(7), ..ServeArgs::default() };

        let settings = Settings::load(&args).expect("valid");

        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.resend_interval, Duration::from_secs(7));
    }

    #[test]
    fn load_refuses_unknown_keys_in_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usher.toml");
        std::fs::write(&path, "listn = \"127.0.0.1:9000\"\n").expect("write");

        let err = Settings::load(&ServeArgs { config: Some(path), ..ServeArgs::default() }).expect_err("typo");

        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn load_names_the_variable_of_a_bad_value() {
        let empty = tempfile::NamedTempFile::new().expect("temp file");
        let args = ServeArgs {
            config: Some(empty.path().to_owned()),
            mail_from: Some("not an address".into()),
            ..ServeArgs::default()
        };

        let err = Settings::load(&args).expect_err("bad sender");

        assert!(err.to_string().contains("USHER_MAIL_FROM"), "{err}");
    }

    #[test]
    fn load_reads_connection_timeouts_and_refuses_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usher.toml");
        std::fs::write(&path, "header_timeout = 5\nidle_timeout = 30\n").expect("write");

        let settings =
            Settings::load(&ServeArgs { config: Some(path.clone()), ..ServeArgs::default() }).expect("valid");
        let zero = Settings::load(&ServeArgs { config: Some(path), idle_timeout: Some(0), ..ServeArgs::default() });

        assert_eq!(
            settings.connection_timeouts,
            ConnectionTimeouts { header: Duration::from_secs(5), idle: Duration::from_secs(30) }
        );
        assert!(zero.expect_err("zero").to_string().contains("USHER_IDLE_TIMEOUT"));
    }

    #[test]
    fn database_url_display_hides_the_password() {
        let url = DatabaseUrl::new("postgres://usher:hunter2@db.internal/usher");

        assert_eq!(url.to_string(), "postgres://usher:***@db.internal/usher");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
