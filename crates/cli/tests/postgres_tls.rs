//! TLS to PostgreSQL with libpq's `sslmode` meanings, against a private cluster (initdb and
//! pg_ctl in a temporary directory) that accepts TCP connections over TLS only, with a CA and a
//! server certificate for `localhost` made here.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use usher_store::OpenError;
use usher_testkit::PrivateCluster;

/// A CA: its certificate in PEM, and the issuer that signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `names`, and its key, both in PEM.
    fn server_certificate(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let cert = CertificateParams::new(names).expect("server params").signed_by(&key, &self.issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

/// A running TLS-only cluster whose certificate names `localhost`, and the files of the CA
/// that signed it and of another CA.
struct TlsSetup {
    cluster: PrivateCluster,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsSetup {
    fn start() -> Option<Self> {
        let mut cluster = PrivateCluster::create()?;
        let ca = Ca::new("Usher test CA");
        let (cert, key) = ca.server_certificate(&["localhost"]);
        cluster.enable_tls(&cert, &key);
        cluster.ctl("start");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        let other_ca_file = dir.path().join("other-ca.pem");
        std::fs::write(&ca_file, ca.pem).expect("write CA");
        std::fs::write(&other_ca_file, Ca::new("Someone else's CA").pem).expect("write other CA");
        Some(Self { cluster, ca_file, other_ca_file, _dir: dir })
    }

    /// A URL to `host` with a password (which the server, trusting, ignores) and `params`.
    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres:hunter2@{host}:{}/postgres?{params}", self.cluster.port())
    }
}

fn root(file: &Path) -> String {
    format!("sslrootcert={}", file.display())
}

/// `usher_store::connect` to `url`, with the `PG*` TLS variables out of the way.
async fn connect(url: &str) -> Result<(), OpenError> {
    // A developer's own PGSSLROOTCERT would change what `require` means here.
    assert!(std::env::var_os("PGSSLMODE").is_none() && std::env::var_os("PGSSLROOTCERT").is_none(), "unset PGSSL*");
    usher_store::connect(url).await.map(drop)
}

/// The error's message with its causes.
fn message(error: &OpenError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

#[tokio::test]
async fn connect_succeeds_over_tls_when_sslmode_asks_for_it_with_the_right_ca() {
    let Some(setup) = TlsSetup::start() else { return };

    let verify_full = connect(&setup.url("localhost", &format!("sslmode=verify-full&{}", root(&setup.ca_file)))).await;
    let verify_ca = connect(&setup.url("localhost", &format!("sslmode=verify-ca&{}", root(&setup.ca_file)))).await;
    let require = connect(&setup.url("127.0.0.1", "sslmode=require")).await;
    let prefer = connect(&setup.url("127.0.0.1", "sslmode=prefer")).await;
    let allow = connect(&setup.url("127.0.0.1", "sslmode=allow")).await;
    let disable = connect(&setup.url("127.0.0.1", "sslmode=disable")).await;

    assert!(verify_full.is_ok(), "verify-full: {:?}", verify_full.err().map(|e| message(&e)));
    assert!(verify_ca.is_ok(), "verify-ca: {:?}", verify_ca.err().map(|e| message(&e)));
    assert!(require.is_ok(), "require needs no CA: {:?}", require.err().map(|e| message(&e)));
    assert!(prefer.is_ok(), "prefer: {:?}", prefer.err().map(|e| message(&e)));
    assert!(allow.is_ok(), "allow falls back to TLS: {:?}", allow.err().map(|e| message(&e)));
    // The cluster takes TLS connections only, so the ones above did use TLS.
    let disable = disable.err().map(|e| message(&e)).unwrap_or_default();
    assert!(disable.contains("no encryption") || disable.contains("pg_hba.conf"), "{disable}");
}

#[tokio::test]
async fn connect_names_the_reason_when_host_name_or_ca_is_wrong() {
    let Some(setup) = TlsSetup::start() else { return };

    let wrong_host = connect(&setup.url("127.0.0.1", &format!("sslmode=verify-full&{}", root(&setup.ca_file)))).await;
    let unknown_ca =
        connect(&setup.url("localhost", &format!("sslmode=verify-full&{}", root(&setup.other_ca_file)))).await;
    // libpq: `require` with a root certificate verifies the chain.
    let require_with_ca =
        connect(&setup.url("localhost", &format!("sslmode=require&{}", root(&setup.other_ca_file)))).await;
    let no_ca = connect(&setup.url("localhost", "sslmode=verify-full")).await;

    let wrong_host = message(&wrong_host.expect_err("the certificate names localhost only"));
    assert!(wrong_host.contains("not valid for the host name `127.0.0.1`"), "{wrong_host}");
    for unknown_ca in [unknown_ca, require_with_ca] {
        let unknown_ca = message(&unknown_ca.expect_err("another CA signed the certificate"));
        assert!(unknown_ca.contains("not signed by a trusted CA"), "{unknown_ca}");
        assert!(!unknown_ca.contains("hunter2"), "{unknown_ca}");
    }
    let no_ca = message(&no_ca.expect_err("verify-full without a CA"));
    assert!(no_ca.contains("sslmode=verify-full needs") && no_ca.contains("sslrootcert"), "{no_ca}");
    assert!(!wrong_host.contains("hunter2") && !no_ca.contains("hunter2"), "{wrong_host} {no_ca}");
}

#[test]
fn usher_stops_with_the_reason_but_not_the_password_when_the_ca_is_unknown() {
    let Some(setup) = TlsSetup::start() else { return };
    let url = setup.url("localhost", &format!("sslmode=verify-full&{}", root(&setup.other_ca_file)));

    let created = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["app", "create", "--name", "Acme", "--app-url", "https://acme.test/"])
        .env("DATABASE_URL", &url)
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .output()
        .expect("usher app create");

    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(!created.status.success());
    assert!(stderr.contains("over TLS: the server's certificate is not signed by a trusted CA"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
