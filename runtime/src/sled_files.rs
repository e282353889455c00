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
