//! Storage behind a narrow trait: one atomic batch write, point reads, ordered range scans and
//! a durable flush. [`redb_store::RedbStore`] is the default for a new store, sled
//! ([`sled_store::SledStore`]) stays selectable and keeps the stores it wrote ([`engine`]);
//! [`memory::MemoryStore`] is the deterministic double.
//!
//! Everything lives in one ordered key space; the first byte of a key says what it is (see
//! [`keys`]). One batch can therefore hold an entity, its dedupe entry, its log entry and the
//! counters together, and applies atomically.

pub mod engine;
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

/// The live bytes of `store`: the lengths of every key and value it holds (entities, log,
/// dedupe, audit, ...), read a chunk at a time. What the disk rules of BENCHMARKS.md compare
/// the data directory's size with.
pub fn live_bytes(store: &dyn Store) -> Result<u64> {
    const CHUNK: usize = 4096;
    let end = [0xff; 16];
    let mut start = Vec::new();
    let mut total = 0u64;
    loop {
        let chunk = store.range(&start, &end, CHUNK)?;
        total += chunk
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>();
        match chunk.last() {
            Some((last, _)) if chunk.len() == CHUNK => {
                start = last.clone();
                start.push(0);
            }
            _ => return Ok(total),
        }
    }
}
