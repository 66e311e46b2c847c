//! DKIM signing of every outgoing message (RFC 6376; Ed25519 per RFC 8463), with lettre's
//! signer and a key read from a PEM file.
//!
//! The key file may hold an RSA key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, as
//! `openssl genrsa` and `openssl genpkey -algorithm RSA` write them) or an Ed25519 key (PKCS#8,
//! `openssl genpkey -algorithm ed25519`). It is read and checked once, at start-up: a missing,
//! unreadable or wrong file stops the server with a message that says which and why.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// The smallest RSA key accepted: RFC 8301 forbids shorter ones; 2048 bits is what to use.
const MIN_RSA_BITS: usize = 1024;

/// The headers the signature covers: what a reader sees, and the message's identity. Not
/// `Content-Type`: lettre writes a multipart message's `Content-Type` with its body, after the
/// signature, and its signer does not see it, so a signature naming it never verifies.
const SIGNED_HEADERS: [&str; 6] = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version"];

/// Signs messages for one domain and selector. Its `Debug` shows neither the key nor its parts.
pub struct DkimSigner {
    config: DkimConfig,
    domain: String,
    selector: String,
    algorithm: &'static str,
    public_key: String,
}

/// Why the DKIM settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// Some of the three settings are set and some are not.
    #[error("DKIM needs USHER_DKIM_DOMAIN, USHER_DKIM_SELECTOR and USHER_DKIM_KEY_FILE together; {0} missing")]
    Incomplete(String),
    /// The domain or selector is not a DNS name.
    #[error("USHER_DKIM_{name} `{value}` is not a valid DNS label sequence")]
    InvalidName {
        /// `DOMAIN` or `SELECTOR`.
        name: &'static str,
        /// The value given.
        value: String,
    },
    /// The key file could not be read.
    #[error("cannot read the DKIM key file `{}` (USHER_DKIM_KEY_FILE)", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no key this signer can use.
    #[error("the DKIM key file `{}` (USHER_DKIM_KEY_FILE) {reason}", .path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl DkimSigner {
    /// The signer the three settings describe: `None` when none is set, an error when only
    /// some are, or when the key file cannot be used.
    pub fn from_settings(
        domain: Option<&str>,
        selector: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<Option<Self>, DkimError> {
        match (domain, selector, key_file) {
            (None, None, None) => Ok(None),
            (Some(domain), Some(selector), Some(key_file)) => Self::load(domain, selector, key_file).map(Some),
            _ => {
                let missing: Vec<&str> = [
                    (domain.is_none(), "USHER_DKIM_DOMAIN"),
                    (selector.is_none(), "USHER_DKIM_SELECTOR"),
                    (key_file.is_none(), "USHER_DKIM_KEY_FILE"),
                ]
                .into_iter()
                .filter_map(|(is_missing, name)| is_missing.then_some(name))
                .collect();
                Err(DkimError::Incomplete(format!(
                    "{} {}",
                    missing.join(" and "),
                    if missing.len() == 1 { "is" } else { "are" }
                )))
            }
        }
    }

    /// Reads the key in `key_file` to sign for `domain` with `selector`.
    pub fn load(domain: &str, selector: &str, key_file: &Path) -> Result<Self, DkimError> {
        for (name, value) in [("DOMAIN", domain), ("SELECTOR", selector)] {
            if !is_dns_name(value) {
                return Err(DkimError::InvalidName { name, value: value.to_owned() });
            }
        }
        let pem = std::fs::read_to_string(key_file)
            .map_err(|source| DkimError::Read { path: key_file.to_owned(), source })?;
        let refuse = |reason: String| DkimError::Key { path: key_file.to_owned(), reason };
        let (key, algorithm, public_key) = read_key(&pem).map_err(refuse)?;
        let headers = SIGNED_HEADERS.iter().map(|name| HeaderName::new_from_ascii_str(name)).collect();
        // Relaxed for both: relays that re-fold headers or trim trailing spaces keep the
        // signature valid.
        let canonicalization =
            DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed };
        let config = DkimConfig::new(selector.to_owned(), domain.to_owned(), key, headers, canonicalization);
        Ok(Self { config, domain: domain.to_owned(), selector: selector.to_owned(), algorithm, public_key })
    }

    /// Adds the `DKIM-Signature` header to `message`.
    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// `rsa-sha256` or `ed25519-sha256`.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The DNS name of the record to publish: `{selector}._domainkey.{domain}`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record to publish there: `v=DKIM1; k=rsa|ed25519; p=…`.
    pub fn record(&self) -> String {
        let kind = if self.algorithm == "ed25519-sha256" { "ed25519" } else { "rsa" };
        format!("v=DKIM1; k={kind}; p={}", self.public_key)
    }
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The signing key in `pem`, its algorithm's name, and the base64 public key for DNS; or why
/// it is not usable.
fn read_key(pem: &str) -> Result<(DkimSigningKey, &'static str, String), String> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use rsa::traits::PublicKeyParts;

    let label = pem.lines().map(str::trim).find(|line| line.starts_with("-----BEGIN ")).unwrap_or_default();
    let rsa_key = match label {
        "-----BEGIN RSA PRIVATE KEY-----" => {
            Some(rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("holds an unreadable RSA key: {e}"))?)
        }
        "-----BEGIN PRIVATE KEY-----" => rsa::RsaPrivateKey::from_pkcs8_pem(pem).ok(),
        "" => return Err("is not in PEM format (no -----BEGIN line)".to_owned()),
        other => {
            return Err(format!(
                "holds `{}`, not an RSA or Ed25519 private key (make one with `openssl genpkey -algorithm RSA \
                 -pkeyopt rsa_keygen_bits:2048` or `openssl genpkey -algorithm ed25519`)",
                other.trim_matches('-')
            ));
        }
    };
    if let Some(key) = rsa_key {
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(format!("holds a {bits}-bit RSA key; DKIM needs at least {MIN_RSA_BITS} bits (use 2048)"));
        }
        let public = rsa::RsaPublicKey::from(&key)
            .to_public_key_der()
            .map_err(|e| format!("holds an RSA key whose public half cannot be encoded: {e}"))?;
        let pkcs1 =
            key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).map_err(|e| format!("holds an unusable RSA key: {e}"))?;
        let signing = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
            .map_err(|e| format!("holds an unusable RSA key: {e}"))?;
        return Ok((signing, "rsa-sha256", BASE64.encode(public.as_bytes())));
    }
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| format!("holds a private key that is neither RSA nor Ed25519 ({e})"))?;
    let signing = DkimSigningKey::new(&BASE64.encode(key.to_bytes()), DkimSigningAlgorithm::Ed25519)
        .map_err(|e| format!("holds an unusable Ed25519 key: {e}"))?;
    Ok((signing, "ed25519-sha256", BASE64.encode(key.verifying_key().to_bytes())))
}

/// Letters, digits, `-` and `_` in dot-separated labels (selectors may contain `_`).
fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, contents: &str) -> PathBuf {
        let path = dir.path().join("key.pem");
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn from_settings_names_what_is_missing_when_only_some_are_set() {
        let error = DkimSigner::from_settings(Some("example.com"), None, None).expect_err("incomplete");

        assert_eq!(
            error.to_string(),
            "DKIM needs USHER_DKIM_DOMAIN, USHER_DKIM_SELECTOR and USHER_DKIM_KEY_FILE together; \
             USHER_DKIM_SELECTOR and USHER_DKIM_KEY_FILE are missing"
        );
        assert!(DkimSigner::from_settings(None, None, None).expect("off").is_none());
    }

    #[test]
    fn load_refuses_with_the_reason_when_the_key_file_is_missing_or_wrong() {
        let dir = tempfile::tempdir().expect("temp dir");

        let missing = DkimSigner::load("example.com", "s1", &dir.path().join("nope.pem")).expect_err("missing");
        let not_pem = DkimSigner::load("example.com", "s1", &write(&dir, "hello")).expect_err("not PEM");
        let certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let wrong_kind = DkimSigner::load("example.com", "s1", &write(&dir, certificate)).expect_err("certificate");
        let broken = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let broken = DkimSigner::load("example.com", "s1", &write(&dir, broken)).expect_err("broken");
        let bad_selector = DkimSigner::load("example.com", "a b", &write(&dir, "x")).expect_err("selector");

        assert!(missing.to_string().starts_with("cannot read the DKIM key file"), "{missing}");
        assert!(not_pem.to_string().ends_with("is not in PEM format (no -----BEGIN line)"), "{not_pem}");
        assert!(wrong_kind.to_string().contains("holds `BEGIN CERTIFICATE`, not an RSA or Ed25519"), "{wrong_kind}");
        assert!(broken.to_string().contains("neither RSA nor Ed25519"), "{broken}");
        assert!(bad_selector.to_string().contains("USHER_DKIM_SELECTOR `a b`"), "{bad_selector}");
    }

    #[test]
    fn load_reads_an_ed25519_pkcs8_key_and_publishes_its_public_half() {
        let dir = tempfile::tempdir().expect("temp dir");
        // RFC 8410's example key.
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";

        let signer = DkimSigner::load("example.com", "s1", &write(&dir, pem)).expect("loads");

        assert_eq!(signer.algorithm(), "ed25519-sha256");
        assert_eq!(signer.record_name(), "s1._domainkey.example.com");
        assert_eq!(signer.record(), "v=DKIM1; k=ed25519; p=Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");
        assert!(!format!("{signer:?}").contains("MC4C"));
    }
}
