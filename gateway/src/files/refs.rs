//! Which comments carry a file, and deleting a file none carries any more.

use super::*;

/// Adds the records that the comment carries its files.
pub fn put_refs(batch: &mut Batch, ticket: &EntityKey, comment: &Comment) {
    for file in &comment.attachments {
        if let Some(digest) = digest_of(&file.sha256) {
            batch.put(keys::file_ref(&digest, &ticket.id, &comment.id), Vec::new());
        }
    }
}

/// The records of `state`'s comments carrying files, as [`put_refs`] wrote them: an erasure
/// deletes them and hands them to [`collect`].
pub fn refs_of(state: &EntityState) -> Vec<([u8; 32], Vec<u8>)> {
    let mut out = Vec::new();
    for comment in state.comments.values() {
        for file in &comment.value.attachments {
            if let Some(digest) = digest_of(&file.sha256) {
                out.push((
                    digest,
                    keys::file_ref(&digest, &state.key.id, &comment.value.id),
                ));
            }
        }
    }
    out
}

/// The files `change` named that the stored state does not carry (a comment pushed to an
/// erased ticket keeps no file): handed to [`collect`] like dropped refs, so an upload made
/// for it does not outlive it.
pub fn not_taken(change: &Change, after: &EntityState) -> Vec<([u8; 32], Vec<u8>)> {
    let mut out = Vec::new();
    for op in &change.ops {
        let FieldOp::AddComment(comment) = op else {
            continue;
        };
        let kept = after
            .comments
            .get(&comment.id)
            .map(|c| &c.value.attachments);
        for file in &comment.attachments {
            if kept.is_some_and(|kept| kept.contains(file)) {
                continue;
            }
            if let Some(digest) = digest_of(&file.sha256) {
                out.push((digest, keys::file_ref(&digest, &change.key.id, &comment.id)));
            }
        }
    }
    out
}

/// True when `change`'s comments carry files.
pub fn names_files(change: &Change) -> bool {
    change
        .ops
        .iter()
        .any(|op| matches!(op, FieldOp::AddComment(c) if !c.attachments.is_empty()))
}

/// The files `change`'s comments name.
pub fn named_by(change: &Change) -> BTreeSet<[u8; 32]> {
    let mut digests = BTreeSet::new();
    for op in &change.ops {
        if let FieldOp::AddComment(comment) = op {
            digests.extend(
                comment
                    .attachments
                    .iter()
                    .filter_map(|f| digest_of(&f.sha256)),
            );
        }
    }
    digests
}

/// True when `batch` writes a ref under `refs` (a comment the group stores carries the file).
pub(super) fn puts_under(batch: &Batch, refs: &[u8]) -> bool {
    batch
        .writes
        .iter()
        .any(|w| matches!(w, Write::Put(key, _) if key.starts_with(refs)))
}

/// What changes a group refused leave behind, at the group's end (`refused`: site and file):
/// for a file no comment carries (in the store or in `batch`, which by then holds every ref
/// the group writes), the refused site's holder record goes, and the file itself when no other
/// site holds it. So an upload made for a comment the gateway refused (one written offline on
/// a ticket erased meanwhile) does not outlive it; a file another comment of the group names,
/// or another site's upload waiting for its own comment, is left alone, and so is a file an
/// upload holds now (`held`, the group's claim, takes each file before its holders are read;
/// the writer never waits for an upload): the sweep deletes it once nothing names it for
/// [`UNNAMED_GRACE_MS`].
pub fn release_refused(
    store: &dyn Store,
    batch: &mut Batch,
    refused: &[(String, [u8; 32])],
    sites: &[String],
    held: &mut Claim,
) -> Result<()> {
    // The holder records of the refused sites: they do not keep a file for one another.
    let refusing: BTreeSet<Vec<u8>> = refused
        .iter()
        .map(|(site, digest)| keys::file_holder(digest, site))
        .collect();
    let mut dropped = BTreeSet::new();
    for (site, digest) in refused {
        if !held.try_take(digest) {
            continue;
        }
        let own = keys::file_holder(digest, site);
        if store.get(&own)?.is_none() {
            // Not this site's upload: nothing of it to release.
            continue;
        }
        let refs = keys::file_prefix(keys::FILE_REF, digest);
        if !store.range(&refs, &keys::prefix_end(&refs), 1)?.is_empty() || puts_under(batch, &refs)
        {
            continue;
        }
        batch.delete(own);
        let holders = keys::file_prefix(keys::FILE_HOLDER, digest);
        let others = store
            .range(&holders, &keys::prefix_end(&holders), usize::MAX)?
            .into_iter()
            .any(|(key, _)| !refusing.contains(&key));
        if !others && dropped.insert(*digest) {
            drop_file(store, batch, digest, sites)?;
        }
    }
    Ok(())
}

/// Adds to `batch` the deletion of the file `digest`: bytes, meta, holders, and the unfinished
/// uploads of it by the `sites` given.
pub(super) fn drop_file<'a>(
    store: &dyn Store,
    batch: &mut Batch,
    digest: &[u8; 32],
    sites: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    if let Some(meta) = meta(store, digest)? {
        for index in 0..meta.size.div_ceil(PIECE).max(1) {
            batch.delete(keys::file_piece(digest, index));
        }
    }
    batch.delete(keys::file_meta(digest));
    let holders = keys::file_prefix(keys::FILE_HOLDER, digest);
    for (key, _) in store.range(&holders, &keys::prefix_end(&holders), usize::MAX)? {
        batch.delete(key);
    }
    for site in sites {
        if upload(store, digest, site)?.is_some() {
            drop_upload(store, batch, digest, site)?;
        }
    }
    Ok(())
}

/// Deletes in `batch` every file that no comment carries once `batch` is applied: of the
/// digests in `dropped` (refs the batch deletes, or never wrote), those without another ref
/// in the store or among the batch's own writes. `sites` are the registered sites (their
/// unfinished uploads of the file go too). Each file is taken in `held` (the group's claim)
/// before its records are read; one an upload holds now is left (the writer never waits for an
/// upload), and the sweep deletes it once nothing names it for [`UNNAMED_GRACE_MS`].
pub fn collect(
    store: &dyn Store,
    batch: &mut Batch,
    dropped: &[([u8; 32], Vec<u8>)],
    sites: &[String],
    held: &mut Claim,
) -> Result<()> {
    let mut by_digest: BTreeMap<[u8; 32], BTreeSet<Vec<u8>>> = BTreeMap::new();
    for (digest, key) in dropped {
        by_digest.entry(*digest).or_default().insert(key.clone());
    }
    let mut doomed = Vec::new();
    for (digest, gone) in by_digest {
        let prefix = keys::file_prefix(keys::FILE_REF, &digest);
        let mut live: BTreeSet<Vec<u8>> = store
            .range(&prefix, &keys::prefix_end(&prefix), usize::MAX)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        // The batch's own writes count in order: a ref it puts back keeps the file.
        for write in &batch.writes {
            match write {
                Write::Put(key, _) if key.starts_with(&prefix) => {
                    live.insert(key.clone());
                }
                Write::Delete(key) if key.starts_with(&prefix) => {
                    live.remove(key);
                }
                _ => {}
            }
        }
        if live.iter().all(|key| gone.contains(key)) {
            doomed.push(digest);
        }
    }
    for digest in doomed {
        if held.try_take(&digest) {
            drop_file(store, batch, &digest, sites)?;
        }
    }
    Ok(())
}
