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
