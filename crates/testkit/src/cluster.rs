//! A PostgreSQL cluster of a test's own: `initdb` and `pg_ctl` in a temporary directory, on a
//! port of its own, so a test may stop it, restart it or turn on TLS without touching the
//! shared server that `USHER_TEST_PG_URL` names.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::free_port;

/// A PostgreSQL cluster in a temporary directory, stopped when dropped.
pub struct PrivateCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// `-c name=value` settings given to every start.
    settings: Vec<String>,
    dir: TempDir,
}

impl PrivateCluster {
    /// Creates and starts a cluster, or `None` (after a notice) without PostgreSQL's server
    /// binaries here; on CI (`CI=true`) their absence is a failure.
    pub fn start() -> Option<Self> {
        let cluster = Self::create()?;
        cluster.ctl("start");
        Some(cluster)
    }

    /// Creates a cluster (initdb) without starting it, so a test can configure it first.
    /// `None` (after a notice) without PostgreSQL's server binaries, a failure on CI.
    pub fn create() -> Option<Self> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(Result::ok).map(|v| v.path().join("bin")).max())
            .filter(|bin| bin.join("pg_ctl").exists())
        else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs PostgreSQL's server binaries");
            eprintln!("SKIPPED: no /usr/lib/postgresql/*/bin/pg_ctl");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let cluster = Self { bin, data, port: free_port(), settings: Vec::new(), dir };
        if is_root() {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            cluster.chown(cluster.dir.path());
        }
        let created = cluster
            .pg("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&cluster.data)
            .output()
            .expect("initdb");
        assert!(created.status.success(), "initdb: {}", String::from_utf8_lossy(&created.stderr));
        Some(cluster)
    }

    /// Turns TLS on for the next start, with the server certificate (chain) and its private key
    /// in PEM, and refuses TCP connections without it (`hostssl` only in pg_hba.conf): a
    /// connection that succeeds then surely used TLS. The files are written into the data
    /// directory, readable by the cluster's owner only (PostgreSQL refuses a key others can read).
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str) {
        let hba = "hostssl all all 127.0.0.1/32 trust\n";
        for (name, contents) in [("server.crt", cert_pem), ("server.key", key_pem), ("pg_hba.conf", hba)] {
            let path = self.data.join(name);
            std::fs::write(&path, contents).expect("write a TLS file into the cluster");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod 600");
            if is_root() {
                self.chown(&path);
            }
        }
        self.settings.extend(["ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key"].map(String::from));
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `DATABASE_URL` of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start` (waiting until it accepts connections) or `pg_ctl stop -m fast`
    /// (`action` is `"start"` or `"stop"`).
    pub fn ctl(&self, action: &str) {
        let mut command = self.pg("pg_ctl");
        command.arg("-D").arg(&self.data).args(["-w", "-l"]).arg(self.data.join("log"));
        match action {
            "start" => {
                let mut options =
                    format!("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", self.port);
                for setting in &self.settings {
                    options.push_str(" -c ");
                    options.push_str(setting);
                }
                command.args(["-o", &options, "start"])
            }
            _ => command.args(["-m", "fast", "stop"]),
        };
        let done = command.output().expect("pg_ctl");
        let log = std::fs::read_to_string(self.data.join("log")).unwrap_or_default();
        assert!(done.status.success(), "pg_ctl {action}: {}\n{log}", String::from_utf8_lossy(&done.stderr));
    }

    /// A command running PostgreSQL's `program` as the cluster's owner.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Gives `path` to the postgres user (when the tests run as root).
    fn chown(&self, path: &Path) {
        let owned = Command::new("chown").arg("postgres:").arg(path).status().expect("chown");
        assert!(owned.success(), "chown {} to postgres", path.display());
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.pg("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}
