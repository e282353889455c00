//! Repairs of a sled directory before it is opened, shared by the gateway and the adapters.

use std::path::Path;

/// Removes the snapshot files whose writing was interrupted (`snap.<lsn>.generating`), which
/// sled 0.34 would otherwise read as its newest snapshot when the process was killed while
/// writing one, and then refuse to open the store as corrupt (sled issues 1527 and 1533).
/// sled writes a snapshot under that name and renames it once it is complete and synced, and
/// removes older snapshots only after the rename, so the previous snapshot and the log still
/// hold everything. Returns how many were removed.
pub fn clear_interrupted_snapshots(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            tracing::warn!(file = %name, "removed a snapshot file whose writing was interrupted");
            removed += 1;
        }
    }
    Ok(removed)
}

/// Completes sled's flush so that it survives a power loss, not only a crash of the process.
///
/// sled 0.34 writes its log (the file `db` in the store's directory) with
/// `sync_file_range`: the bytes reach the device, but neither the file's metadata (its new
/// length) nor the device's write cache are flushed, so a power loss can take writes that
/// were acknowledged after the flush returned. [`LogSync::sync`] after each flush is an
/// `fdatasync` of that file, which flushes both. Items larger than a quarter of a segment
/// (128 KiB: a large value, or a tree node of many comments) sled writes to their own files
/// under `blobs/`, named by their log position, without syncing them; `sync` also syncs every
/// blob file it has not synced before, then the `blobs` directory.
///
/// A failed sync is final for this handle: the kernel reports a write-back error only once,
/// so a later sync would succeed although pages of the earlier flush never reached the disk.
/// Every later `sync` fails too, naming the first failure; the process must restart.
#[derive(Debug)]
pub struct LogSync {
    log: std::fs::File,
    blobs: std::path::PathBuf,
    /// The highest blob (by log position) already synced.
    synced_blob: std::sync::atomic::AtomicU64,
    /// The first failure, once a sync failed.
    failed: std::sync::OnceLock<String>,
}

impl LogSync {
    /// The sled log file of the store in `dir` (open it after sled opened the store, which
    /// creates the file); syncs the directory once, so the files sled created in it are
    /// durable too.
    pub fn open(dir: &Path) -> std::io::Result<LogSync> {
        let log = std::fs::File::open(dir.join("db"))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(LogSync {
            log,
            blobs: dir.join("blobs"),
            synced_blob: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::OnceLock::new(),
        })
    }

    /// Makes everything sled has flushed durable: `fdatasync` of its log file, and of blob
    /// files written since the last sync.
    pub fn sync(&self) -> std::io::Result<()> {
        if let Some(first) = self.failed.get() {
            return Err(std::io::Error::other(format!(
                "an earlier sync of the store failed ({first}); writes since may not be on \
                 disk: restart once the disk is healthy"
            )));
        }
        let synced = self.log.sync_data().and_then(|()| self.sync_blobs());
        if let Err(e) = &synced {
            let _first = self.failed.set(e.to_string());
        }
        synced
    }

    /// Syncs blob files above the highest one synced so far, then the `blobs` directory.
    fn sync_blobs(&self) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let floor = self.synced_blob.load(Ordering::Acquire);
        let mut highest = floor;
        for entry in entries {
            let entry = entry?;
            let Some(lsn) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u64>().ok())
            else {
                continue;
            };
            if lsn > floor {
                // sled removes a blob whose value was replaced or deleted; one gone between the
                // listing and the open needs no sync (CI saw this fail a flush once).
                match std::fs::File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                highest = highest.max(lsn);
            }
        }
        if highest > floor {
            std::fs::File::open(&self.blobs)?.sync_all()?;
            self.synced_blob.fetch_max(highest, Ordering::AcqRel);
        }
        Ok(())
    }
}

/// How long opening a sled store waits for its lock. A store closed a moment ago in this
/// process (a restart in place, a test reopening its store, a reopen after a failure) keeps
/// the lock until sled's background thread has stopped, which a loaded machine can delay.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// True when sled refused to open because another holder has the directory's lock.
pub fn lock_held(error: &impl std::fmt::Display) -> bool {
    error.to_string().contains("could not acquire lock")
}

/// Calls `open` again every 20 ms while `locked` says its outcome is a held lock, for at most
/// [`LOCK_WAIT`]; the last outcome otherwise. The gateway's and the adapter's store opens
/// share it.
pub fn retry_while_locked<R>(mut open: impl FnMut() -> R, locked: impl Fn(&R) -> bool) -> R {
    let started = std::time::Instant::now();
    loop {
        let outcome = open();
        if !locked(&outcome) || started.elapsed() >= LOCK_WAIT {
            return outcome;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log is looked for where sled keeps it; a directory without one is an error, not a
    /// sync that does nothing.
    #[test]
    fn log_sync_needs_the_sled_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = LogSync::open(dir.path()).expect_err("no log yet");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        std::fs::write(dir.path().join("db"), b"log").expect("write");
        let sync = LogSync::open(dir.path()).expect("open");
        sync.sync().expect("sync");
    }

    /// Blob files are synced once each, by their log position; a failed sync is final.
    #[test]
    fn log_sync_takes_new_blobs_and_a_failure_sticks() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db"), b"log").expect("write");
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).expect("blobs");
        std::fs::write(blobs.join("4096"), b"blob").expect("write");
        std::fs::write(blobs.join("not-a-blob"), b"?").expect("write");
        let sync = LogSync::open(dir.path()).expect("open");
        sync.sync().expect("sync");
        assert_eq!(sync.synced_blob.load(Ordering::Acquire), 4096);
        std::fs::write(blobs.join("8192"), b"blob").expect("write");
        sync.sync().expect("sync");
        assert_eq!(sync.synced_blob.load(Ordering::Acquire), 8192);
        // A blob gone between the listing and its open (here a dangling link) needs no sync.
        let gone = blobs.join("8500");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &gone).expect("link");
        sync.sync().expect("a blob removed meanwhile");
        std::fs::remove_file(&gone).expect("remove");
        // A blob that cannot be opened (here a link to itself) fails the sync, and every
        // later sync fails too, after the blob is gone.
        let broken = blobs.join("9000");
        std::os::unix::fs::symlink(&broken, &broken).expect("link");
        sync.sync().expect_err("the blob cannot be opened");
        std::fs::remove_file(&broken).expect("remove");
        let err = sync.sync().expect_err("a failure is final");
        assert!(err.to_string().contains("restart"), "{err}");
    }

    /// A held lock is tried again until it is free; any other outcome is returned at once.
    #[test]
    fn retries_only_while_the_lock_is_held() {
        let mut calls = 0;
        let outcome = retry_while_locked(
            || {
                calls += 1;
                if calls < 3 {
                    Err("could not acquire lock")
                } else {
                    Ok(calls)
                }
            },
            |outcome| matches!(outcome, Err(e) if lock_held(e)),
        );
        assert_eq!(outcome, Ok(3));
        let mut calls = 0;
        let outcome: Result<u32, &str> = retry_while_locked(
            || {
                calls += 1;
                Err("permission denied")
            },
            |outcome| matches!(outcome, Err(e) if lock_held(e)),
        );
        assert_eq!((outcome, calls), (Err("permission denied"), 1));
    }
}
