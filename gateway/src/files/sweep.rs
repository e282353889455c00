//! The sweep of expired uploads and unnamed files, and the count of stored files.

use super::refs::{drop_file, puts_under};
use super::*;

/// The deletions of the sweep at `now`: unfinished uploads untouched for [`UPLOAD_TTL_MS`],
/// and whole files no comment names whose last upload or status answer is older than
/// [`UNNAMED_GRACE_MS`].
pub fn sweep(store: &dyn Store, now: u64, sites: &[String], pending: &Batch) -> Result<Batch> {
    let mut batch = Batch::default();
    let (start, end) = keys::prefix_range(keys::UPLOAD);
    for (key, raw) in store.range(&start, &end, usize::MAX)? {
        let Ok(up) = decode_upload(&raw) else {
            tracing::warn!(key = ?key, "an unreadable upload record; the sweep leaves it");
            continue;
        };
        if now.saturating_sub(up.updated_at_ms) >= UPLOAD_TTL_MS {
            if let Some((site, digest)) = keys::parse_upload_meta(&key) {
                drop_upload(store, &mut batch, &digest, &site)?;
            }
        }
    }
    let (start, end) = keys::prefix_range(keys::FILE);
    for (key, raw) in store.range(&start, &end, usize::MAX)? {
        let Ok(digest) = <[u8; 32]>::try_from(&key[1..]) else {
            continue;
        };
        let Ok(meta) = decode_meta(&raw) else {
            tracing::warn!(key = ?key, "an unreadable file record; the sweep leaves it");
            continue;
        };
        let refs = keys::file_prefix(keys::FILE_REF, &digest);
        if !store.range(&refs, &keys::prefix_end(&refs), 1)?.is_empty()
            || puts_under(pending, &refs)
        {
            continue;
        }
        let holders = keys::file_prefix(keys::FILE_HOLDER, &digest);
        let newest = store
            .range(&holders, &keys::prefix_end(&holders), usize::MAX)?
            .iter()
            .filter_map(|(_, at)| read_u64(at, 0))
            .max()
            .unwrap_or(0)
            .max(meta.stored_at_ms);
        if now.saturating_sub(newest) >= UNNAMED_GRACE_MS {
            drop_file(store, &mut batch, &digest, sites)?;
        }
    }
    Ok(batch)
}

/// Runs the sweep every ten minutes until `stop`.
pub fn spawn_sweeper(state: Arc<GatewayState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match state.writer.sweep_files().await {
                Ok(false) => {}
                Ok(true) => tracing::info!("file sweep deleted expired uploads or unnamed files"),
                Err(error) => tracing::warn!(%error, "file sweep failed"),
            }
        }
    })
}

/// How many files the store holds and their bytes (one copy each), read a page of records at
/// a time: the gauges count them every minute, whatever the number of files.
pub fn stored(store: &dyn Store) -> Result<(u64, u64)> {
    let (start, end) = keys::prefix_range(keys::FILE);
    let mut pages = crate::store::Pages::new(start, end, 512);
    let mut files = 0;
    let mut bytes = 0;
    while let Some(page) = pages.next_page(store)? {
        for (_, raw) in page {
            files += 1;
            bytes += decode_meta(&raw)?.size;
        }
    }
    Ok((files, bytes))
}
