//! Usher's storage: the backends that implement [`usher_core::Store`], their migrations, and
//! [`connect`], which picks a backend from a `DATABASE_URL`.
//!
//! SQLite ([`SqliteStore`]) is the embedded default. PostgreSQL is planned; until it lands a
//! `postgres://` URL is refused with an error that says so, rather than being mistaken for
//! a file name.

mod migrate;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use usher_core::Store;

pub use sqlite::SqliteStore;

/// Why a database could not be opened.
///
/// Messages name the file and the cause, and never echo a URL: a `DATABASE_URL` may carry a
/// password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL asks for PostgreSQL, which this build cannot talk to yet.
    #[error(
        "PostgreSQL support is not available yet in this build; \
         use a SQLite DATABASE_URL such as sqlite://usher-data/usher.db?mode=rwc"
    )]
    PostgresUnavailable,
    /// The URL's scheme is not one this build knows.
    #[error(
        "unsupported database URL scheme `{0}:`; accepted are sqlite://PATH, \
         sqlite://PATH?mode=rwc and sqlite:PATH"
    )]
    UnsupportedScheme(String),
    /// The text has no `scheme:` prefix at all.
    #[error("the database URL has no scheme; write sqlite://PATH (e.g. sqlite://usher-data/usher.db?mode=rwc)")]
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
}

/// Opens the database that `database_url` names, migrates it, and returns it as a [`Store`].
///
/// Accepted: `sqlite://PATH?mode=rwc`, `sqlite://PATH` and `sqlite:PATH`, where PATH is
/// relative to the working directory or absolute (`sqlite:///var/lib/usher/usher.db`). The
/// query string is ignored: the file and its directory are always created when missing.
/// `postgres://` and `postgresql://` are recognised and refused until PostgreSQL lands.
pub fn connect(database_url: &str) -> Result<Arc<dyn Store>, OpenError> {
    let path = sqlite_path(database_url)?;
    Ok(Arc::new(SqliteStore::open(&path)?))
}

/// The file path of a `sqlite:` URL, or why the URL is not one.
fn sqlite_path(database_url: &str) -> Result<PathBuf, OpenError> {
    let (scheme, rest) =
        database_url.split_once(':').filter(|(scheme, _)| is_scheme(scheme)).ok_or(OpenError::MissingScheme)?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {}
        "postgres" | "postgresql" => return Err(OpenError::PostgresUnavailable),
        other => return Err(OpenError::UnsupportedScheme(other.to_owned())),
    }
    // `sqlite://a/b.db` names the relative path `a/b.db` (as sqlx reads it), and
    // `sqlite:///a/b.db` the absolute one.
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    if path.is_empty() {
        return Err(OpenError::EmptyPath);
    }
    Ok(Path::new(path).to_path_buf())
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
    fn sqlite_path_reads_the_path_when_url_has_any_accepted_form() {
        let cases = [
            ("sqlite://usher-data/usher.db?mode=rwc", "usher-data/usher.db"),
            ("sqlite://usher-data/usher.db", "usher-data/usher.db"),
            ("sqlite:usher.db", "usher.db"),
            ("sqlite:///var/lib/usher/usher.db?mode=rwc", "/var/lib/usher/usher.db"),
            ("sqlite:/var/lib/usher/usher.db", "/var/lib/usher/usher.db"),
            ("SQLite://data.db", "data.db"),
        ];
        for (url, expected) in cases {
            let path = sqlite_path(url).unwrap_or_else(|e| panic!("{url}: {e}"));

            assert_eq!(path, Path::new(expected), "{url}");
        }
    }

    #[test]
    fn sqlite_path_refuses_with_postgres_message_when_url_is_postgres() {
        for url in ["postgres://usher:hunter2@db/usher", "postgresql://db/usher"] {
            let error = sqlite_path(url).expect_err(url);

            let message = error.to_string();
            assert!(matches!(error, OpenError::PostgresUnavailable), "{url}");
            assert!(message.contains("PostgreSQL support is not available yet"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn sqlite_path_names_the_accepted_schemes_when_scheme_is_unknown() {
        let error = sqlite_path("mysql://root:hunter2@db/usher").expect_err("mysql is refused");

        let message = error.to_string();
        assert!(message.contains("`mysql:`") && message.contains("sqlite://PATH"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn sqlite_path_refuses_when_scheme_or_path_is_missing() {
        assert!(matches!(sqlite_path("usher.db"), Err(OpenError::MissingScheme)));
        assert!(matches!(sqlite_path("./data:usher.db"), Err(OpenError::MissingScheme)));
        assert!(matches!(sqlite_path("sqlite://"), Err(OpenError::EmptyPath)));
        assert!(matches!(sqlite_path("sqlite://?mode=rwc"), Err(OpenError::EmptyPath)));
    }

    #[test]
    fn connect_creates_missing_directories_when_path_is_nested() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a/b/usher.db");

        let store = connect(&format!("sqlite://{}?mode=rwc", file.display()));

        assert!(store.is_ok(), "{:?}", store.err());
        assert!(file.exists());
    }
}
