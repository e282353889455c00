//! The local writer's group as one sled batch.
//!
//! Why: every `apply_batch` of sled 0.34 seals its log buffer twice (before and after the
//! batch's manifest, `PageCache::pin_log`), and each sealed buffer is written by sled's I/O
//! pool with a `pwrite` and a waiting `sync_file_range`, whether or not a flush follows. One
//! batch per create therefore cost the adapter two disk writes per create on that pool, however
//! many creates shared the flush (BENCHMARKS.md, "The adapter's group as one batch").
//!
//! How: while the writer holds the local lock for a group, [`Replica::apply`] adds each
//! step's writes to the stage (the group's [`Writes`]) instead of to sled and reserves the
//! step's place in the group commit ([`super::group`]); the steps read what the steps before
//! them staged through [`Overlay`], so numbers, counters and entities go on from one step to
//! the next exactly as if each had been applied. [`Replica::apply_stage`] then applies the
//! whole group as one batch, still under the lock, and only then are the places counted as
//! applied, so no flush made meanwhile (the outbox push, the webhook deliverer) can count a
//! staged step as durable.
//!
//! A group is now atomic as a whole: a crash before its flush loses the whole group, as it
//! could lose any of its steps before, and none of them was acknowledged. A batch sled refuses
//! fails every step of the group, each answered with the error.
//!
//! Only readers under the local lock see the stage (the steps' own reads); every other reader
//! (the API's reads, the outbox push, webhooks) reads sled and sees a group once it is applied.

use std::collections::BTreeMap;

use sled::IVec;

use super::Replica;
use super::step::{Writes, batch_of};
use crate::error::{Error, Result};

/// What a step reads: sled, or sled under the writes of the group staged so far.
pub(super) trait Source {
    /// The value of `key`.
    fn read(&self, key: &[u8]) -> Result<Option<IVec>>;
    /// Every key and value under `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Result<Vec<(IVec, IVec)>>;
}

impl Source for sled::Db {
    fn read(&self, key: &[u8]) -> Result<Option<IVec>> {
        Ok(self.get(key)?)
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        Ok(self.scan_prefix(prefix).collect::<sled::Result<_>>()?)
    }
}

/// sled as the steps of a group see it: what the steps before staged, over what is stored.
pub(super) struct Overlay<'a> {
    db: &'a sled::Db,
    stage: Option<&'a Writes>,
}

impl<'a> Overlay<'a> {
    /// sled under `stage` (plain sled when there is none: no group is being staged).
    pub(super) fn new(db: &'a sled::Db, stage: Option<&'a Writes>) -> Self {
        Overlay { db, stage }
    }
}

impl Source for Overlay<'_> {
    fn read(&self, key: &[u8]) -> Result<Option<IVec>> {
        match self.stage.and_then(|stage| stage.get(key)) {
            Some(staged) => Ok(staged.as_deref().map(IVec::from)),
            None => self.db.read(key),
        }
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<(IVec, IVec)>> {
        let stored = self.db.scan(prefix)?;
        let Some(stage) = self.stage else {
            return Ok(stored);
        };
        let mut staged = stage
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .peekable();
        if staged.peek().is_none() {
            return Ok(stored);
        }
        let mut merged: BTreeMap<IVec, IVec> = stored.into_iter().collect();
        for (key, value) in staged {
            match value {
                Some(value) => {
                    merged.insert(IVec::from(key.as_slice()), IVec::from(value.as_slice()))
                }
                None => merged.remove(key.as_slice()),
            };
        }
        Ok(merged.into_iter().collect())
    }
}

impl Replica {
    /// Runs `read` on the store as the current step sees it: under the staged group when the
    /// writer stages one (call with the local lock held), else plain sled. `read` must not
    /// call back into the store's staged reads.
    pub(super) fn staged<T>(&self, read: impl FnOnce(&Overlay<'_>) -> Result<T>) -> Result<T> {
        let stage = self.stage.lock();
        read(&Overlay::new(&self.db, stage.as_ref()))
    }

    /// Starts staging the writer's group (call with the local lock held, before its first
    /// step): steps applied until [`Replica::apply_stage`] are staged, not written.
    pub(super) fn begin_stage(&self) {
        let mut stage = self.stage.lock();
        debug_assert!(stage.is_none(), "a group was staged inside another");
        *stage = Some(Writes::new());
    }

    /// Applies the staged group as one batch (still under the local lock) and counts its steps
    /// as applied in the group commit. When sled refuses the batch, nothing of the group is
    /// stored and its reserved places are given up: the caller answers each step with the error.
    pub(super) fn apply_stage(&self) -> Result<()> {
        let Some(writes) = self.stage.lock().take() else {
            return Ok(());
        };
        if writes.is_empty() {
            self.group.commit_reserved();
            return Ok(());
        }
        #[cfg(test)]
        if self
            .failing_applies
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.group.give_up_reserved();
            return Err(Error::Storage(
                "injected: the store refused the group's batch".into(),
            ));
        }
        match self.db.apply_batch(batch_of(writes)) {
            Ok(()) => {
                self.group.commit_reserved();
                Ok(())
            }
            Err(e) => {
                self.group.give_up_reserved();
                Err(Error::Storage(format!(
                    "the store refused the batch of this write's group, so none of its writes \
                     was stored: {e}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay reads a staged write over the stored value, hides a staged removal, adds a
    /// staged key to a scan in key order, and leaves keys outside the prefix out.
    #[test]
    fn the_overlay_reads_staged_writes_over_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        for key in ["n1", "n3", "n5", "o1"] {
            db.insert(key, key.as_bytes()).expect("insert");
        }
        let mut writes = Writes::new();
        writes.insert(b"n3".to_vec(), Some(b"staged".to_vec()));
        writes.insert(b"n4".to_vec(), Some(b"new".to_vec()));
        writes.insert(b"n5".to_vec(), None);
        writes.insert(b"p1".to_vec(), Some(b"other".to_vec()));
        let overlay = Overlay::new(&db, Some(&writes));
        let read = |key: &str| {
            overlay
                .read(key.as_bytes())
                .expect("read")
                .map(|v| v.to_vec())
        };
        assert_eq!(read("n1"), Some(b"n1".to_vec()));
        assert_eq!(read("n3"), Some(b"staged".to_vec()));
        assert_eq!(read("n5"), None);
        assert_eq!(read("n4"), Some(b"new".to_vec()));
        let scanned: Vec<(Vec<u8>, Vec<u8>)> = overlay
            .scan(b"n")
            .expect("scan")
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = [("n1", "n1"), ("n3", "staged"), ("n4", "new")]
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(scanned, expected);
        // Without a stage it is the store.
        let plain = Overlay::new(&db, None);
        assert_eq!(plain.scan(b"n").expect("scan").len(), 3);
        assert_eq!(plain.read(b"n4").expect("read"), None);
    }
}
