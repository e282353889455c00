//! The schema a store lives in and the names derived from it.

use crate::error::{Error, Result};

/// The schema a store lives in, and the names derived from it, so that several stores (several
/// federations, or the tests) share one database without sharing turns or wake-ups.
#[derive(Clone, Debug)]
pub struct Namespace {
    schema: String,
    key: i32,
}

impl Namespace {
    /// `schema`: 1 to 48 of a-z, 0-9 and `_`, starting with a letter or `_`.
    pub fn new(schema: &str) -> Result<Namespace> {
        let valid = (1..=48).contains(&schema.len())
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(Error::Config {
                field: "postgres.schema".into(),
                problem: format!(
                    "{schema:?}: allowed are 1 to 48 of a-z, 0-9 and _, not starting with a digit"
                ),
            });
        }
        // FNV-1a: stable across releases and machines, as the gateways sharing a schema must
        // agree on it.
        let hash = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Ok(Namespace {
            schema: schema.to_string(),
            key: i32::from_ne_bytes(hash.to_ne_bytes()),
        })
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The second key of this schema's advisory locks.
    pub fn key(&self) -> i32 {
        self.key
    }

    /// The channel this schema's flushes notify on.
    pub(super) fn channel(&self) -> String {
        format!("hotline_writes_{}", self.schema)
    }
}
