//! Storage behind a narrow trait: one atomic batch write, point reads, ordered range scans and
//! a durable flush. sled is the default, [`redb_store::RedbStore`] the alternative engine;
//! [`memory::MemoryStore`] is the deterministic double.
//!
//! Everything lives in one ordered key space; the first byte of a key says what it is (see
//! [`keys`]). One batch can therefore hold an entity, its dedupe entry, its log entry and the
//! counters together, and applies atomically.

pub mod entities;
pub mod keys;
pub mod layout;
pub mod memory;
pub mod redb_store;
pub mod sled_store;

use crate::error::Result;

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Delete(Vec<u8>),
}

/// Writes that apply together or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes, applied in order.
    pub writes: Vec<Write>,
}

impl Batch {
    /// Adds a put.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write::Put(key, value));
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.push(Write::Delete(key));
    }

    /// True when the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// The gateway's storage.
pub trait Store: Send + Sync + 'static {
    /// Applies a batch atomically (not yet durable: see [`Store::flush`]).
    fn apply(&self, batch: Batch) -> Result<()>;
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries with `start <= key < end`, in key order.
    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Makes every applied batch durable.
    fn flush(&self) -> Result<()>;
    /// Called after a failed `apply` or `flush`: drops whatever the store holds in memory and
    /// reads back what is durable, so the store works again once the cause (a full disk) is
    /// gone. The writer calls it before the next group and reloads its counters afterwards.
    fn recover(&self) -> Result<()> {
        Ok(())
    }
}
