//! The database's schema, versioned: each migration runs once, in order, in one transaction
//! with its row in `hotline_schema`, under a transaction-scoped advisory lock so two gateways
//! starting at once do not both run it. A kill mid-migration rolls it back whole; the next
//! start runs it again. A database whose schema is newer than this gateway knows is refused,
//! since an older gateway would misread what a newer one wrote.

use tokio_postgres::Client;

use super::{Namespace, failure};
use crate::error::{Error, Result};

/// The first key of the advisory lock migrations hold (transaction-scoped): "hotm"; the second
/// is the schema's.
const MIGRATION_LOCK: i32 = 0x686f_746d;

/// The migrations, in order: (version, what it does, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "the ordered key space and the flush marker",
        "CREATE TABLE hotline_kv (k bytea PRIMARY KEY, v bytea NOT NULL);
         CREATE TABLE hotline_flush (id smallint PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO hotline_flush (id, n) VALUES (1, 0);",
    ),
    (
        2,
        "the write generation the gateways sharing the database compare",
        "INSERT INTO hotline_flush (id, n) VALUES (2, 0);",
    ),
];

/// The newest version this gateway knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map(|(v, _, _)| *v).unwrap_or(0)
}

/// Brings the database to [`latest`]; returns the versions it applied (none when it was
/// current).
pub async fn migrate(client: &mut Client, namespace: &Namespace) -> Result<Vec<i32>> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| failure("begin the migration", e))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&MIGRATION_LOCK, &namespace.key()],
    )
    .await
    .map_err(|e| failure("wait for the migration lock", e))?;
    // The name is checked (a-z, 0-9, _), so it needs no quoting.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        namespace.schema()
    ))
    .await
    .map_err(|e| failure("create the schema", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hotline_schema (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(|e| failure("create hotline_schema", e))?;
    let row = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM hotline_schema", &[])
        .await
        .map_err(|e| failure("read the schema version", e))?;
    let current: i32 = row.get(0);
    if current > latest() {
        return Err(Error::Storage(format!(
            "the database's schema is at version {current}, newer than this gateway knows \
             ({}): it was written by a newer release; run that release or a newer one",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| failure(&format!("schema migration {version} ({name})"), e))?;
        tx.execute(
            "INSERT INTO hotline_schema (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(|e| failure("record the schema version", e))?;
        applied.push(*version);
    }
    tx.commit()
        .await
        .map_err(|e| failure("commit the migration", e))?;
    Ok(applied)
}
