//! Storage behind a narrow trait: one atomic batch write, point reads, ordered range scans and
//! a durable flush. [`redb_store::RedbStore`] is the default for a new store, sled
//! ([`sled_store::SledStore`]) stays selectable and keeps the stores it wrote ([`engine`]);
//! [`postgres::PostgresStore`] keeps the same key space in a PostgreSQL table;
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
pub mod postgres;
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
    /// True when each read is a round trip to a server (PostgreSQL): then reading what a
    /// writer group will need at once, with [`Store::get_many`] and [`Store::ranges`], pays.
    /// An embedded engine reads from its own pages; its callers read as they go.
    fn reads_are_round_trips(&self) -> bool {
        false
    }
    /// Reads several keys at once: each one's value, in the order asked. A store whose reads
    /// are round trips (PostgreSQL) answers in one; the embedded engines read one by one.
    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    /// Up to `limit` entries with `start <= key < end`, in key order.
    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Every entry of each of several ranges (`start..end`), in the order asked, each in key
    /// order. PostgreSQL answers in one round trip; the embedded engines range by range.
    fn ranges(&self, ranges: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Entries>> {
        ranges
            .iter()
            .map(|(start, end)| self.range(start, end, usize::MAX))
            .collect()
    }
    /// Makes every applied batch durable.
    fn flush(&self) -> Result<()>;
    /// Called after a failed `apply` or `flush`: drops whatever the store holds in memory and
    /// reads back what is durable, so the store works again once the cause (a full disk) is
    /// gone. The writer calls it before the next group and reloads its counters afterwards.
    fn recover(&self) -> Result<()> {
        Ok(())
    }

    /// Opens one of the writer's groups. A store several gateways write to (PostgreSQL) waits
    /// here for this gateway's turn, held until [`Store::end_group`], and answers whether
    /// another gateway wrote since this one's last group, so the writer reads its state again
    /// first. A store only this process writes answers `false` at once.
    fn begin_group(&self) -> Result<bool> {
        Ok(false)
    }

    /// Applies the writer's group batch within the turn [`Store::begin_group`] took (a store
    /// that lost the turn meanwhile refuses it).
    fn apply_group(&self, batch: Batch) -> Result<()> {
        self.apply(batch)
    }

    /// Ends the turn, after the group's flush or its failure.
    fn end_group(&self) {}

    /// For a store several gateways write to: changes each time another gateway's group is
    /// durable (the wake-up; the writer's next group finds out what it wrote). `None` for a
    /// store only this process writes.
    fn others_wrote(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Key and value pairs in key order, as a range read gives them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Pages through the keys `start..end`, at most `size` entries at a time (at least one). Each
/// page starts right after the last key of the one before, so no key is skipped or read twice
/// whatever the keys look like; a short page is the last. A clone reads on from where the
/// original stands.
#[derive(Clone, Debug)]
pub struct Pages {
    next: Option<Vec<u8>>,
    end: Vec<u8>,
    size: usize,
}

impl Pages {
    /// Pages of `size` entries over `start..end`.
    pub fn new(start: Vec<u8>, end: Vec<u8>, size: usize) -> Self {
        Pages {
            next: Some(start),
            end,
            size: size.max(1),
        }
    }

    /// The next page in key order; `None` after the last.
    pub fn next_page(&mut self, store: &dyn Store) -> Result<Option<Entries>> {
        let Some(start) = self.next.take() else {
            return Ok(None);
        };
        let page = store.range(&start, &self.end, self.size)?;
        if page.len() == self.size {
            if let Some((last, _)) = page.last() {
                let mut next = last.clone();
                next.push(0);
                self.next = Some(next);
            }
        }
        Ok(Some(page).filter(|p| !p.is_empty()))
    }
}

/// The live bytes of `store`: the lengths of every key and value it holds (entities, log,
/// dedupe, audit, ...), read a page at a time. What the disk rules of BENCHMARKS.md compare
/// the data directory's size with.
pub fn live_bytes(store: &dyn Store) -> Result<u64> {
    let mut pages = Pages::new(Vec::new(), vec![0xff; 16], 4096);
    let mut total = 0u64;
    while let Some(page) = pages.next_page(store)? {
        total += page
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>();
    }
    Ok(total)
}
