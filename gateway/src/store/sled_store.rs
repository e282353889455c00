//! The default [`Store`]: one sled tree in the gateway's data directory.
//!
//! Durability: `flush` makes every applied batch durable with sled's flush, which on Linux uses
//! `sync_file_range`. That survives a crash of the process, not every power loss (DESIGN.md
//! section 8).

use std::path::Path;

use super::{Batch, Store, Write};
use crate::error::{Error, Result};

/// sled behind the [`Store`] trait.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|e| Error::File {
                path: dir.to_path_buf(),
                problem: format!("cannot open the sled store: {e}"),
            })?;
        Ok(SledStore { db })
    }
}

impl Store for SledStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        let mut sled_batch = sled::Batch::default();
        for write in batch.writes {
            match write {
                Write::Put(k, v) => sled_batch.insert(k, v),
                Write::Delete(k) => sled_batch.remove(k),
            }
        }
        self.db.apply_batch(sled_batch).map_err(storage)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key).map_err(storage)?.map(|v| v.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.db
            .range(start..end)
            .take(limit)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(storage))
            .collect()
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(storage)
    }
}
