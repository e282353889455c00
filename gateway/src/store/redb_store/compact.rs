//! Compaction at open: redb reuses free pages but shrinks its file only by compaction, which
//! needs the database to itself, so the first open of a process compacts a file that is more
//! free than used.

use redb::Database;
use std::path::Path;

use super::storage;
use crate::error::{Error, Result};

/// Free space in the file below which an open never compacts it.
pub(super) const COMPACT_SLACK_MIN: u64 = 16 << 20;

/// Whether a file of `file` bytes whose pages use `used` is worth compacting: more free than
/// used, and at least [`COMPACT_SLACK_MIN`] free. (redb grows its file by whole allocator
/// regions, so even a compacted file keeps some free space: one that small compaction cannot
/// shrink further, so an open does not compact it again and again.)
pub(super) fn sparse(used: u64, file: u64) -> bool {
    file > used.saturating_mul(2) && file - used >= COMPACT_SLACK_MIN
}

/// Compacts the file at open when more of it is free than used. redb reuses free pages but
/// shrinks its file only by compaction, which needs the database to itself: at open, before
/// any reader or writer. The disk rule of BENCHMARKS.md (within 3 times the live data) counts
/// on it after a run with many restarts.
pub(super) fn compact_if_sparse(db: &mut Database, path: &Path) -> Result<()> {
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
pub(super) fn usage(db: &Database, path: &Path) -> Result<(u64, u64)> {
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
