//! Which storage backend the suite's gateways use: the default engine on disk, or PostgreSQL
//! when `HOTLINE_TEST_STORAGE=postgres` (then `HOTLINE_TEST_POSTGRES_URL` names a database
//! the tests may create schemas in, as `.ci/run` provides). One test list, two backends: every
//! test that builds its gateway with [`crate::harness::federation_config`] runs on either.
//!
//! On PostgreSQL each data directory gets a schema of its own in the server's database, named
//! after the directory's path (`postgres.schema`), so a test that restarts its gateway "on the
//! same directory" finds its data again and tests never share a store, a writer's turn or a
//! wake-up; schemas cost a few catalog rows where a database per test cost 8 MB each.

use std::path::Path;
use std::sync::Arc;

use hotline_gateway::config::PostgresConfig;
use hotline_gateway::store::Store;
use hotline_gateway::store::postgres::PostgresStore;
use sha2::{Digest, Sha256};

/// The variable that chooses the backend: `postgres`, or unset for the default engine.
pub const STORAGE_VAR: &str = "HOTLINE_TEST_STORAGE";
/// The variable naming the PostgreSQL server (a URL of any database on it).
pub const URL_VAR: &str = "HOTLINE_TEST_POSTGRES_URL";

/// True when the suite runs its gateways on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(STORAGE_VAR).is_ok_and(|v| v == "postgres")
}

/// The `storage` value and `[postgres]` table for a gateway whose data directory is
/// `data_dir`: `auto` on disk, or `postgres` with the directory's own schema (the gateway makes
/// it).
pub fn storage_for(data_dir: &Path) -> (String, PostgresConfig) {
    if !on_postgres() {
        return ("auto".into(), PostgresConfig::default());
    }
    let server = std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!("{STORAGE_VAR}=postgres needs {URL_VAR}, the URL of a database to create schemas in")
    });
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    (
        "postgres".into(),
        PostgresConfig {
            url: server,
            schema: format!("t_{name}"),
            ..PostgresConfig::default()
        },
    )
}

/// Opens the store of the (stopped) gateway whose data directory is `data_dir`, on the backend
/// the suite runs on, for tests that read or tamper with it directly.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let (storage, postgres) = storage_for(data_dir);
    if storage == "postgres" {
        return Ok(Arc::new(PostgresStore::open_in(
            &postgres.url,
            &postgres.schema,
            1,
        )?));
    }
    Ok(hotline_gateway::store::engine::open(&storage, data_dir, 8 << 20)?.1)
}
