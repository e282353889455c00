//! Which storage backend the suite's gateways use: the default engine on disk, or PostgreSQL
//! when `HOTLINE_TEST_STORAGE=postgres` (then `HOTLINE_TEST_POSTGRES_URL` names a server the
//! tests may create databases on, as `.ci/run` provides). One test list, two backends: every
//! test that builds its gateway with [`crate::harness::federation_config`] runs on either.
//!
//! On PostgreSQL each data directory gets a database of its own, named after the directory's
//! path, so a test that restarts its gateway "on the same directory" finds its data again and
//! tests never share a database.

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
/// `data_dir`: `auto` on disk, or `postgres` with the directory's own database (created when
/// missing).
pub fn storage_for(data_dir: &Path) -> (String, PostgresConfig) {
    if !on_postgres() {
        return ("auto".into(), PostgresConfig::default());
    }
    let server = std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!("{STORAGE_VAR}=postgres needs {URL_VAR}, the URL of a server to create databases on")
    });
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("t_{name}");
    create_database(&server, &name);
    (
        "postgres".into(),
        PostgresConfig {
            url: to_url(&server, &name),
            ..PostgresConfig::default()
        },
    )
}

/// Opens the store of the (stopped) gateway whose data directory is `data_dir`, on the backend
/// the suite runs on, for tests that read or tamper with it directly.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let (storage, postgres) = storage_for(data_dir);
    if storage == "postgres" {
        return Ok(Arc::new(PostgresStore::open(&postgres.url, 1)?));
    }
    Ok(hotline_gateway::store::engine::open(&storage, data_dir, 8 << 20)?.1)
}

/// `server` with its database replaced by `name`.
fn to_url(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

/// Creates database `name` on `server` unless it exists. Runs on a thread of its own, since
/// callers may be inside a runtime that must not be blocked into another.
fn create_database(server: &str, name: &str) {
    let (server, name) = (server.to_string(), name.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the test server ({URL_VAR}): {e}"));
            tokio::spawn(connection);
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .expect("look the database up")
                .is_some();
            if !exists {
                // Two gateways of one directory may race here: the loser finds it made.
                if let Err(e) = client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                {
                    let made = client
                        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                        .await
                        .expect("look the database up")
                        .is_some();
                    assert!(made, "cannot create database {name}: {e}");
                }
            }
        });
    })
    .join()
    .expect("database creation");
}

#[cfg(test)]
mod tests {
    use super::to_url;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            to_url("postgres://u@127.0.0.1:5432/postgres", "t_1"),
            "postgres://u@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            to_url("postgres://u:p@h/postgres?connect_timeout=3", "t_2"),
            "postgres://u:p@h/t_2?connect_timeout=3"
        );
        assert_eq!(to_url("postgres://u@h", "t_3"), "postgres://u@h/t_3");
    }
}
