//! Copying a SQLite database into PostgreSQL (`usher migrate --from sqlite://… --to
//! postgres://…`), for a deployment that outgrows one machine.
//!
//! Everything is copied as stored: apps, keys, members with their password hashes,
//! invitations with their token hashes, the outbox (queued emails keep their links), audit
//! events and the server secrets (so access tokens and mailed links keep working). Both schemas
//! are first brought to this build's version; the copy then reads one SQLite read transaction
//! (one consistent snapshot, even if a server still writes) and writes one PostgreSQL
//! transaction, so the target has all of it or nothing. The column list comes from the target,
//! and each value is converted to the target column's type (SQLite keeps booleans as integers
//! and JSON as text).
//!
//! Left behind: the `instances` registry (the processes of the old deployment). A message an
//! old instance was sending is queued again instead, so an instance of the new one sends it.
//! The stored answers of `Idempotency-Key`s are copied (a request repeated after the move is
//! replayed, not run again); a claim still without an answer belonged to a request of the old
//! deployment, which ended with it, and is dropped, so its repeat runs at once.

use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::{OpenFlags, params};
use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, Postgres};

use crate::{OpenError, SqliteStore, Target, target};

/// The tables copied, parents before children.
pub const TABLES: [&str; 17] = [
    "apps",
    "api_keys",
    "users",
    "invitations",
    "invitation_tokens",
    "outbox_messages",
    "audit_events",
    "server_secrets",
    "password_resets",
    "signups",
    "webhooks",
    "webhook_deliveries",
    "console_links",
    "delivery_attempts",
    "idempotency_keys",
    "mail_templates",
    "console_sessions",
];

/// Rows written per `INSERT`: far below PostgreSQL's 65,535 parameters for the widest table.
const CHUNK: usize = 500;

/// How a copy went: the rows of each table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// `(table, rows copied)`.
    pub tables: Vec<(&'static str, u64)>,
}

/// Why a copy did not happen. Nothing was written to the target in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// `--from` is not a `sqlite:` URL.
    #[error("the source must be a sqlite:// URL")]
    SourceNotSqlite,
    /// `--to` is not a `postgres:` URL.
    #[error("the target must be a postgres:// URL")]
    TargetNotPostgres,
    /// The source file does not exist.
    #[error("the SQLite database `{}` does not exist", .0.display())]
    SourceMissing(PathBuf),
    /// Opening or migrating either database failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The target already holds data.
    #[error(
        "the PostgreSQL database is not empty ({0} hold rows); copy into an empty database, or pass \
         --replace to delete what it holds first"
    )]
    TargetNotEmpty(String),
    /// Reading the source failed.
    #[error("reading the SQLite database failed")]
    Read(#[source] rusqlite::Error),
    /// Writing the target failed (its transaction was rolled back).
    #[error("writing to PostgreSQL failed; nothing was copied")]
    Write(#[source] sqlx_core::Error),
    /// A value does not fit the target column (a schema this build does not know).
    #[error("{table}.{column}: cannot store {value} in a {kind} column")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// The column.
        column: String,
        /// The column's PostgreSQL type.
        kind: String,
        /// What the source held, described.
        value: String,
    },
}

/// Copies the SQLite database `from` into the PostgreSQL database `to` (see the module docs).
/// `replace` deletes whatever the target holds first, in the same transaction; without it a
/// target with any row is refused. `progress(table, done, total)` is called as rows are copied.
pub async fn sqlite_to_postgres(
    from: &str,
    to: &str,
    replace: bool,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<CopyReport, CopyError> {
    let Target::Sqlite(path) = target(from)? else { return Err(CopyError::SourceNotSqlite) };
    if target(to)? != Target::Postgres {
        return Err(CopyError::TargetNotPostgres);
    }
    if !path.exists() {
        return Err(CopyError::SourceMissing(path));
    }
    // Brings the file to this build's schema (what the target gets too); closed again at once.
    drop(SqliteStore::open(&path)?);
    let mut target = crate::postgres::migrated_connection(to).await?;
    let source = rusqlite::Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| OpenError::Open { path: path.clone(), source })?;
    // One read transaction from the first count to the last row: one snapshot.
    source.execute_batch("BEGIN").map_err(CopyError::Read)?;
    let mut totals = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let count: u64 = source
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0))
            .map_err(CopyError::Read)?;
        totals.push(count);
    }

    let mut tx = target.begin().await.map_err(CopyError::Write)?;
    let everything = [TABLES.as_slice(), &["instances"]].concat();
    let mut filled = Vec::new();
    for table in &everything {
        let has_rows: bool = query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *tx)
            .await
            .map_err(CopyError::Write)?;
        if has_rows {
            filled.push(*table);
        }
    }
    if !filled.is_empty() {
        if !replace {
            return Err(CopyError::TargetNotEmpty(filled.join(", ")));
        }
        query(&format!("TRUNCATE {} RESTART IDENTITY", everything.join(", ")))
            .execute(&mut *tx)
            .await
            .map_err(CopyError::Write)?;
    }

    let mut report = CopyReport { tables: Vec::with_capacity(TABLES.len()) };
    for (table, total) in TABLES.into_iter().zip(totals) {
        progress(table, 0, total);
        let copied = copy_table(&source, &mut tx, table, total, progress).await?;
        report.tables.push((table, copied));
    }
    // Claims of the old deployment's instances end here: queued again, due as they were.
    query(
        "UPDATE outbox_messages SET status = 'queued', claimed_by = NULL, lease_until = NULL WHERE status = 'sending'",
    )
    .execute(&mut *tx)
    .await
    .map_err(CopyError::Write)?;
    // Claims of the old deployment's requests end here too: a repeat runs again.
    query("DELETE FROM idempotency_keys WHERE status IS NULL").execute(&mut *tx).await.map_err(CopyError::Write)?;
    // Audit ids were copied as they were; new events continue after the highest.
    query(
        "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), GREATEST(COALESCE(MAX(id), 0), 1), \
         MAX(id) IS NOT NULL) FROM audit_events",
    )
    .execute(&mut *tx)
    .await
    .map_err(CopyError::Write)?;
    tx.commit().await.map_err(CopyError::Write)?;
    let _ = target.close().await;
    Ok(report)
}

/// Copies one table in chunks of [`CHUNK`] rows, in rowid order; returns the rows copied.
async fn copy_table(
    source: &rusqlite::Connection,
    target: &mut PgConnection,
    table: &'static str,
    total: u64,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<u64, CopyError> {
    let columns: Vec<(String, String)> = query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *target)
    .await
    .map_err(CopyError::Write)?;
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let select =
        format!("SELECT rowid, {} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {CHUNK}", names.join(", "));
    // The audit log's ids are generated by PostgreSQL; the copy keeps SQLite's.
    let overriding = if table == "audit_events" { " OVERRIDING SYSTEM VALUE" } else { "" };
    let (mut after, mut copied) = (0_i64, 0_u64);
    loop {
        let rows = read_chunk(source, &select, after, names.len())?;
        let Some((last, _)) = rows.last() else { break };
        after = *last;
        let mut placeholders = Vec::with_capacity(rows.len());
        let mut n = 0;
        for _ in &rows {
            let row: Vec<String> = columns
                .iter()
                .map(|(_, kind)| {
                    n += 1;
                    format!("${n}::{kind}")
                })
                .collect();
            placeholders.push(format!("({})", row.join(", ")));
        }
        let sql = format!("INSERT INTO {table} ({}){overriding} VALUES {}", names.join(", "), placeholders.join(", "));
        let mut insert = query::<Postgres>(&sql);
        for (_, values) in &rows {
            for ((column, kind), value) in columns.iter().zip(values) {
                insert = bind(insert, table, column, kind, value)?;
            }
        }
        insert.execute(&mut *target).await.map_err(CopyError::Write)?;
        copied += rows.len() as u64;
        progress(table, copied, total);
    }
    Ok(copied)
}

/// Up to [`CHUNK`] rows after rowid `after`: each its rowid and `width` values.
fn read_chunk(
    source: &rusqlite::Connection,
    select: &str,
    after: i64,
    width: usize,
) -> Result<Vec<(i64, Vec<Value>)>, CopyError> {
    let mut statement = source.prepare_cached(select).map_err(CopyError::Read)?;
    let rows = statement
        .query_map(params![after], |row| {
            let values = (1..=width).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((row.get::<_, i64>(0)?, values))
        })
        .map_err(CopyError::Read)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(CopyError::Read)
}

type Query<'q> = sqlx_core::query::Query<'q, Postgres, sqlx_postgres::PgArguments>;

/// Binds `value` for a column of PostgreSQL type `kind`.
fn bind<'q>(
    insert: Query<'q>,
    table: &'static str,
    column: &str,
    kind: &str,
    value: &Value,
) -> Result<Query<'q>, CopyError> {
    let mismatch = || CopyError::Mismatch {
        table,
        column: column.to_owned(),
        kind: kind.to_owned(),
        value: match value {
            Value::Null => "NULL".to_owned(),
            Value::Integer(_) => "an integer".to_owned(),
            Value::Real(_) => "a real number".to_owned(),
            Value::Text(_) => "text".to_owned(),
            Value::Blob(_) => "a blob".to_owned(),
        },
    };
    Ok(match (kind, value) {
        ("text" | "jsonb" | "json", Value::Text(text)) => insert.bind(text.clone()),
        ("text" | "jsonb" | "json", Value::Null) => insert.bind(None::<String>),
        ("bigint" | "integer" | "smallint", Value::Integer(n)) => insert.bind(*n),
        ("bigint" | "integer" | "smallint", Value::Null) => insert.bind(None::<i64>),
        ("boolean", Value::Integer(n)) => insert.bind(*n != 0),
        ("boolean", Value::Null) => insert.bind(None::<bool>),
        _ => return Err(mismatch()),
    })
}
