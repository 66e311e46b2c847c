//! Usher's storage: the backends that implement [`usher_core::Store`], their migrations, and
//! [`connect`], which picks a backend from a `DATABASE_URL`.
//!
//! SQLite ([`SqliteStore`]) is the embedded default; PostgreSQL ([`PgStore`]) is for several
//! server instances sharing one database. Both pass the same conformance suite
//! (`tests/conformance`), so the service cannot tell them apart.

mod cached;
pub mod copy;
mod migrate;
mod postgres;
mod records;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use usher_core::Store;

pub use cached::{CachedStore, FRESH_FOR};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Why a database could not be opened.
///
/// Messages name the file and the cause, and never echo a URL: a `DATABASE_URL` may carry a
/// password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL's scheme is not one this build knows.
    #[error(
        "unsupported database URL scheme `{0}:`; accepted are sqlite://PATH, \
         sqlite://PATH?mode=rwc, sqlite:PATH, postgres://… and postgresql://…"
    )]
    UnsupportedScheme(String),
    /// The text has no `scheme:` prefix at all.
    #[error(
        "the database URL has no scheme; write sqlite://PATH (e.g. sqlite://usher-data/usher.db?mode=rwc) \
         or postgres://USER@HOST/DATABASE"
    )]
    MissingScheme,
    /// A `sqlite:` URL without a file path.
    #[error("the SQLite database URL names no file; write sqlite://PATH")]
    EmptyPath,
    /// The directory that should hold the database file could not be created.
    #[error("cannot create directory `{}` for the database", .path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SQLite could not open or configure the file.
    #[error("cannot open SQLite database `{}`", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The file system does not support SQLite's write-ahead log (e.g. a network share).
    #[error(
        "SQLite database `{}` cannot use write-ahead logging (journal mode stays `{mode}`); \
         keep it on a local file system", .path.display()
    )]
    NoWriteAheadLog {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// A schema migration failed; the database stays at the previous version.
    #[error("database migration {version} failed")]
    Migrate {
        /// The migration's number.
        version: u32,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was migrated by a newer Usher than this one.
    #[error(
        "the database schema is at version {found}, newer than this build knows ({known}); \
         run a newer Usher"
    )]
    SchemaTooNew {
        /// The file's schema version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The thread that owns the connection could not be started.
    #[error("cannot start the SQLite writer thread")]
    Thread(#[source] std::io::Error),
    /// A `postgres://` URL that does not parse (the cause names the part, not the URL).
    #[error("the PostgreSQL database URL is invalid")]
    PostgresUrl(#[source] sqlx_core::Error),
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {server}")]
    PostgresConnect {
        /// `host:port/database`, without user or password.
        server: String,
        /// Why.
        #[source]
        source: sqlx_core::Error,
    },
    /// The TLS settings (`sslmode`, `sslrootcert`) contradict each other or name a file that
    /// cannot be read; the message says which.
    #[error("PostgreSQL TLS settings: {0}")]
    PostgresTlsSettings(String),
    /// The TLS handshake with PostgreSQL failed: the reason names what was refused (an unknown
    /// CA, a certificate for another host name, a server without TLS).
    #[error("cannot connect to PostgreSQL at {server} over TLS: {reason}")]
    PostgresTls {
        /// `host:port/database`, without user or password.
        server: String,
        /// Why, in words.
        reason: String,
        /// The error underneath.
        #[source]
        source: sqlx_core::Error,
    },
    /// A PostgreSQL schema migration failed; the database stays at the previous version.
    #[error("PostgreSQL schema migration failed")]
    PostgresMigrate(#[source] sqlx_core::migrate::MigrateError),
}

/// Opens the database that `database_url` names, migrates it, and returns it as a [`Store`]
/// behind a [`CachedStore`].
///
/// Accepted: `sqlite://PATH?mode=rwc`, `sqlite://PATH` and `sqlite:PATH`, where PATH is
/// relative to the working directory or absolute (`sqlite:///var/lib/usher/usher.db`); the
/// query string is ignored, and the file and its directory are created when missing. And
/// `postgres://` or `postgresql://` URLs in libpq's form (see [`PgStore::connect`]).
pub async fn connect(database_url: &str) -> Result<Arc<dyn Store>, OpenError> {
    let store: Arc<dyn Store> = match target(database_url)? {
        // Opening a file and migrating it blocks briefly; this runs once, at startup.
        Target::Sqlite(path) => Arc::new(SqliteStore::open(&path)?),
        Target::Postgres => Arc::new(PgStore::connect(database_url).await?),
    };
    Ok(Arc::new(CachedStore::new(store)))
}

/// The backend a `DATABASE_URL` names.
#[derive(Debug, PartialEq)]
enum Target {
    /// A SQLite file at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL server; the URL itself is handed to the driver.
    Postgres,
}

/// Which backend `database_url` names, or why it names none.
fn target(database_url: &str) -> Result<Target, OpenError> {
    let (scheme, rest) =
        database_url.split_once(':').filter(|(scheme, _)| is_scheme(scheme)).ok_or(OpenError::MissingScheme)?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {}
        "postgres" | "postgresql" => return Ok(Target::Postgres),
        other => return Err(OpenError::UnsupportedScheme(other.to_owned())),
    }
    // `sqlite://a/b.db` names the relative path `a/b.db` (as sqlx reads it), and
    // `sqlite:///a/b.db` the absolute one.
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    if path.is_empty() {
        return Err(OpenError::EmptyPath);
    }
    Ok(Target::Sqlite(Path::new(path).to_path_buf()))
}

/// Records one group commit for `/metrics`: its batch size and how long the writer spent on it
/// (the transaction, or its jobs one by one when it had to be rerun). A no-op without a
/// metrics recorder.
fn record_commit(backend: &'static str, size: usize, started: std::time::Instant) {
    metrics::histogram!("usher_store_commit_duration_seconds", "backend" => backend)
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("usher_store_commit_batch_size", "backend" => backend).record(size as f64);
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_reads_the_path_when_url_has_any_accepted_sqlite_form() {
        let cases = [
            ("sqlite://usher-data/usher.db?mode=rwc", "usher-data/usher.db"),
            ("sqlite://usher-data/usher.db", "usher-data/usher.db"),
            ("sqlite:usher.db", "usher.db"),
            ("sqlite:///var/lib/usher/usher.db?mode=rwc", "/var/lib/usher/usher.db"),
            ("sqlite:/var/lib/usher/usher.db", "/var/lib/usher/usher.db"),
            ("SQLite://data.db", "data.db"),
        ];
        for (url, expected) in cases {
            let target = target(url).unwrap_or_else(|e| panic!("{url}: {e}"));

            assert_eq!(target, Target::Sqlite(Path::new(expected).to_path_buf()), "{url}");
        }
    }

    #[test]
    fn target_is_postgres_when_url_has_either_postgres_scheme() {
        for url in ["postgres://usher:hunter2@db/usher", "postgresql://db/usher", "POSTGRES://db"] {
            assert_eq!(target(url).expect(url), Target::Postgres, "{url}");
        }
    }

    #[tokio::test]
    async fn connect_names_the_url_part_but_not_the_password_when_postgres_url_is_invalid() {
        let error = connect("postgres://usher:hunter2@db:notaport/usher").await.err().expect("refused");

        let message = format!("{error}: {:?}", std::error::Error::source(&error).map(ToString::to_string));
        assert!(matches!(error, OpenError::PostgresUrl(_)), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn target_names_the_accepted_schemes_when_scheme_is_unknown() {
        let error = target("mysql://root:hunter2@db/usher").expect_err("mysql is refused");

        let message = error.to_string();
        assert!(message.contains("`mysql:`") && message.contains("sqlite://PATH"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn target_refuses_when_scheme_or_path_is_missing() {
        assert!(matches!(target("usher.db"), Err(OpenError::MissingScheme)));
        assert!(matches!(target("./data:usher.db"), Err(OpenError::MissingScheme)));
        assert!(matches!(target("sqlite://"), Err(OpenError::EmptyPath)));
        assert!(matches!(target("sqlite://?mode=rwc"), Err(OpenError::EmptyPath)));
    }

    #[tokio::test]
    async fn connect_creates_missing_directories_when_path_is_nested() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a/b/usher.db");

        let store = connect(&format!("sqlite://{}?mode=rwc", file.display())).await;

        assert!(store.is_ok(), "{:?}", store.err());
        assert!(file.exists());
    }
}
