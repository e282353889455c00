//! Rewriting the store into a fresh file, so that bytes of records that were changed or
//! removed leave the disk's directory: redb reuses freed pages but does not clear them, and
//! its own compaction moves pages without clearing what it leaves behind (measured: an erased
//! marker string survived a delete, three rewrites and a compaction). An erasure asks for the
//! rewrite ([`keys::REWRITE_ASKED`] in the store); it runs when the store is next opened, before
//! the gateway listens: every live record is copied into `store.redb.new`, which is made
//! durable and then renamed over the old file (one atomic rename). A kill before the rename
//! leaves the old file and the marker, and the next open starts over; after it, the new file
//! holds everything but the marker.

use std::path::{Path, PathBuf};

use redb::Database;

use super::{TABLE, storage};
use crate::error::{Error, Result};
use crate::store::keys;

/// Records copied per write transaction.
const COPY_CHUNK: usize = 4096;

/// The file the rewrite builds next to `path`.
fn new_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Rewrites the store at `path` into a fresh file when it asks for it; answers whether it did.
pub(super) fn rewrite_if_asked(path: &Path, cache_bytes: u64) -> Result<bool> {
    let fresh = new_path(path);
    if fresh.exists() {
        // A rewrite a kill cut short: the old file is whole, start over.
        std::fs::remove_file(&fresh)
            .map_err(|e| file_error(&fresh, "remove the unfinished copy", &e))?;
    }
    if !path.exists() {
        return Ok(false);
    }
    let cache = usize::try_from(cache_bytes).unwrap_or(usize::MAX);
    let old = redb::Builder::new()
        .set_cache_size(cache)
        .create(path)
        .map_err(|e| storage("open for rewrite", e))?;
    let marker = keys::meta(keys::REWRITE_ASKED);
    {
        let tx = old.begin_read().map_err(|e| storage("begin", e))?;
        let table = match tx.open_table(TABLE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(storage("open table", e)),
        };
        if table
            .get(marker.as_slice())
            .map_err(|e| storage("get", e))?
            .is_none()
        {
            return Ok(false);
        }
    }
    let started = std::time::Instant::now();
    tracing::info!("rewriting the redb store into a fresh file (an erasure asked for it)");
    let new = redb::Builder::new()
        .set_cache_size(cache)
        .create(&fresh)
        .map_err(|e| file_error(&fresh, "create the copy", &e))?;
    let mut copied = 0u64;
    let mut from: Option<Vec<u8>> = None;
    loop {
        let chunk = read_chunk(&old, from.as_deref())?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        from = Some(last.clone());
        let tx = new.begin_write().map_err(|e| storage("begin", e))?;
        {
            let mut table = tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
            for (key, value) in &chunk {
                if *key != marker {
                    table
                        .insert(key.as_slice(), value.as_slice())
                        .map_err(|e| storage("insert", e))?;
                    copied += 1;
                }
            }
        }
        tx.commit().map_err(|e| storage("commit", e))?;
    }
    // The table exists even in a store of nothing but the marker.
    let tx = new.begin_write().map_err(|e| storage("begin", e))?;
    tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
    tx.commit().map_err(|e| storage("commit", e))?;
    drop(new);
    drop(old);
    std::fs::rename(&fresh, path).map_err(|e| file_error(path, "replace it with the copy", &e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| file_error(dir, "sync the directory", &e))?;
    }
    tracing::info!(
        records = copied,
        ms = started.elapsed().as_millis() as u64,
        "redb store rewritten"
    );
    Ok(true)
}

/// The records after `from` (from the first without it), at most [`COPY_CHUNK`].
fn read_chunk(db: &Database, from: Option<&[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let tx = db.begin_read().map_err(|e| storage("begin", e))?;
    let table = tx.open_table(TABLE).map_err(|e| storage("open table", e))?;
    let range = match from {
        Some(from) => {
            table.range::<&[u8]>((std::ops::Bound::Excluded(from), std::ops::Bound::Unbounded))
        }
        None => table.range::<&[u8]>(..),
    }
    .map_err(|e| storage("range", e))?;
    let mut out = Vec::with_capacity(COPY_CHUNK);
    for item in range.take(COPY_CHUNK) {
        let (key, value) = item.map_err(|e| storage("read", e))?;
        out.push((key.value().to_vec(), value.value().to_vec()));
    }
    Ok(out)
}

fn file_error(path: &Path, what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        problem: format!("rewriting the store: cannot {what}: {e}"),
    }
}
