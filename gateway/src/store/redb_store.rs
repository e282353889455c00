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

/// Free space in the file below which an open never compacts it.
const COMPACT_SLACK_MIN: u64 = 16 << 20;

/// Whether a file of `file` bytes whose pages use `used` is worth compacting: more free than
/// used, and at least [`COMPACT_SLACK_MIN`] free. (redb grows its file by whole allocator
/// regions, so even a compacted file keeps some free space: one that small compaction cannot
/// shrink further, so an open does not compact it again and again.)
fn sparse(used: u64, file: u64) -> bool {
    file > used.saturating_mul(2) && file - used >= COMPACT_SLACK_MIN
}

/// Compacts the file at open when more of it is free than used. redb reuses free pages but
/// shrinks its file only by compaction, which needs the database to itself: at open, before
/// any reader or writer. The disk rule of BENCHMARKS.md (within 3 times the live data) counts
/// on it after a run with many restarts.
fn compact_if_sparse(db: &mut Database, path: &Path) -> Result<()> {
    let (used, file) = usage(db, path)?;
    if !sparse(used, file) {
        return Ok(());
    }
    // Compaction takes time in proportion to what it moves, and the gateway listens only
    // after it: say so first. A kill during it costs the next open a full repair, nothing more.
    tracing::info!(
        file_mib = file >> 20,
        used_mib = used >> 20,
        "compacting the redb store before the gateway listens"
    );
    let started = std::time::Instant::now();
    // redb repeats its passes until one moves nothing.
    db.compact().map_err(|e| storage("compact", e))?;
    let (_, after) = usage(db, path)?;
    tracing::info!(
        before_mib = file >> 20,
        after_mib = after >> 20,
        ms = started.elapsed().as_millis() as u64,
        "redb store compacted at open"
    );
    Ok(())
}

/// The bytes the store's allocated pages take, and the file's length.
fn usage(db: &Database, path: &Path) -> Result<(u64, u64)> {
    let tx = db.begin_write().map_err(|e| storage("begin", e))?;
    let stats = tx.stats().map_err(|e| storage("stats", e))?;
    tx.abort().map_err(|e| storage("abort", e))?;
    let used = stats.allocated_pages() * stats.page_size() as u64;
    let file = std::fs::metadata(path)
        .map_err(|e| Error::File {
            path: path.to_path_buf(),
            problem: format!("cannot read the store file's size: {e}"),
        })?
        .len();
    Ok((used, file))
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
mod tests {
    use super::*;

    fn put(batch: &mut Batch, key: &str, value: &str) {
        batch.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
    }

    fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
        entries
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    /// A batch's puts and deletes all take effect together, in order: the writer relies on an
    /// entity and its dedupe entry landing as one.
    #[test]
    fn a_batch_applies_its_puts_and_deletes_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        put(&mut batch, "a", "1");
        put(&mut batch, "b", "2");
        batch.delete(b"a".to_vec());
        put(&mut batch, "b", "3");
        store.apply(batch).expect("apply");
        assert_eq!(store.get(b"a").expect("get"), None);
        assert_eq!(store.get(b"b").expect("get"), Some(b"3".to_vec()));
    }

    /// Ranges come back in byte order, bounded by start (inclusive), end (exclusive) and the
    /// limit: the log and the views page through keys this way.
    #[test]
    fn range_is_ordered_bounded_and_limited() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        for key in ["k3", "k1", "k2", "k5", "k4", "j9", "l0"] {
            put(&mut batch, key, "v");
        }
        store.apply(batch).expect("apply");
        let all = store.range(b"k", b"l", usize::MAX).expect("range");
        assert_eq!(keys(&all), ["k1", "k2", "k3", "k4", "k5"]);
        let first_two = store.range(b"k", b"l", 2).expect("range");
        assert_eq!(keys(&first_two), ["k1", "k2"]);
        let from_k2 = store.range(b"k2", b"k4", usize::MAX).expect("range");
        assert_eq!(keys(&from_k2), ["k2", "k3"]);
        assert!(store.range(b"l", b"k", 10).expect("range").is_empty());
    }

    /// What was flushed is there after the store is closed and opened again: a restarted
    /// gateway finds every acknowledged write.
    #[test]
    fn reopening_keeps_flushed_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = RedbStore::open(dir.path()).expect("open");
            let mut batch = Batch::default();
            for i in 0..100 {
                put(&mut batch, &format!("key{i:03}"), &format!("value{i}"));
            }
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
        }
        let store = RedbStore::open(dir.path()).expect("reopen");
        assert_eq!(
            store
                .range(b"key", b"kez", usize::MAX)
                .expect("range")
                .len(),
            100
        );
        assert_eq!(
            store.get(b"key042").expect("get"),
            Some(b"value42".to_vec())
        );
    }

    /// `recover` reopens the file and keeps what was flushed, so the writer can go on after a
    /// failed group; the store then takes new batches.
    #[test]
    fn recover_reopens_with_the_flushed_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        put(&mut batch, "kept", "1");
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
        store.recover().expect("recover");
        assert_eq!(store.get(b"kept").expect("get"), Some(b"1".to_vec()));
        let mut batch = Batch::default();
        put(&mut batch, "after", "2");
        store.apply(batch).expect("apply after recover");
        store.flush().expect("flush after recover");
        assert_eq!(store.get(b"after").expect("get"), Some(b"2".to_vec()));
    }

    /// A copy of the file taken while the store is open is what a SIGKILL leaves behind: taken
    /// after `apply` it lacks the batch, taken after `flush` it has it. This is the property the
    /// writer's acknowledgement depends on (it acknowledges after `flush`), and it shows that
    /// `apply` alone writes nothing durable.
    #[test]
    fn only_flushed_batches_survive_a_kill() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        put(&mut batch, "durable", "1");
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
        let mut batch = Batch::default();
        put(&mut batch, "volatile", "2");
        store.apply(batch).expect("apply");
        assert_eq!(store.get(b"volatile").expect("get"), Some(b"2".to_vec()));

        let killed = |name: &str| {
            let copy = dir.path().join(name);
            std::fs::create_dir(&copy).expect("copy dir");
            std::fs::copy(dir.path().join(FILE_NAME), copy.join(FILE_NAME)).expect("copy");
            RedbStore::open(&copy).expect("open the copy")
        };
        let before_flush = killed("before-flush");
        assert_eq!(
            before_flush.get(b"durable").expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(before_flush.get(b"volatile").expect("get"), None);

        store.flush().expect("flush");
        let after_flush = killed("after-flush");
        assert_eq!(
            after_flush.get(b"volatile").expect("get"),
            Some(b"2".to_vec())
        );
    }

    /// Fills a store opened with `quick_repair`, copies its file while open (a kill), and
    /// opens the copy: whether redb had to repair the whole file.
    fn full_repair_after_kill(quick_repair: bool) -> bool {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open_with(dir.path(), 1 << 20, quick_repair).expect("open");
        for round in 0..3u32 {
            let mut batch = Batch::default();
            for i in 0..200u32 {
                put(&mut batch, &format!("{round}-{i:04}"), "some value");
            }
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
        }
        let copy = dir.path().join("killed");
        std::fs::create_dir(&copy).expect("copy dir");
        std::fs::copy(dir.path().join(FILE_NAME), copy.join(FILE_NAME)).expect("copy");
        let repaired = std::rc::Rc::new(std::cell::Cell::new(false));
        let seen = repaired.clone();
        let path = copy.join(FILE_NAME);
        let db = open_db_with(&path, 1 << 20, Compact::Never, quick_repair, move |_| {
            seen.set(true)
        })
        .expect("open the copy");
        let tx = db.begin_read().expect("read");
        let table = tx.open_table(TABLE).expect("table");
        let last = table.get(b"2-0199".as_slice()).expect("get");
        assert_eq!(
            last.map(|v| v.value().to_vec()),
            Some(b"some value".to_vec())
        );
        repaired.get()
    }

    /// With quick repair an open after a kill reads the allocator state back; without it (how
    /// the gateway opens its store), redb walks the whole file, which is what made the restart
    /// after a SIGKILL at 900,000 tickets take 23.6 s. The bench's comparison rests on this.
    #[test]
    fn quick_repair_spares_the_full_repair_after_a_kill() {
        assert!(
            !full_repair_after_kill(true),
            "a store flushed with quick repair was repaired in full after a kill"
        );
        assert!(
            full_repair_after_kill(false),
            "a store flushed without quick repair opened without a repair after a kill"
        );
    }

    /// A file left mostly free (most of what it held was deleted, the last records kept so the
    /// end of the file stays in use) is compacted at the next open, and keeps what it held.
    #[test]
    fn a_sparse_file_is_compacted_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FILE_NAME);
        let store = RedbStore::open(dir.path()).expect("open");
        let value = vec![7u8; 16 << 10];
        for round in 0..4 {
            let mut batch = Batch::default();
            for i in 0..1_000 {
                batch.put(format!("k{round}-{i:04}").into_bytes(), value.clone());
            }
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
        }
        let mut batch = Batch::default();
        for round in 0..3 {
            for i in 0..1_000 {
                batch.delete(format!("k{round}-{i:04}").into_bytes());
            }
        }
        store.apply(batch).expect("delete");
        store.flush().expect("flush");
        // redb releases what a commit freed at a later durable commit, as the writer's next
        // groups would.
        for i in 0..2 {
            let mut batch = Batch::default();
            put(&mut batch, "later", &i.to_string());
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
        }
        let db = store.db().expect("handle");
        let (used, file) = usage(&db, &path).expect("usage");
        drop(db);
        drop(store);
        assert!(
            sparse(used, file),
            "the test needs a sparse file: {file} bytes for {used} used"
        );

        let store = RedbStore::open(dir.path()).expect("reopen");
        let db = store.db().expect("handle");
        let (used_after, file_after) = usage(&db, &path).expect("usage");
        assert!(
            !sparse(used_after, file_after),
            "still sparse after open: {file_after} bytes for {used_after} used (was {file})"
        );
        assert!(file_after < file / 2, "{file_after} of {file}");
        let kept = store.range(b"k3-", b"k3.", usize::MAX).expect("range");
        assert_eq!(kept.len(), 1_000);
        assert!(kept.iter().all(|(_, v)| *v == value));
        assert_eq!(store.get(b"k0-0000").expect("get"), None);
    }
}
