//! The second embedded engine: one redb file (`store.redb`) in the gateway's data directory,
//! one table of byte keys and byte values.
//!
//! Durability: [`Store::apply`] commits its batch as one write transaction with
//! `Durability::None` (atomic and visible to readers at once, but not written to disk), and
//! [`Store::flush`] commits an empty transaction with `Durability::Immediate`, which writes and
//! fsyncs the newest root and with it every `None` commit before it. The writer applies a group
//! and flushes it before it acknowledges anything, so an acknowledged batch has been fsynced:
//! it survives a SIGKILL and a power loss. A batch applied but not yet flushed is lost by a
//! kill, which is allowed because nobody was told it was stored. We do not use `Immediate` per
//! batch because a group may in future hold several applies sharing one fsync, nor
//! `Eventual`, whose "some time after commit" would let an acknowledged batch vanish with the
//! power. redb frees pages only at durable commits, so the file grows between flushes; the
//! writer flushes every group, which keeps that bounded.
//!
//! Restart after a kill: redb walks the whole file to rebuild its allocator (a full repair;
//! 23.6 s at 900,000 tickets in the growth run of BENCHMARKS.md). redb's quick repair saves
//! the allocator's state with each durable commit instead, making it a two-phase commit; it is
//! measured by `hotline bench engines` ([`RedbStore::open_with`]) and not used: it cut commits
//! of one record 5.4x and of 256 records 1.5x, grew the file 1.5x, and halved the open after a
//! kill only at 100,000 records.
//!
//! Failure: after a failed commit or fsync the handle may hold state the disk lacks, so
//! [`Store::recover`] drops the database and opens the file again (redb repairs an uncleanly
//! closed file on open, back to its last durable commit).

use parking_lot::RwLock;
use redb::{Database, Durability, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod compact;
mod rewrite;

use self::compact::compact_if_sparse;
use super::{Batch, Store, Write};
use crate::error::{Error, Result};

/// The one table: every key of the gateway's ordered key space.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hotline");

/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "store.redb";

/// redb behind the [`Store`] trait.
#[derive(Debug)]
pub struct RedbStore {
    path: PathBuf,
    /// `None` after a failed reopen; the next operation tries to open the file again.
    db: RwLock<Option<Arc<Database>>>,
    /// Whether a batch was applied since the last flush (a flush without one skips the fsync).
    dirty: AtomicBool,
    /// The page cache redb is opened with, in bytes.
    cache_bytes: u64,
    /// Whether each flush saves redb's allocator state (quick repair, see [`RedbStore::flush`]).
    quick_repair: bool,
}

fn storage(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("redb {what}: {e}"))
}

/// Whether an open may compact the file: only the first open of a process, never the reopen
/// after a failure (a full disk, where compaction's own writes would fail too, and while the
/// writer waits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compact {
    IfSparse,
    Never,
}

/// Logs a full repair (a file closed uncleanly without the allocator state of quick repair)
/// each time redb reports its progress (when it begins and at a few steps after).
fn log_repair(session: &mut redb::RepairSession) {
    tracing::warn!(
        percent = (session.progress() * 100.0) as u32,
        "repairing the redb store (closed uncleanly): the whole file is read; the store answers \
         once the repair is done"
    );
}

fn open_db(path: &Path, cache_bytes: u64, compact: Compact, quick: bool) -> Result<Database> {
    open_db_with(path, cache_bytes, compact, quick, |_| {})
}

/// [`open_db`], with `repaired` called whenever redb reports progress of a full repair. With
/// `quick` the commit that makes sure the table exists uses quick repair too (a durable commit
/// without it drops the allocator state, so a kill before the first flush would need a full
/// repair); compaction's own commits do not, so a kill right after a compaction does.
fn open_db_with(
    path: &Path,
    cache_bytes: u64,
    compact: Compact,
    quick: bool,
    repaired: impl Fn(f64) + Clone + 'static,
) -> Result<Database> {
    let cache = usize::try_from(cache_bytes).unwrap_or(usize::MAX);
    let new = !path.exists();
    let create = || {
        let repaired = repaired.clone();
        redb::Builder::new()
            .set_cache_size(cache)
            .set_repair_callback(move |session| {
                repaired(session.progress());
                log_repair(session);
            })
            .create(path)
            .map_err(|e| Error::File {
                path: path.to_path_buf(),
                problem: format!(
                    "cannot open the redb store: {e} (a file that a crash left half-created \
                     before anything was stored can be moved away; an older store is restored \
                     from its backup)"
                ),
            })
    };
    let mut db = create()?;
    if new {
        // The new file's name must survive a power loss, or the next start would find the
        // directory without a store and begin an empty one.
        if let Some(dir) = path.parent() {
            let synced = std::fs::File::open(dir).and_then(|d| d.sync_all());
            synced.map_err(|e| Error::File {
                path: dir.to_path_buf(),
                problem: format!("cannot sync the data directory: {e}"),
            })?;
        }
    }
    // Create the table once, durably, so readers of a fresh store find it.
    let mut tx = db.begin_write().map_err(|e| storage("begin", e))?;
    tx.set_quick_repair(quick);
    tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
    tx.commit().map_err(|e| storage("commit", e))?;
    if compact == Compact::IfSparse {
        if let Err(e) = compact_if_sparse(&mut db, path) {
            // A failed compaction can leave the handle refusing every later operation (redb
            // marks it after an I/O error): drop it and open the file again, uncompacted. redb
            // compacts with durable commits, so the file holds the last one either way.
            tracing::warn!(error = %e, "the redb store could not be compacted at open; opened as it is");
            drop(db);
            db = create()?;
        }
    }
    Ok(db)
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`, with the default page cache
    /// ([`crate::config::DEFAULT_STORAGE_CACHE_MIB`]).
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, crate::config::DEFAULT_STORAGE_CACHE_MIB << 20)
    }

    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes` (redb's own
    /// default is 1 GiB; the gateway's memory bound counts on the configured one), without
    /// quick repair (see the module documentation).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self> {
        Self::open_with(dir, cache_bytes, false)
    }

    /// Like [`RedbStore::open_with_cache`], with quick repair on or off: on, each flush also
    /// saves redb's allocator state (a two-phase commit), so opening after a kill reads it back
    /// instead of walking the whole file to rebuild it. `hotline bench engines` measures both.
    pub fn open_with(dir: &Path, cache_bytes: u64, quick_repair: bool) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        rewrite::rewrite_if_asked(&path, cache_bytes)?;
        Ok(RedbStore {
            db: RwLock::new(Some(Arc::new(open_db(
                &path,
                cache_bytes,
                Compact::IfSparse,
                quick_repair,
            )?))),
            path,
            dirty: AtomicBool::new(false),
            cache_bytes,
            quick_repair,
        })
    }

    /// The current handle. After a failed reopen the file is opened again here, so readers do
    /// not depend on the next write to bring the store back.
    fn db(&self) -> Result<Arc<Database>> {
        if let Some(db) = self.db.read().clone() {
            return Ok(db);
        }
        let mut slot = self.db.write();
        if let Some(db) = slot.clone() {
            return Ok(db);
        }
        let db = Arc::new(
            open_db(
                &self.path,
                self.cache_bytes,
                Compact::Never,
                self.quick_repair,
            )
            .map_err(|e| {
                Error::Storage(format!(
                    "the store was closed after a failure and cannot be opened again yet: {e}"
                ))
            })?,
        );
        *slot = Some(db.clone());
        Ok(db)
    }
}

impl Store for RedbStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        let db = self.db()?;
        let mut tx = db.begin_write().map_err(|e| storage("begin", e))?;
        tx.set_durability(Durability::None);
        {
            let mut table = tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
            for write in &batch.writes {
                match write {
                    Write::Put(k, v) => {
                        table
                            .insert(k.as_slice(), v.as_slice())
                            .map_err(|e| storage("insert", e))?;
                    }
                    Write::Delete(k) => {
                        table
                            .remove(k.as_slice())
                            .map_err(|e| storage("remove", e))?;
                    }
                }
            }
        }
        // Dropping an uncommitted transaction (an error above) aborts the whole batch.
        tx.commit().map_err(|e| storage("commit", e))?;
        self.dirty.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let db = self.db()?;
        let tx = db.begin_read().map_err(|e| storage("begin read", e))?;
        let table = tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
        let value = table.get(key).map_err(|e| storage("get", e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let db = self.db()?;
        let tx = db.begin_read().map_err(|e| storage("begin read", e))?;
        let table = tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
        let entries = table.range(start..end).map_err(|e| storage("range", e))?;
        entries
            .take(limit)
            .map(|item| {
                item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                    .map_err(|e| storage("range", e))
            })
            .collect()
    }

    fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let db = self.db()?;
        let result = db
            .begin_write()
            .map_err(|e| storage("begin", e))
            .and_then(|mut tx| {
                tx.set_durability(Durability::Immediate);
                tx.set_quick_repair(self.quick_repair);
                tx.commit().map_err(|e| storage("durable commit", e))
            });
        if result.is_err() {
            // Still not durable: the next flush must try again.
            self.dirty.store(true, Ordering::SeqCst);
        }
        result
    }

    fn recover(&self) -> Result<()> {
        let mut slot = self.db.write();
        // The old handle must be gone before the file is opened again: redb locks it. A reader
        // holding a clone for a moment makes this attempt fail; the next one works.
        drop(slot.take());
        let db = open_db(
            &self.path,
            self.cache_bytes,
            Compact::Never,
            self.quick_repair,
        )
        .map_err(|e| Error::Storage(e.to_string()))?;
        *slot = Some(Arc::new(db));
        self.dirty.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
