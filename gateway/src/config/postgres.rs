//! The `[postgres]` table: where the gateway's store lives when `storage = "postgres"`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The default of [`PostgresConfig::pool_size`].
pub(crate) const DEFAULT_POOL_SIZE: usize = 4;

/// The connection to PostgreSQL (used only with `storage = "postgres"`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=verify-full&...]`; the
    /// environment variable `HOTLINE_POSTGRES_URL` keeps a password out of the config file.
    /// Plain TCP unless `sslmode` (require, verify-ca, verify-full) or `ca_cert` ask for TLS
    /// (README, "PostgreSQL").
    pub url: String,
    /// The PEM file of the CA that signed the server's certificate: connections use TLS and
    /// verify the certificate and the URL's host name against it. The URL's `sslrootcert`
    /// names it when this is unset.
    pub ca_cert: Option<PathBuf>,
    /// The schema the gateway's tables live in (made when missing): several federations can
    /// share one database, each in its own schema; the gateways of one federation name the same.
    pub schema: String,
    /// Connections for reads (1 to 64); writes have one connection of their own.
    pub pool_size: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            schema: "public".into(),
            pool_size: DEFAULT_POOL_SIZE,
            ca_cert: None,
        }
    }
}

/// Never prints the URL, which may hold a password.
impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &if self.url.is_empty() { "" } else { "(set)" })
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl PostgresConfig {
    /// Checks the table for `storage = "postgres"`; the error names the field and never
    /// repeats the URL.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: field.into(),
                problem,
            })
        };
        if self.url.is_empty() {
            return bad(
                "postgres.url",
                "must be set for storage = \"postgres\" (postgres://user@host:port/database, or \
                 the environment variable HOTLINE_POSTGRES_URL)"
                    .into(),
            );
        }
        if self
            .ca_cert
            .as_ref()
            .is_some_and(|path| path.as_os_str().is_empty())
        {
            return bad(
                "postgres.ca_cert",
                "empty: name the PEM file of the CA that signed the database server's \
                 certificate, or leave the field out (no TLS)"
                    .into(),
            );
        }
        // The URL and its TLS parameters, as the store will read them (the CA file is read
        // when the store connects, as the other certificate files are when they are used).
        crate::store::postgres::link::Link::plan(&self.url, self.ca_cert.as_deref())?;
        crate::store::postgres::Namespace::new(&self.schema)?;
        if !(1..=64).contains(&self.pool_size) {
            return bad(
                "postgres.pool_size",
                format!("{}: allowed are 1 to 64 connections", self.pool_size),
            );
        }
        Ok(())
    }
}
