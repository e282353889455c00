//! The sweep of expired uploads and unnamed files, and the count of stored files.

use super::refs::{drop_file, puts_under};
use super::*;

/// What the sweep at `now` may delete, found by a pass over every upload and file record
/// made outside the writer (a page at a time): each is checked again in the writer
/// ([`sweep_these`]), so the writer's share grows with what goes, not with what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Unfinished uploads untouched for [`UPLOAD_TTL_MS`]: `(site, digest)`.
    pub uploads: Vec<(String, [u8; 32])>,
    /// Whole files no comment named when the pass read them, past [`UNNAMED_GRACE_MS`].
    pub files: Vec<[u8; 32]>,
}

/// Candidates the writer checks in one job of the sweep.
const SWEEP_PART: usize = 64;

impl Candidates {
    /// True when there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.files.is_empty()
    }

    /// The candidates split in parts of at most `size` (at least one) uploads and files
    /// together, in their order; none when there are none.
    pub fn in_parts(self, size: usize) -> Vec<Candidates> {
        let size = size.max(1);
        let mut parts = Vec::new();
        let mut part = Candidates::default();
        let full = |part: &Candidates| part.uploads.len() + part.files.len() >= size;
        for upload in self.uploads {
            part.uploads.push(upload);
            if full(&part) {
                parts.push(std::mem::take(&mut part));
            }
        }
        for file in self.files {
            part.files.push(file);
            if full(&part) {
                parts.push(std::mem::take(&mut part));
            }
        }
        if !part.is_empty() {
            parts.push(part);
        }
        parts
    }
}

/// The pass over every upload and file record for the sweep at `now` (see [`Candidates`]).
pub fn candidates(store: &dyn Store, now: u64) -> Result<Candidates> {
    let mut found = Candidates::default();
    each_under_by(store, &[keys::UPLOAD], RECORDS_PAGE, |key, raw| {
        found.uploads.extend(expired_upload(&key, &raw, now));
        Ok(())
    })?;
    each_under_by(store, &[keys::FILE], RECORDS_PAGE, |key, raw| {
        if let Ok(digest) = <[u8; 32]>::try_from(&key[1..]) {
            if unnamed_past_grace(store, &digest, &raw, now, &Batch::default())? {
                found.files.push(digest);
            }
        }
        Ok(())
    })?;
    Ok(found)
}

/// Upload and file records read at a time by the passes over all of them.
const RECORDS_PAGE: usize = 512;

/// The deletions of the sweep at `now`: of `found`, the uploads still untouched for
/// [`UPLOAD_TTL_MS`], and the whole files no comment names (in the store or in `pending`,
/// the writer's group so far) whose last upload or status answer is older than
/// [`UNNAMED_GRACE_MS`] and of which no site uploaded a piece within that time. Run in the
/// writer, so no accepted comment's file can go between this check and its commit; what
/// became a candidate after `found` was read waits for the next sweep. Each file is held in
/// `held` (the group's claim) before it is read; one an upload holds now is left for the next
/// sweep (it is being written, so it is not what the pass found).
pub fn sweep_these(
    store: &dyn Store,
    now: u64,
    sites: &[String],
    pending: &Batch,
    found: &Candidates,
    held: &mut Claim,
) -> Result<Batch> {
    let mut batch = Batch::default();
    for (site, digest) in &found.uploads {
        if !held.try_take(digest) {
            continue;
        }
        let key = keys::upload_meta(digest, site);
        let Some(raw) = store.get(&key)? else {
            continue;
        };
        if expired_upload(&key, &raw, now).is_some() {
            drop_upload(store, &mut batch, digest, site)?;
            drop_unfinished_copy(store, &mut batch, digest, site, sites)?;
        }
    }
    for digest in &found.files {
        if !held.try_take(digest) {
            continue;
        }
        let Some(raw) = store.get(&keys::file_meta(digest))? else {
            continue;
        };
        if unnamed_past_grace(store, digest, &raw, now, pending)?
            && !uploading(store, digest, sites, now)?
        {
            drop_file(store, &mut batch, digest, sites)?;
        }
    }
    Ok(batch)
}

/// Deletes the pieces of `digest` when the file has no meta record and no site but `expired`
/// (whose upload the sweep deletes) has an upload of it: what a `finish` left whose copy
/// failed part way (it writes the meta record last) and whose site never came back to finish
/// it again. Call with the digest claimed, so no finish here copies it meanwhile; a later
/// finish of the same bytes copies every piece again. Only on a store no other gateway writes:
/// claims are per process, so a replica sharing the store could be finishing the file between
/// these reads and the group's commit, and its pieces would go under its meta record.
fn drop_unfinished_copy(
    store: &dyn Store,
    batch: &mut Batch,
    digest: &[u8; 32],
    expired: &str,
    sites: &[String],
) -> Result<()> {
    if store.others_wrote().is_some() || store.get(&keys::file_meta(digest))?.is_some() {
        return Ok(());
    }
    for site in sites.iter().filter(|site| site.as_str() != expired) {
        if upload(store, digest, site)?.is_some() {
            return Ok(());
        }
    }
    let pieces = keys::file_prefix(keys::FILE_PIECE, digest);
    for (key, _) in store.range(&pieces, &keys::prefix_end(&pieces), usize::MAX)? {
        batch.delete(key);
    }
    Ok(())
}

/// The whole sweep at `now` in one call, with no upload running: [`candidates`], then
/// [`sweep_these`].
#[cfg(test)]
pub fn sweep(store: &dyn Store, now: u64, sites: &[String], pending: &Batch) -> Result<Batch> {
    let mut held = Claim::none(&Claims::new());
    sweep_these(
        store,
        now,
        sites,
        pending,
        &candidates(store, now)?,
        &mut held,
    )
}

/// Whether a site uploaded a piece of `digest` within [`UNNAMED_GRACE_MS`]: its comment is
/// likely on the way (a site cannot ask whether the gateway holds another site's copy), so
/// the file and that upload stay, instead of the upload starting again from its first byte.
fn uploading(store: &dyn Store, digest: &[u8; 32], sites: &[String], now: u64) -> Result<bool> {
    for site in sites {
        if upload(store, digest, site)?
            .is_some_and(|up| now.saturating_sub(up.updated_at_ms) < UNNAMED_GRACE_MS)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `(site, digest)` of the upload record `key` when it is untouched for [`UPLOAD_TTL_MS`].
fn expired_upload(key: &[u8], raw: &[u8], now: u64) -> Option<(String, [u8; 32])> {
    let Ok(up) = decode_upload(raw) else {
        tracing::warn!(key = ?key, "an unreadable upload record; the sweep leaves it");
        return None;
    };
    if now.saturating_sub(up.updated_at_ms) < UPLOAD_TTL_MS {
        return None;
    }
    keys::parse_upload_meta(key)
}

/// Whether the file `digest` (its record `raw`) is named by no comment, in the store or in
/// `pending`, and its last upload or status answer is older than [`UNNAMED_GRACE_MS`].
fn unnamed_past_grace(
    store: &dyn Store,
    digest: &[u8; 32],
    raw: &[u8],
    now: u64,
    pending: &Batch,
) -> Result<bool> {
    let Ok(meta) = decode_meta(raw) else {
        tracing::warn!(digest = ?digest, "an unreadable file record; the sweep leaves it");
        return Ok(false);
    };
    let refs = keys::file_prefix(keys::FILE_REF, digest);
    if !store.range(&refs, &keys::prefix_end(&refs), 1)?.is_empty() || puts_under(pending, &refs) {
        return Ok(false);
    }
    let holders = keys::file_prefix(keys::FILE_HOLDER, digest);
    let newest = store
        .range(&holders, &keys::prefix_end(&holders), usize::MAX)?
        .iter()
        .filter_map(|(_, at)| read_u64(at, 0))
        .max()
        .unwrap_or(0)
        .max(meta.stored_at_ms);
    Ok(now.saturating_sub(newest) >= UNNAMED_GRACE_MS)
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
            // The pass over every record runs here; the writer checks only what it found.
            let (reader, now) = (state.clone(), state.now_ms());
            let found =
                match tokio::task::spawn_blocking(move || candidates(reader.store.as_ref(), now))
                    .await
                {
                    Ok(Ok(found)) => found,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "file sweep failed");
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "file sweep task failed");
                        continue;
                    }
                };
            // A few candidates per writer job, so a backlog (a day of expired uploads after
            // an outage) does not make one long group that holds the pushes behind it.
            for part in found.in_parts(SWEEP_PART) {
                match state.writer.sweep_files(part).await {
                    Ok(false) => {}
                    Ok(true) => {
                        tracing::info!("file sweep deleted expired uploads or unnamed files");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "file sweep failed");
                        break;
                    }
                }
            }
        }
    })
}

/// How many files the store holds and their bytes (one copy each), read a page of records at
/// a time: the gauges count them every minute, whatever the number of files.
pub fn stored(store: &dyn Store) -> Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    each_under_by(store, &[keys::FILE], RECORDS_PAGE, |_, raw| {
        files += 1;
        bytes += decode_meta(&raw)?.size;
        Ok(())
    })?;
    Ok((files, bytes))
}
