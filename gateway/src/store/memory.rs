//! An in-memory [`Store`] for deterministic tests: a `BTreeMap` behind a mutex, with the same
//! batch and range semantics as sled. It can be told to fail, to test "disk full" paths.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Batch, Store, Write};
use crate::error::{Error, Result};

/// A store that lives and dies with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    failing: AtomicBool,
    failing_flushes: AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later write fail (as a full disk would) until called with `false`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes every later flush fail until called with `false`, while batches still apply and
    /// stay (a store that could not sync what it was given, as sled and redb keep a failed
    /// group's batch in memory).
    pub fn set_failing_flushes(&self, failing: bool) {
        self.failing_flushes.store(failing, Ordering::SeqCst);
    }

    fn map(&self) -> parking_lot::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding the lock leaves a consistent map (batches apply after checks).
        self.map.lock()
    }
}

impl Store for MemoryStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::Storage(
                "memory store set to fail (simulated full disk)".into(),
            ));
        }
        let mut map = self.map();
        for write in batch.writes {
            match write {
                Write::Put(k, v) => {
                    map.insert(k, v);
                }
                Write::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map().get(key).cloned())
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self
            .map()
            .range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn flush(&self) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) || self.failing_flushes.load(Ordering::SeqCst) {
            return Err(Error::Storage(
                "memory store set to fail (simulated full disk)".into(),
            ));
        }
        Ok(())
    }
}
