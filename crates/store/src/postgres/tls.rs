//! TLS to PostgreSQL with libpq's meanings, on top of sqlx's rustls support.
//!
//! sqlx reads `sslmode` and `sslrootcert` from the URL and from `PGSSLMODE`/`PGSSLROOTCERT`,
//! and verifies as libpq does for `verify-ca` (the chain, not the name) and `verify-full` (the
//! chain and the host name). What it leaves out of libpq's rules is added here:
//!
//! - `require` with a root certificate (given, or `~/.postgresql/root.crt`) verifies the chain,
//!   as `verify-ca` does;
//! - `verify-ca` and `verify-full` without one fail before connecting, saying what to set,
//!   instead of silently trusting only the public CAs;
//! - `sslrootcert=system` trusts the public CAs (the Mozilla set built into this binary) and
//!   makes `verify-full` the default; a weaker explicit `sslmode` is refused;
//! - `allow` (plain text first, TLS if the server insists) is handled by the caller, which
//!   tries once more with TLS when the server refuses a plain connection.
//!
//! Two differences remain. A certificate file in `sslrootcert` is trusted *in addition to* the
//! public CAs built in, where libpq trusts only the file. And `verify-ca` checks the host name
//! too, as `verify-full` does: sqlx 0.8.6 skips the name check by matching rustls's old
//! `NotValidForName` error, and rustls 0.23.24+ reports `NotValidForNameContext` instead
//! (launchbadge/sqlx#3793, fixed in sqlx 0.9). That fails closed; the error then says so.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx_postgres::{PgConnectOptions, PgSslMode};

use crate::OpenError;

/// The connection options `database_url` (and the `PG*` variables) ask for, with libpq's TLS
/// rules applied.
pub(super) fn options(database_url: &str) -> Result<PgConnectOptions, OpenError> {
    let options = PgConnectOptions::from_str(database_url).map_err(OpenError::PostgresUrl)?;
    let given_mode = setting(database_url, &["sslmode", "ssl-mode"], "PGSSLMODE");
    let given_root = setting(database_url, &["sslrootcert", "ssl-root-cert", "ssl-ca"], "PGSSLROOTCERT");
    apply_libpq_rules(options, given_mode.is_some(), given_root.as_deref(), default_root_cert())
}

/// libpq's rules (module docs) on `options`, which sqlx parsed; `is_mode_given` says whether
/// `sslmode` was set at all, `given_root` is `sslrootcert` as written, `default_root` the
/// default root certificate file when it exists.
fn apply_libpq_rules(
    mut options: PgConnectOptions,
    is_mode_given: bool,
    given_root: Option<&str>,
    default_root: Option<PathBuf>,
) -> Result<PgConnectOptions, OpenError> {
    let mode = options.get_ssl_mode();
    let root = match given_root {
        Some("system") => {
            // An empty inline bundle: sqlx adds no file, so only the built-in public CAs count.
            options = options.ssl_root_cert_from_pem(Vec::new());
            if !is_mode_given {
                return Ok(options.ssl_mode(PgSslMode::VerifyFull));
            }
            if !matches!(mode, PgSslMode::VerifyFull) {
                return Err(OpenError::PostgresTlsSettings(format!(
                    "sslmode={} may not be used with sslrootcert=system (use sslmode=verify-full)",
                    name(mode)
                )));
            }
            return Ok(options);
        }
        Some(file) => Some(PathBuf::from(file)),
        None => {
            if let Some(file) = &default_root {
                options = options.ssl_root_cert(file);
            }
            default_root
        }
    };
    let mode = match (mode, &root) {
        (PgSslMode::Require, Some(_)) => PgSslMode::VerifyCa,
        (PgSslMode::VerifyCa | PgSslMode::VerifyFull, None) => {
            return Err(OpenError::PostgresTlsSettings(format!(
                "sslmode={} needs the certificate of the CA that signed the server's: set \
                 sslrootcert=FILE (or PGSSLROOTCERT), or sslrootcert=system to trust the public CAs \
                 (~/.postgresql/root.crt does not exist)",
                name(mode)
            )));
        }
        (mode, _) => mode,
    };
    if let (PgSslMode::VerifyCa | PgSslMode::VerifyFull, Some(file)) = (mode, &root) {
        // sqlx would read it only during the handshake and report a missing file as an I/O
        // error of the connection.
        if let Err(error) = std::fs::metadata(file) {
            return Err(OpenError::PostgresTlsSettings(format!(
                "cannot read sslrootcert `{}`: {error}",
                file.display()
            )));
        }
    }
    Ok(options.ssl_mode(mode))
}

/// libpq's default root certificate, `~/.postgresql/root.crt`, when it exists.
fn default_root_cert() -> Option<PathBuf> {
    let file = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
    file.exists().then_some(file)
}

/// The value of the URL's query parameter named one of `names`, else of the variable `env`.
fn setting(database_url: &str, names: &[&str], env: &str) -> Option<String> {
    let query = database_url.split_once('?').map(|(_, query)| query).unwrap_or_default();
    let from_url = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| names.contains(key))
        .map(|(_, value)| percent_decoded(value))
        .next_back();
    from_url.or_else(|| std::env::var(env).ok())
}

/// `text` with its `%XX` escapes decoded, as sqlx reads query values.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `sslmode` value naming `mode`.
fn name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Why a connection failed in its TLS layer, in words, or `None` when it failed otherwise.
pub(super) fn failure_reason(error: &sqlx_core::Error, host: &str, mode: PgSslMode) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        // An I/O error's `source` skips the error it wraps; rustls's arrive wrapped in one.
        let inner = error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        let tls = error.downcast_ref::<rustls::Error>().or_else(|| inner.and_then(|e| e.downcast_ref()));
        if let Some(tls) = tls {
            return Some(describe(tls, host, mode));
        }
        cause = error.source();
    }
    match error {
        sqlx_core::Error::Tls(inner) if inner.to_string().contains("does not support TLS") => {
            Some("the server does not offer TLS, and sslmode requires it".to_owned())
        }
        sqlx_core::Error::Tls(inner) => Some(inner.to_string()),
        _ => None,
    }
}

/// A rustls error as a reason an operator can act on.
fn describe(error: &rustls::Error, host: &str, mode: PgSslMode) -> String {
    use rustls::CertificateError as Cert;
    let rustls::Error::InvalidCertificate(cert) = error else { return format!("TLS handshake failed: {error}") };
    match cert {
        Cert::UnknownIssuer => "the server's certificate is not signed by a trusted CA (check sslrootcert: it must \
                               hold the CA that issued the server's certificate)"
            .to_owned(),
        Cert::NotValidForName | Cert::NotValidForNameContext { .. } => format!(
            "the server's certificate is not valid for the host name `{host}` (sslmode={} checks it{}; connect by \
             a name the certificate lists): {error}",
            name(mode),
            if matches!(mode, PgSslMode::VerifyCa) { " in this build, see sqlx#3793" } else { "" }
        ),
        Cert::Expired | Cert::ExpiredContext { .. } => format!("the server's certificate has expired: {error}"),
        _ => format!("the server's certificate was refused: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(url: &str, is_mode_given: bool, root: Option<&str>) -> Result<PgConnectOptions, OpenError> {
        let options = PgConnectOptions::from_str(url).expect("URL");
        apply_libpq_rules(options, is_mode_given, root, None)
    }

    #[test]
    fn require_verifies_the_chain_when_a_root_certificate_is_given() {
        let options = apply("postgres://db/usher?sslmode=require&sslrootcert=/etc/ca.pem", true, Some("/etc/ca.pem"));

        let error = options.expect_err("the named file does not exist");
        assert!(error.to_string().contains("cannot read sslrootcert `/etc/ca.pem`"), "{error}");
    }

    #[test]
    fn require_verifies_the_chain_when_the_default_root_certificate_exists() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root.crt");
        std::fs::write(&root, "").expect("write");
        let options = PgConnectOptions::from_str("postgres://db/usher?sslmode=require").expect("URL");

        let options = apply_libpq_rules(options, true, None, Some(root)).expect("valid");

        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyCa));
    }

    #[test]
    fn require_stays_unverified_when_no_root_certificate_is_given() {
        let options = apply("postgres://db/usher?sslmode=require", true, None).expect("valid");

        assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn verify_full_is_refused_when_no_root_certificate_is_given() {
        let error = apply("postgres://u:hunter2@db/usher?sslmode=verify-full", true, None).expect_err("refused");

        let message = error.to_string();
        assert!(message.contains("sslmode=verify-full needs") && message.contains("sslrootcert=system"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn system_roots_default_to_verify_full_and_refuse_weaker_modes() {
        let options = apply("postgres://db/usher?sslrootcert=system", false, Some("system")).expect("valid");
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));

        let error = apply("postgres://db/usher?sslmode=require&sslrootcert=system", true, Some("system"));

        let message = error.expect_err("refused").to_string();
        assert!(message.contains("sslmode=require may not be used with sslrootcert=system"), "{message}");
    }

    #[test]
    fn setting_prefers_the_url_over_the_environment() {
        let url = "postgres://db/usher?application_name=x&sslmode=verify-ca";

        assert_eq!(setting(url, &["sslmode", "ssl-mode"], "USHER_TEST_NO_SUCH_VARIABLE").as_deref(), Some("verify-ca"));
        assert_eq!(setting(url, &["sslrootcert"], "USHER_TEST_NO_SUCH_VARIABLE"), None);
        let encoded = "postgres://db/usher?sslrootcert=%2Fetc%2Fusher%2Fca%20file.pem";
        assert_eq!(setting(encoded, &["sslrootcert"], "X").as_deref(), Some("/etc/usher/ca file.pem"));
    }
}
