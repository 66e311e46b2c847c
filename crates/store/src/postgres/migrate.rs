//! The PostgreSQL schema migrations, embedded in the binary and applied by sqlx's migrator.
//!
//! The files are `include_str!`-ed rather than embedded with `sqlx::migrate!`, which needs
//! sqlx's proc-macro crate (a second build of the driver at compile time) for what is a list
//! of strings. Versions, descriptions and checksums are what `migrate!` would record, so the
//! `_sqlx_migrations` table is the same either way.
//!
//! Several instances may start at once against a new database: sqlx's migrator first takes a
//! session-level advisory lock (`pg_advisory_lock`, keyed by the database name) and holds it
//! while it creates its table, checks and applies migrations; the others wait, then find
//! everything applied. Each migration runs in a transaction with its bookkeeping row.

use std::future::Future;
use std::pin::Pin;

use sqlx_core::error::BoxDynError;
use sqlx_core::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};
use sqlx_postgres::PgConnection;

use crate::OpenError;

/// Every migration as `(version, description, SQL)`, oldest first; versions and names match
/// `migrations/sqlite`. Never edit one that was released; append a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "resets and signups", include_str!("../../migrations/postgres/0002_resets_and_signups.sql")),
    (3, "sessions and signup codes", include_str!("../../migrations/postgres/0003_sessions_and_signup_codes.sql")),
    (4, "instances", include_str!("../../migrations/postgres/0004_instances.sql")),
    (5, "idempotency keys", include_str!("../../migrations/postgres/0005_idempotency_keys.sql")),
    (6, "webhooks", include_str!("../../migrations/postgres/0006_webhooks.sql")),
    (7, "invite rules", include_str!("../../migrations/postgres/0007_invite_rules.sql")),
    (8, "daily allowance", include_str!("../../migrations/postgres/0008_daily_allowance.sql")),
    // Also the audit log's invitation index and delivery attempts; the name is the file's, as sqlx records it.
    (9, "console links", include_str!("../../migrations/postgres/0009_console_links.sql")),
    (10, "link opens", include_str!("../../migrations/postgres/0010_link_opens.sql")),
    (11, "reminders", include_str!("../../migrations/postgres/0011_reminders.sql")),
    (12, "invitation list indexes", include_str!("../../migrations/postgres/0012_invitation_list_indexes.sql")),
    (13, "mail templates", include_str!("../../migrations/postgres/0013_mail_templates.sql")),
    (14, "console sessions", include_str!("../../migrations/postgres/0014_console_sessions.sql")),
    (15, "live pending index", include_str!("../../migrations/postgres/0015_live_pending_index.sql")),
    (16, "audit detail", include_str!("../../migrations/postgres/0016_audit_detail.sql")),
];

/// The schema version this build creates and understands.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |&(version, _, _)| version)
}

/// The newest migration applied to the database (0 before the first).
pub(super) async fn applied_version(conn: &mut PgConnection) -> sqlx_core::Result<i64> {
    sqlx_core::query_scalar::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .fetch_one(conn)
        .await
}

/// The embedded migrations, as a source sqlx's migrator reads.
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async { Ok(migrations()) })
    }
}

fn migrations() -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false)
        })
        .collect()
}

/// Brings the database up to [`latest_version`], refusing one migrated by a newer build.
///
/// Runs on a connection of its own, closed afterwards: if a migration fails, the migrator's
/// session lock goes with the connection instead of staying in a pool.
pub(super) async fn run(conn: &mut PgConnection) -> Result<(), OpenError> {
    let migrator = Migrator::new(Embedded).await.map_err(OpenError::PostgresMigrate)?;
    migrator.run(conn).await.map_err(|error| match error {
        MigrateError::VersionMissing(found) => OpenError::SchemaTooNew {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            known: u32::try_from(latest_version()).unwrap_or(u32::MAX),
        },
        other => OpenError::PostgresMigrate(other),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `(version, name)` of every `NNNN_name.sql` in `dir`, in order.
    fn files(dir: &str) -> Vec<(i64, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut files: Vec<(i64, String)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
            .filter_map(|name| {
                let stem = name.strip_suffix(".sql")?;
                let (version, description) = stem.split_once('_')?;
                Some((version.parse().ok()?, description.replace('_', " ")))
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|&(version, _, _)| version).collect();

        assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    }

    #[test]
    fn migrations_embed_every_file_with_the_version_and_name_sqlite_has() {
        let embedded: Vec<(i64, String)> = MIGRATIONS.iter().map(|&(v, d, _)| (v, d.to_owned())).collect();

        let postgres = files("postgres");
        let sqlite = files("sqlite");

        assert_eq!(embedded, postgres, "every file in migrations/postgres is embedded, named as sqlx would");
        assert_eq!(postgres, sqlite, "one change = the same version and name on both backends");
    }
}
