//! The SQLite schema migrations and the small runner that applies them at open.
//!
//! Migrations are SQL files embedded in the binary, applied in order, each in its own
//! `IMMEDIATE` transaction together with the bump of `PRAGMA user_version`, which records
//! how far a database file has been migrated. Taking the write lock before reading the
//! version means two processes opening the same new file cannot both apply a migration.

use rusqlite::{Connection, TransactionBehavior};

use crate::OpenError;

/// One schema change: `version` is the number in its file name.
struct Migration {
    version: u32,
    sql: &'static str,
}

/// Every migration, oldest first. Never edit one that was released; append a new one.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../migrations/sqlite/0001_init.sql") },
    Migration { version: 2, sql: include_str!("../migrations/sqlite/0002_resets_and_signups.sql") },
    Migration { version: 3, sql: include_str!("../migrations/sqlite/0003_sessions_and_signup_codes.sql") },
    Migration { version: 4, sql: include_str!("../migrations/sqlite/0004_instances.sql") },
    Migration { version: 5, sql: include_str!("../migrations/sqlite/0005_idempotency_keys.sql") },
    Migration { version: 6, sql: include_str!("../migrations/sqlite/0006_webhooks.sql") },
    Migration { version: 7, sql: include_str!("../migrations/sqlite/0007_invite_rules.sql") },
    Migration { version: 8, sql: include_str!("../migrations/sqlite/0008_daily_allowance.sql") },
    Migration { version: 9, sql: include_str!("../migrations/sqlite/0009_console_links.sql") },
    Migration { version: 10, sql: include_str!("../migrations/sqlite/0010_link_opens.sql") },
    Migration { version: 11, sql: include_str!("../migrations/sqlite/0011_reminders.sql") },
    Migration { version: 12, sql: include_str!("../migrations/sqlite/0012_invitation_list_indexes.sql") },
    Migration { version: 13, sql: include_str!("../migrations/sqlite/0013_mail_templates.sql") },
    Migration { version: 14, sql: include_str!("../migrations/sqlite/0014_console_sessions.sql") },
    Migration { version: 15, sql: include_str!("../migrations/sqlite/0015_live_pending_index.sql") },
    Migration { version: 16, sql: include_str!("../migrations/sqlite/0016_audit_detail.sql") },
];

/// The schema version this build creates and understands.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database up to [`latest_version`], refusing a file migrated by a newer build.
pub(crate) fn run(conn: &mut Connection) -> Result<(), OpenError> {
    for migration in MIGRATIONS {
        let failed = |source| OpenError::Migrate { version: migration.version, source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let current: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(failed)?;
        if current > latest_version() {
            return Err(OpenError::SchemaTooNew { found: current, known: latest_version() });
        }
        if current >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", migration.version).map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version is readable")
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();

        assert_eq!(versions, (1..=versions.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn run_migrates_a_new_database_to_the_latest_version_when_run_twice() {
        let mut conn = Connection::open_in_memory().expect("in-memory database opens");

        run(&mut conn).expect("first run migrates");
        run(&mut conn).expect("second run is a no-op");

        assert_eq!(user_version(&conn), latest_version());
    }

    #[test]
    fn run_refuses_the_database_when_a_newer_build_migrated_it() {
        let mut conn = Connection::open_in_memory().expect("in-memory database opens");
        conn.pragma_update(None, "user_version", latest_version() + 1).expect("user_version is writable");

        let refused = run(&mut conn);

        assert!(matches!(refused, Err(OpenError::SchemaTooNew { .. })), "{refused:?}");
    }
}
