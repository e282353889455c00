//! The default [`Store`]: one sled tree in the gateway's data directory.
//!
//! Durability: `flush` makes every applied batch durable: sled's flush (which on Linux writes
//! with `sync_file_range`, enough for a crash of the process) followed by an `fdatasync` of
//! sled's log file ([`LogSync`]), so an acknowledged change also survives a power loss.
//!
//! Failure: once sled fails a write (a full disk, an I/O error) it refuses every later
//! operation of that handle, and its memory may hold batches that never reached the disk.
//! [`Store::recover`] therefore drops the handle and opens the directory again, which reads
//! back exactly what the disk holds.

use parking_lot::RwLock;
use std::path::{Path, PathBuf};

use super::{Batch, Store, Write};
use crate::error::{Error, Result};

/// sled behind the [`Store`] trait.
#[derive(Debug)]
pub struct SledStore {
    dir: PathBuf,
    /// The page cache sled is opened with, in bytes.
    cache_bytes: u64,
    /// `None` after a failed reopen; the next operation tries to open the directory again.
    db: RwLock<Option<sled::Db>>,
    /// sled's log file, synced after each flush (a reopen keeps using the same file).
    log: LogSync,
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

use hotline_runtime::sled_files::{
    LOCK_WAIT, LogSync, clear_interrupted_snapshots, lock_held, retry_while_locked,
};

fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db> {
    clear_interrupted_snapshots(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        problem: format!("cannot remove an interrupted snapshot file: {e}"),
    })?;
    let opened = retry_while_locked(
        || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                .open()
        },
        |opened| matches!(opened, Err(sled::Error::Io(e)) if lock_held(e)),
    );
    match opened {
        Ok(db) => Ok(db),
        Err(sled::Error::Io(e)) if lock_held(&e) => Err(Error::File {
            path: dir.to_path_buf(),
            problem: format!(
                "another process holds the store's lock (is a gateway running on this data \
                 directory?); waited {} s: {e}",
                LOCK_WAIT.as_secs()
            ),
        }),
        Err(e) => Err(Error::File {
            path: dir.to_path_buf(),
            problem: format!("cannot open the sled store: {e}"),
        }),
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, with the default page cache
    /// ([`crate::config::DEFAULT_STORAGE_CACHE_MIB`]).
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, crate::config::DEFAULT_STORAGE_CACHE_MIB << 20)
    }

    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self> {
        // After an erasure the store asks to be copied into fresh files, so the old bytes of
        // rewritten records leave the directory (sled keeps them in its log segments).
        let open = |path: &Path| {
            open_db(path, cache_bytes).map_err(|e| std::io::Error::other(e.to_string()))
        };
        let request = super::keys::meta(super::keys::REWRITE_ASKED);
        hotline_runtime::sled_rewrite::rewrite_if_asked(dir, &open, &request).map_err(|e| {
            Error::File {
                path: dir.to_path_buf(),
                problem: format!("rewriting the store after an erasure: {e}"),
            }
        })?;
        let db = open_db(dir, cache_bytes)?;
        let log = LogSync::open(dir).map_err(|e| Error::File {
            path: dir.join("db"),
            problem: format!("cannot open sled's log file to sync it: {e}"),
        })?;
        Ok(SledStore {
            dir: dir.to_path_buf(),
            cache_bytes,
            db: RwLock::new(Some(db)),
            log,
        })
    }

    /// The current handle (a cheap clone). After a failed reopen the directory is opened again
    /// here, so readers do not depend on the next write to bring the store back.
    fn db(&self) -> Result<sled::Db> {
        if let Some(db) = self.db.read().clone() {
            return Ok(db);
        }
        let mut slot = self.db.write();
        if let Some(db) = slot.clone() {
            return Ok(db);
        }
        let db = open_db(&self.dir, self.cache_bytes).map_err(|e| {
            Error::Storage(format!(
                "the store was closed after a failure and cannot be opened again yet: {e}"
            ))
        })?;
        *slot = Some(db.clone());
        Ok(db)
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
        self.db()?.apply_batch(sled_batch).map_err(storage)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db()?.get(key).map_err(storage)?.map(|v| v.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.db()?
            .range(start..end)
            .take(limit)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(storage))
            .collect()
    }

    fn flush(&self) -> Result<()> {
        self.db()?.flush().map_err(storage)?;
        self.log
            .sync()
            .map_err(|e| Error::Storage(format!("cannot sync sled's log file: {e}")))
    }

    fn recover(&self) -> Result<()> {
        let mut slot = self.db.write();
        // The old handle must be gone before the directory is opened again: sled locks it.
        // A reader holding a clone for a moment makes this attempt fail; the next one works.
        drop(slot.take());
        let db = open_db(&self.dir, self.cache_bytes).map_err(|e| Error::Storage(e.to_string()))?;
        *slot = Some(db);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store held open elsewhere is refused after the wait with a message naming the lock,
    /// and opens at once when the holder lets go during the wait.
    #[test]
    fn a_held_lock_is_waited_for_then_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let holder = SledStore::open(dir.path()).expect("first open");
        let err = SledStore::open(dir.path()).expect_err("the lock is held");
        assert!(err.to_string().contains("holds the store's lock"), "{err}");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(holder);
        });
        SledStore::open(dir.path()).expect("opens once the holder closes");
        releaser.join().expect("releaser");
    }

    /// A store whose process was killed while sled wrote a snapshot (a truncated
    /// `snap.*.generating` file with the newest position) opens with everything it held;
    /// without the clean-up sled refuses it as corrupt.
    #[test]
    fn interrupted_snapshot_does_not_stop_the_store_from_opening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let db = sled::Config::new().path(dir.path()).open().expect("open");
            for i in 0u32..1000 {
                db.insert(i.to_be_bytes(), b"value".to_vec())
                    .expect("insert");
            }
            db.flush().expect("flush");
        }
        std::fs::write(
            dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"),
            vec![7u8; 4096],
        )
        .expect("write the interrupted snapshot");
        // sled lets go of its lock a moment after drop, once its background thread stops.
        let plain = loop {
            match sled::Config::new().path(dir.path()).open() {
                Err(sled::Error::Io(e)) if e.to_string().contains("lock") => {
                    std::thread::yield_now();
                }
                other => break other,
            }
        };
        assert!(
            matches!(plain, Err(sled::Error::Corruption { .. })),
            "sled itself opened the store, so the clean-up is not needed: {plain:?}"
        );
        let store = SledStore::open(dir.path()).expect("open with the clean-up");
        let db = store.db().expect("handle");
        assert_eq!(db.len(), 1000);
        assert!(!dir.path().join("snap.7FFFFFFFFFFFFFFF.generating").exists());
    }

    /// Every byte under `dir`, concatenated.
    fn bytes_under(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("list") {
                    stack.push(entry.expect("entry").path());
                }
            } else {
                out.extend(std::fs::read(&path).expect("read"));
            }
        }
        out
    }

    /// A gateway on sled after an erasure: the store asks for the rewrite, and at the next
    /// open no byte of its directory holds a value that was overwritten and deleted (sled kept
    /// it in its log before), while the live records are all there.
    #[test]
    fn an_erasure_rewrite_leaves_no_old_bytes() {
        const OLD: &[u8] = b"Erika Mustermann, old contact value";
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("gateway");
        {
            let store = SledStore::open(&dir).expect("open");
            let mut batch = Batch::default();
            batch.put(b"ekeep".to_vec(), b"live record".to_vec());
            batch.put(b"eperson".to_vec(), OLD.to_vec());
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
            let mut batch = Batch::default();
            batch.delete(b"eperson".to_vec());
            batch.put(
                super::super::keys::meta(super::super::keys::REWRITE_ASKED),
                1u64.to_be_bytes().to_vec(),
            );
            store.apply(batch).expect("apply");
            store.flush().expect("flush");
        }
        let held = |bytes: &[u8]| bytes.windows(OLD.len()).any(|w| w == OLD);
        assert!(
            held(&bytes_under(&dir)),
            "sled kept the old bytes: the test shows something"
        );
        let store = SledStore::open(&dir).expect("reopen, rewriting");
        assert_eq!(
            store.get(b"ekeep").expect("read"),
            Some(b"live record".to_vec())
        );
        assert_eq!(store.get(b"eperson").expect("read"), None);
        assert_eq!(
            store
                .get(&super::super::keys::meta(super::super::keys::REWRITE_ASKED))
                .expect("read"),
            None,
            "asked no more"
        );
        drop(store);
        assert!(
            !held(&bytes_under(&dir)),
            "old bytes left after the rewrite"
        );
        assert!(!root.path().join("gateway.rewrite").exists());
        assert!(!root.path().join("gateway.old").exists());
    }
}
