//! Files at the gateway (DESIGN.md section 8b): one copy per SHA-256 however many comments
//! carry it, uploaded by sites in pieces that resume after a cut, read back by the sites that
//! see a comment carrying it, and deleted when no comment carries it any more.
//!
//! Who may do what:
//! - A site uploads any file; `FileStatus` tells it only about its own uploads, so no site
//!   learns whether another site holds a file. A comment may name a file only after the
//!   writing site uploaded it whole (`o` records that), with the size and type it names
//!   (rule `file_uploaded`, checked by the writer); the refusal reads the same whether the
//!   gateway holds the file or not.
//! - A site reads a file only when it sees a comment (after redaction) that carries it; any
//!   other digest is NOT_FOUND, as for a file that does not exist.
//!
//! What bounds the store: at most [`MAX_UPLOADS_PER_SITE`] unfinished uploads per site, each
//! at most `limits.max_file_bytes`, in pieces of at least [`MIN_PIECE`] bytes; an unfinished
//! upload untouched for [`UPLOAD_TTL_MS`] and a whole file no comment names for
//! [`UNNAMED_GRACE_MS`] are deleted by the sweep ([`spawn_sweeper`]). A whole file is stored
//! in fixed pieces of [`PIECE`] bytes, so a read finds its piece with one lookup.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hotline_federation::attachment::{self, SNIFF_BYTES, check_content, digest_of, hex};
use hotline_federation::authority::{Caller, Refusal, Rule};
use hotline_federation::leak::LeakGuard;
use hotline_federation::model::{Comment, EntityKey, EntityKind, Visibility};
use hotline_federation::state::EntityState;
use hotline_federation::visibility::redact;
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::{Batch, Pages, Store, Write, keys};

/// The size of a stored file's pieces (the last may be shorter).
pub const PIECE: u64 = 256 * 1024;
/// The largest piece of an upload.
pub const MAX_PIECE: usize = 1024 * 1024;
/// The smallest piece of an upload, but for the one that ends the file.
pub const MIN_PIECE: usize = 64 * 1024;
/// Unfinished uploads one site may have at once.
pub const MAX_UPLOADS_PER_SITE: usize = 8;
/// An unfinished upload untouched this long is deleted, ms.
pub const UPLOAD_TTL_MS: u64 = 24 * 3600 * 1000;
/// A whole file no comment names, and no site uploaded or was told it holds for this long, is
/// deleted, ms (a refused push, an upload never followed by its comment).
pub const UNNAMED_GRACE_MS: u64 = 3600 * 1000;
/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Pieces read for downloads at once (GetFile and the status page); more wait.
const MAX_DOWNLOADS: usize = 32;

/// What the gateway stores about a file beside its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// When it was stored whole, ms.
    pub stored_at_ms: u64,
    /// Content type, checked against the bytes on upload.
    pub content_type: String,
}

fn read_u64(raw: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(raw.get(at..at + 8)?.try_into().ok()?))
}

fn encode_numbers(numbers: &[u64], text: &str) -> Vec<u8> {
    let mut out: Vec<u8> = numbers.iter().flat_map(|n| n.to_be_bytes()).collect();
    out.extend_from_slice(text.as_bytes());
    out
}

/// `count` numbers, then a text.
fn decode_numbers(raw: &[u8], count: usize, what: &str) -> Result<(Vec<u64>, String)> {
    let numbers = (0..count)
        .map(|i| read_u64(raw, 8 * i))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| Error::Corrupt(format!("{what} record too short")))?;
    let text = String::from_utf8(raw[8 * count..].to_vec())
        .map_err(|_| Error::Corrupt(format!("{what} record's content type is not UTF-8")))?;
    Ok((numbers, text))
}

fn decode_meta(raw: &[u8]) -> Result<FileMeta> {
    let (n, content_type) = decode_numbers(raw, 2, "file")?;
    Ok(FileMeta {
        size: n[0],
        stored_at_ms: n[1],
        content_type,
    })
}

/// A site's unfinished upload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Upload {
    size: u64,
    received: u64,
    updated_at_ms: u64,
    content_type: String,
}

fn decode_upload(raw: &[u8]) -> Result<Upload> {
    let (n, content_type) = decode_numbers(raw, 3, "upload")?;
    Ok(Upload {
        size: n[0],
        received: n[1],
        updated_at_ms: n[2],
        content_type,
    })
}

/// The stored file named by `digest`, if whole.
pub fn meta(store: &dyn Store, digest: &[u8; 32]) -> Result<Option<FileMeta>> {
    store
        .get(&keys::file_meta(digest))?
        .map(|raw| decode_meta(&raw))
        .transpose()
}

fn upload(store: &dyn Store, digest: &[u8; 32], site: &str) -> Result<Option<Upload>> {
    store
        .get(&keys::upload_meta(digest, site))?
        .map(|raw| decode_upload(&raw))
        .transpose()
}

/// Calls `each` with every entry under `prefix`, a few at a time (pieces are large).
fn each_under(
    store: &dyn Store,
    prefix: &[u8],
    mut each: impl FnMut(Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut pages = Pages::new(prefix.to_vec(), keys::prefix_end(prefix), 4);
    while let Some(page) = pages.next_page(store)? {
        for (key, value) in page {
            each(key, value)?;
        }
    }
    Ok(())
}

/// Adds to `batch` the deletion of one site's unfinished upload of a file.
fn drop_upload(store: &dyn Store, batch: &mut Batch, digest: &[u8; 32], site: &str) -> Result<()> {
    batch.delete(keys::upload_meta(digest, site));
    each_under(store, &keys::upload_pieces(digest, site), |key, _| {
        batch.delete(key);
        Ok(())
    })
}

fn digest(sha256: &str) -> std::result::Result<[u8; 32], Status> {
    digest_of(sha256).ok_or_else(|| {
        Status::invalid_argument(format!(
            "sha256 {sha256:?} is not a SHA-256; allowed: 64 lowercase hex digits"
        ))
    })
}

/// `(stored, offset)`: whether `site` uploaded the file whole (noted again at `now`, so the
/// sweep leaves it for the comment that follows), and else how many bytes of its unfinished
/// upload the gateway holds.
pub fn status(
    store: &dyn Store,
    sha256: &str,
    site: &str,
    now: u64,
) -> std::result::Result<(bool, u64), Status> {
    let digest = digest(sha256)?;
    let holder = keys::file_holder(&digest, site);
    if meta(store, &digest)?.is_some() && store.get(&holder)?.is_some() {
        let mut batch = Batch::default();
        batch.put(holder, now.to_be_bytes().to_vec());
        store.apply(batch)?;
        return Ok((true, 0));
    }
    match upload(store, &digest, site)? {
        // Every byte arrived but the upload was cut before it was finished: finish it now.
        Some(up) if up.received == up.size => Ok((finish(store, site, sha256, now)?, 0)),
        Some(up) => Ok((false, up.received)),
        None => Ok((false, 0)),
    }
}

/// Stores one piece of `site`'s upload; answers the bytes received so far. A piece at offset 0
/// starts the upload again (whatever was received is dropped).
pub fn put_piece(
    store: &dyn Store,
    site: &str,
    max_bytes: u64,
    now: u64,
    piece: &pb::FilePiece,
) -> std::result::Result<u64, Status> {
    let digest = digest(&piece.sha256)?;
    if piece.size == 0 || piece.size > max_bytes {
        return Err(Status::invalid_argument(format!(
            "a file of {} bytes is not accepted; allowed: 1 to {max_bytes} bytes \
             (limits.max_file_bytes); nothing was stored",
            piece.size
        )));
    }
    attachment::check_type(&piece.content_type)
        .map_err(|e| Status::invalid_argument(format!("content_type: {e}")))?;
    let len = piece.data.len() as u64;
    if piece.data.is_empty() || piece.data.len() > MAX_PIECE {
        return Err(Status::invalid_argument(format!(
            "a piece holds 1 to {MAX_PIECE} bytes, this one {len}"
        )));
    }
    let mut batch = Batch::default();
    let existing = upload(store, &digest, site)?;
    let received = match existing {
        _ if piece.offset == 0 => {
            if existing.is_some() {
                drop_upload(store, &mut batch, &digest, site)?;
            } else {
                let open = store.range(
                    &keys::site_uploads(site),
                    &keys::prefix_end(&keys::site_uploads(site)),
                    MAX_UPLOADS_PER_SITE,
                )?;
                if open.len() >= MAX_UPLOADS_PER_SITE {
                    return Err(Status::resource_exhausted(format!(
                        "your site has {MAX_UPLOADS_PER_SITE} unfinished uploads, the most it \
                         may have; finish one (FileStatus tells where each stands) or wait \
                         until one untouched for 24 hours expires"
                    )));
                }
            }
            let want = SNIFF_BYTES.min(usize::try_from(piece.size).unwrap_or(usize::MAX));
            if piece.data.len() < want {
                return Err(Status::invalid_argument(format!(
                    "the first piece holds {len} bytes; it must hold the file's first {want} \
                     bytes, so the type is checked before more is stored"
                )));
            }
            check_content(&piece.content_type, &piece.data[..want])
                .map_err(|e| Status::invalid_argument(format!("{e}; nothing was stored")))?;
            0
        }
        Some(u) if u.size == piece.size && u.content_type == piece.content_type => u.received,
        Some(u) => {
            return Err(Status::failed_precondition(format!(
                "your upload of {} under way is of {} bytes of {}; this piece says {} bytes of \
                 {}: start again at offset 0",
                piece.sha256, u.size, u.content_type, piece.size, piece.content_type
            )));
        }
        None => 0,
    };
    if piece.offset != received {
        return Err(Status::failed_precondition(format!(
            "offset {} is not where your upload of {} stands; upload on from offset {received} \
             (FileStatus tells)",
            piece.offset, piece.sha256
        )));
    }
    let end = received + len;
    if end > piece.size {
        return Err(Status::invalid_argument(format!(
            "the piece ends at byte {end}, past the file's size of {} bytes",
            piece.size
        )));
    }
    if piece.data.len() < MIN_PIECE && end < piece.size {
        return Err(Status::invalid_argument(format!(
            "a piece holds at least {MIN_PIECE} bytes unless it ends the file; this one holds \
             {len}"
        )));
    }
    batch.put(
        keys::upload_piece(&digest, site, received),
        piece.data.clone(),
    );
    batch.put(
        keys::upload_meta(&digest, site),
        encode_numbers(&[piece.size, end, now], &piece.content_type),
    );
    store.apply(batch)?;
    Ok(end)
}

/// Finishes `site`'s upload once every byte arrived: checks the bytes hash to the file's name
/// (reading the upload a few pieces at a time), keeps one copy in fixed pieces (the one stored
/// already, or this one) and notes the site as a holder.
pub fn finish(
    store: &dyn Store,
    site: &str,
    sha256: &str,
    now: u64,
) -> std::result::Result<bool, Status> {
    let digest = digest(sha256)?;
    let Some(up) = upload(store, &digest, site)? else {
        return Ok(false);
    };
    if up.received < up.size {
        return Ok(false);
    }
    // Hash first: nothing is written under the file's own keys before the bytes are known
    // to be the file's.
    let mut hasher = Sha256::new();
    let mut staged = Vec::new();
    each_under(store, &keys::upload_pieces(&digest, site), |key, data| {
        hasher.update(&data);
        staged.push(key);
        Ok(())
    })?;
    let got = hex(&hasher.finalize());
    let mut last = Batch::default();
    last.delete(keys::upload_meta(&digest, site));
    for key in &staged {
        last.delete(key.clone());
    }
    if got != sha256 {
        store.apply(last)?;
        return Err(Status::invalid_argument(format!(
            "the {} bytes uploaded hash to {got}, not to {sha256}; nothing was kept, upload \
             again from offset 0",
            up.size
        )));
    }
    if meta(store, &digest)?.is_none() {
        // The copy, re-cut into fixed pieces, a few at a time; the meta record last, so a
        // file is whole once it is seen.
        let piece = usize::try_from(PIECE).unwrap_or(usize::MAX);
        let mut pending: Vec<u8> = Vec::new();
        let mut index = 0u64;
        let mut batch = Batch::default();
        each_under(store, &keys::upload_pieces(&digest, site), |_, data| {
            pending.extend_from_slice(&data);
            while pending.len() >= piece {
                let rest = pending.split_off(piece);
                batch.put(
                    keys::file_piece(&digest, index),
                    std::mem::replace(&mut pending, rest),
                );
                index += 1;
            }
            if batch.writes.len() >= 16 {
                store.apply(std::mem::take(&mut batch))?;
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            batch.put(keys::file_piece(&digest, index), pending);
        }
        store.apply(batch)?;
        last.put(
            keys::file_meta(&digest),
            encode_numbers(&[up.size, now], &up.content_type),
        );
    }
    last.put(keys::file_holder(&digest, site), now.to_be_bytes().to_vec());
    store.apply(last)?;
    store.flush()?;
    Ok(true)
}

/// The file `tenant` may read under `sha256`: one a comment carries that the tenant sees as
/// redacted for it. `None` is the answer for a foreign file and for a missing one alike.
pub fn readable(
    state: &GatewayState,
    tenant: &str,
    sha256: &str,
) -> std::result::Result<Option<([u8; 32], FileMeta)>, Status> {
    let Some(digest) = digest_of(sha256) else {
        return Ok(None);
    };
    let store = state.store.as_ref();
    let Some(meta) = meta(store, &digest)? else {
        return Ok(None);
    };
    let directory = state.shared.directory();
    let prefix = keys::file_prefix(keys::FILE_REF, &digest);
    let tickets: BTreeSet<String> = store
        .range(&prefix, &keys::prefix_end(&prefix), usize::MAX)?
        .iter()
        .filter_map(|(key, _)| keys::parse_file_ref(key).map(str::to_owned))
        .collect();
    for id in tickets {
        let ticket = state.entity(&EntityKey::new(EntityKind::Ticket, id))?;
        let carried = redact(tenant, &ticket, &directory).is_some_and(|view| {
            view.comments
                .values()
                .any(|c| c.value.attachments.iter().any(|f| f.sha256 == sha256))
        });
        if carried {
            return Ok(Some((digest, meta)));
        }
    }
    Ok(None)
}

/// The bytes of a stored file from `offset` to the end of the piece that holds it: `(offset,
/// bytes)`; `None` when the piece is missing (the file was deleted).
pub fn piece_at(
    store: &dyn Store,
    digest: &[u8; 32],
    offset: u64,
) -> Result<Option<(u64, Vec<u8>)>> {
    let index = offset / PIECE;
    let Some(data) = store.get(&keys::file_piece(digest, index))? else {
        return Ok(None);
    };
    let skip = usize::try_from(offset - index * PIECE).unwrap_or(usize::MAX);
    if skip >= data.len() {
        return Ok(None);
    }
    Ok(Some((offset, data[skip..].to_vec())))
}

fn downloads() -> &'static tokio::sync::Semaphore {
    static DOWNLOADS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    DOWNLOADS.get_or_init(|| tokio::sync::Semaphore::new(MAX_DOWNLOADS))
}

/// The bytes of a stored file from `offset`, one piece at a time as the stream is polled, each
/// read off the async threads: `(start, bytes)` each. At most [`MAX_DOWNLOADS`] pieces are read
/// at once (process-wide); a file deleted meanwhile (an erasure) ends the stream with an error.
pub fn pieces(
    state: Arc<GatewayState>,
    digest: [u8; 32],
    offset: u64,
    size: u64,
) -> impl futures_util::Stream<Item = Result<(u64, Vec<u8>)>> + Send + 'static {
    futures_util::stream::unfold(Some(offset), move |at| {
        let state = state.clone();
        async move {
            let at = at?;
            if at >= size {
                return None;
            }
            // A permit per piece read, not per stream: a reader that stops reading holds none.
            let Ok(permit) = downloads().acquire().await else {
                return None;
            };
            let read =
                tokio::task::spawn_blocking(move || piece_at(state.store.as_ref(), &digest, at))
                    .await
                    .map_err(|e| Error::Storage(format!("file read task: {e}")));
            drop(permit);
            match read.and_then(|r| r) {
                Ok(Some((start, data))) => {
                    let next = start + data.len() as u64;
                    Some((Ok((start, data)), Some(next)))
                }
                Ok(None) => Some((
                    Err(Error::Unavailable(
                        "the file was deleted while it was read".into(),
                    )),
                    None,
                )),
                Err(error) => Some((Err(error), None)),
            }
        }
    })
}

/// The writer's check of a change's files (rule `file_uploaded`): each file a comment names is
/// one the writing site uploaded whole, with the size and type named; and the text files of a
/// public comment pass the leak guard (the customer reads them).
pub fn check_change(
    store: &dyn Store,
    caller: &Caller,
    change: &Change,
    guard: &LeakGuard,
    pending: &Batch,
) -> Result<Option<Refusal>> {
    for op in &change.ops {
        let FieldOp::AddComment(comment) = op else {
            continue;
        };
        for (i, file) in comment.attachments.iter().enumerate() {
            let Some(digest) = digest_of(&file.sha256) else {
                continue;
            };
            let what = format!(
                "comment {} attachments[{i}] ({})",
                comment.id, file.filename
            );
            let held = match caller {
                Caller::Site { site, .. } => {
                    store.get(&keys::file_holder(&digest, site))?.is_some()
                }
                Caller::Gateway => true,
            };
            // A file the group deletes (an erasure, the sweep) is gone for this change too.
            let meta_key = keys::file_meta(&digest);
            let deleted = pending
                .writes
                .iter()
                .any(|w| matches!(w, Write::Delete(key) if *key == meta_key));
            // The same answer whether the gateway holds the file or not: no site learns of
            // another's files by naming them.
            let stored = meta(store, &digest)?.filter(|_| held && !deleted);
            let Some(stored) = stored else {
                return Ok(Some(Refusal::new(
                    Rule::FileUploaded,
                    format!(
                        "{what}: your site has not uploaded the file {} ({} bytes of {}); \
                         upload it first (Federation.PutFile), then push the comment",
                        file.sha256, file.size, file.content_type
                    ),
                )));
            };
            if stored.size != file.size || stored.content_type != file.content_type {
                return Ok(Some(Refusal::new(
                    Rule::FileUploaded,
                    format!(
                        "{what}: names {} bytes of {}, but your site uploaded {} bytes of {}",
                        file.size, file.content_type, stored.size, stored.content_type
                    ),
                )));
            }
            if comment.visibility == Visibility::Public && file.content_type == "text/plain" {
                let text = read_whole(store, &digest, stored.size)?;
                if let Err(leak) = guard.check(
                    &format!("attachments[{i}]"),
                    &String::from_utf8_lossy(&text),
                ) {
                    return Ok(Some(Refusal::new(
                        Rule::CustomerTextClean,
                        format!("{what}: the customer reads this file: {leak}"),
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// The whole bytes of a stored file (for the leak guard's look at a public text file).
fn read_whole(store: &dyn Store, digest: &[u8; 32], size: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while (out.len() as u64) < size {
        match piece_at(store, digest, out.len() as u64)? {
            Some((_, data)) => out.extend(data),
            None => break,
        }
    }
    Ok(out)
}

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
fn puts_under(batch: &Batch, refs: &[u8]) -> bool {
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
/// or another site's upload waiting for its own comment, is left alone.
pub fn release_refused(
    store: &dyn Store,
    batch: &mut Batch,
    refused: &[(String, [u8; 32])],
    sites: &[String],
) -> Result<()> {
    let mut dropped = BTreeSet::new();
    for (site, digest) in refused {
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
        batch.delete(own.clone());
        let holders = keys::file_prefix(keys::FILE_HOLDER, digest);
        let others = store
            .range(&holders, &keys::prefix_end(&holders), usize::MAX)?
            .into_iter()
            .any(|(key, _)| {
                key != own
                    && !refused
                        .iter()
                        .any(|(s, d)| d == digest && keys::file_holder(d, s) == key)
            });
        if !others && dropped.insert(*digest) {
            drop_file(store, batch, digest, sites)?;
        }
    }
    Ok(())
}

/// Adds to `batch` the deletion of the file `digest`: bytes, meta, holders, and the unfinished
/// uploads of it by the `sites` given.
fn drop_file<'a>(
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
/// unfinished uploads of the file go too).
pub fn collect(
    store: &dyn Store,
    batch: &mut Batch,
    dropped: &[([u8; 32], Vec<u8>)],
    sites: &[String],
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
        drop_file(store, batch, &digest, sites)?;
    }
    Ok(())
}

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

/// How many files the store holds and their bytes (one copy each).
pub fn stored(store: &dyn Store) -> Result<(u64, u64)> {
    let (start, end) = keys::prefix_range(keys::FILE);
    let mut files = 0;
    let mut bytes = 0;
    for (_, raw) in store.range(&start, &end, usize::MAX)? {
        files += 1;
        bytes += decode_meta(&raw)?.size;
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn piece(bytes: &[u8], offset: usize, len: usize, content_type: &str) -> pb::FilePiece {
        pb::FilePiece {
            sha256: hex(&Sha256::digest(bytes)),
            size: bytes.len() as u64,
            content_type: content_type.into(),
            offset: offset as u64,
            data: bytes[offset..offset + len].to_vec(),
        }
    }

    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    }

    fn put(store: &MemoryStore, site: &str, p: &pb::FilePiece) -> std::result::Result<u64, Status> {
        put_piece(store, site, 1 << 20, 7, p)
    }

    fn read_all(store: &MemoryStore, digest: &[u8; 32]) -> Vec<u8> {
        let mut read = Vec::new();
        while let Some((start, data)) = piece_at(store, digest, read.len() as u64).unwrap() {
            assert_eq!(start, read.len() as u64);
            read.extend(data);
        }
        read
    }

    /// A cut upload resumes where the gateway's copy ends; a piece elsewhere is refused with
    /// the offset to resume at; the whole file is kept once, in fixed pieces, with the site as
    /// its holder; another site's upload of the same bytes is its own and adds no copy.
    #[test]
    fn uploads_resume_at_the_offset_and_keep_one_copy() {
        let store = MemoryStore::new();
        let bytes = text(700_000);
        let sha = hex(&Sha256::digest(&bytes));
        let digest = digest_of(&sha).unwrap();
        assert_eq!(
            put(&store, "dortmund", &piece(&bytes, 0, 100_000, "text/plain")).unwrap(),
            100_000
        );
        assert_eq!(
            status(&store, &sha, "dortmund", 9).unwrap(),
            (false, 100_000)
        );
        assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (false, 0));
        let wrong = put(
            &store,
            "dortmund",
            &piece(&bytes, 120_000, 100_000, "text/plain"),
        )
        .unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::FailedPrecondition);
        assert!(
            wrong.message().contains("from offset 100000"),
            "{}",
            wrong.message()
        );
        let tiny = put(
            &store,
            "dortmund",
            &piece(&bytes, 100_000, 10, "text/plain"),
        )
        .unwrap_err();
        assert!(
            tiny.message().contains("at least 65536"),
            "{}",
            tiny.message()
        );
        assert_eq!(
            put(
                &store,
                "dortmund",
                &piece(&bytes, 100_000, 600_000, "text/plain")
            )
            .unwrap(),
            700_000
        );
        assert!(finish(&store, "dortmund", &sha, 8).unwrap());
        assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
        assert_eq!(stored(&store).unwrap(), (1, 700_000));
        assert_eq!(read_all(&store, &digest), bytes);
        let (at, tail) = piece_at(&store, &digest, 650_000).unwrap().unwrap();
        assert_eq!((at, tail), (650_000, bytes[650_000..].to_vec()));
        assert!(piece_at(&store, &digest, 700_000).unwrap().is_none());
        // The upload's own pieces are gone once the file is whole.
        let (start, end) = keys::prefix_range(keys::UPLOAD_PIECE);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
        put(&store, "erfurt", &piece(&bytes, 0, 700_000, "text/plain")).unwrap();
        assert!(finish(&store, "erfurt", &sha, 8).unwrap());
        assert_eq!(stored(&store).unwrap(), (1, 700_000));
        assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (true, 0));
    }

    /// Bytes that do not hash to the file's name are dropped; a type that does not match the
    /// first bytes, a file above the limit and a ninth unfinished upload are refused before
    /// anything is stored.
    #[test]
    fn wrong_bytes_types_sizes_and_counts_store_nothing() {
        let store = MemoryStore::new();
        let bytes = text(100);
        let mut lying = piece(&bytes, 0, 100, "text/plain");
        lying.sha256 = hex(&Sha256::digest(b"something else"));
        put(&store, "dortmund", &lying).unwrap();
        let refused = finish(&store, "dortmund", &lying.sha256, 8).unwrap_err();
        assert!(
            refused.message().contains("hash to"),
            "{}",
            refused.message()
        );
        assert_eq!(stored(&store).unwrap(), (0, 0));
        let (start, end) = keys::prefix_range(keys::UPLOAD);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
        let (start, end) = keys::prefix_range(keys::FILE_PIECE);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
        let pdf = piece(b"%PDF-1.7", 0, 8, "image/png");
        assert_eq!(
            put(&store, "dortmund", &pdf).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let refused = put_piece(
            &store,
            "dortmund",
            99,
            7,
            &piece(&bytes, 0, 100, "text/plain"),
        )
        .unwrap_err();
        assert!(
            refused.message().contains("limits.max_file_bytes"),
            "{}",
            refused.message()
        );
        for i in 0..MAX_UPLOADS_PER_SITE {
            let file = text(200_000 + i);
            put(&store, "dortmund", &piece(&file, 0, 100_000, "text/plain")).unwrap();
        }
        let ninth = text(300_000);
        let refused =
            put(&store, "dortmund", &piece(&ninth, 0, 100_000, "text/plain")).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        // Another site is not held back by dortmund's.
        put(&store, "erfurt", &piece(&ninth, 0, 100_000, "text/plain")).unwrap();
        // The sweep removes uploads untouched for a day, and nothing younger.
        assert!(
            sweep(&store, 7 + UPLOAD_TTL_MS - 1, &[], &Batch::default())
                .unwrap()
                .is_empty()
        );
        let expired = sweep(&store, 7 + UPLOAD_TTL_MS, &[], &Batch::default()).unwrap();
        store.apply(expired).unwrap();
        let (start, end) = keys::prefix_range(keys::UPLOAD_PIECE);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    }

    /// A file goes when the last comment carrying it drops it, not before, and a ref the same
    /// batch writes back keeps it; a whole file no comment names goes after the grace period.
    #[test]
    fn a_file_goes_with_its_last_reference() {
        let store = MemoryStore::new();
        let bytes = text(300);
        let sha = hex(&Sha256::digest(&bytes));
        put(&store, "dortmund", &piece(&bytes, 0, 300, "text/plain")).unwrap();
        finish(&store, "dortmund", &sha, 8).unwrap();
        let digest = digest_of(&sha).unwrap();
        let first = keys::file_ref(&digest, "ASZ-2026-000001", "dortmund-1");
        let second = keys::file_ref(&digest, "ASZ-2026-000002", "dortmund-7");
        let mut batch = Batch::default();
        batch.put(first.clone(), Vec::new());
        batch.put(second.clone(), Vec::new());
        store.apply(batch).unwrap();
        assert!(
            sweep(&store, 8 + UNNAMED_GRACE_MS, &[], &Batch::default())
                .unwrap()
                .is_empty(),
            "named files stay"
        );
        let mut batch = Batch::default();
        batch.delete(first.clone());
        collect(&store, &mut batch, &[(digest, first.clone())], &[]).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap().0, 1);
        let third = keys::file_ref(&digest, "ASZ-2026-000003", "munich-2");
        let mut batch = Batch::default();
        batch.delete(second.clone());
        batch.put(third.clone(), Vec::new());
        collect(&store, &mut batch, &[(digest, second.clone())], &[]).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap().0, 1);
        let mut batch = Batch::default();
        batch.delete(third.clone());
        collect(
            &store,
            &mut batch,
            &[(digest, third)],
            &["dortmund".to_string()],
        )
        .unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap(), (0, 0));
        assert!(piece_at(&store, &digest, 0).unwrap().is_none());
        assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (false, 0));
        // An upload no comment ever names: kept through the grace period, then swept.
        put(&store, "erfurt", &piece(&bytes, 0, 300, "text/plain")).unwrap();
        finish(&store, "erfurt", &sha, 100).unwrap();
        assert!(
            sweep(&store, 100 + UNNAMED_GRACE_MS - 1, &[], &Batch::default())
                .unwrap()
                .is_empty()
        );
        store
            .apply(sweep(&store, 100 + UNNAMED_GRACE_MS, &[], &Batch::default()).unwrap())
            .unwrap();
        assert_eq!(stored(&store).unwrap(), (0, 0));
        let (start, end) = keys::prefix_range(keys::FILE_HOLDER);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    }

    /// An upload cut after its last piece (every byte there, never finished) is finished by
    /// the next status question, instead of waiting for a piece that will never come.
    #[test]
    fn a_complete_upload_cut_before_its_end_is_finished_by_status() {
        let store = MemoryStore::new();
        let bytes = text(200);
        let sha = hex(&Sha256::digest(&bytes));
        put(&store, "dortmund", &piece(&bytes, 0, 200, "text/plain")).unwrap();
        assert_eq!(stored(&store).unwrap().0, 0);
        assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
        assert_eq!(stored(&store).unwrap(), (1, 200));
    }

    /// A refused comment's upload goes at the group's end, unless a comment the same group
    /// stores names the file, or another site holds it too.
    #[test]
    fn a_refused_comments_upload_goes_unless_named_or_held_elsewhere() {
        let store = MemoryStore::new();
        let bytes = text(200);
        let sha = hex(&Sha256::digest(&bytes));
        let digest = digest_of(&sha).unwrap();
        put(&store, "erfurt", &piece(&bytes, 0, 200, "text/plain")).unwrap();
        finish(&store, "erfurt", &sha, 8).unwrap();
        let sites = vec!["erfurt".to_string(), "dortmund".to_string()];
        let refused = vec![("erfurt".to_string(), digest)];
        // Named by a comment the group stores: kept, holder and all.
        let mut batch = Batch::default();
        batch.put(
            keys::file_ref(&digest, "ASZ-2026-000001", "erfurt-2"),
            Vec::new(),
        );
        release_refused(&store, &mut batch, &refused, &sites).unwrap();
        assert!(!batch.writes.iter().any(|w| matches!(w, Write::Delete(_))));
        // Held by another site too: only erfurt's claim goes.
        put(&store, "dortmund", &piece(&bytes, 0, 200, "text/plain")).unwrap();
        finish(&store, "dortmund", &sha, 8).unwrap();
        let mut batch = Batch::default();
        release_refused(&store, &mut batch, &refused, &sites).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap().0, 1);
        assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (false, 0));
        assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
        // Nobody else: the file goes.
        let mut batch = Batch::default();
        release_refused(
            &store,
            &mut batch,
            &[("dortmund".to_string(), digest)],
            &sites,
        )
        .unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap(), (0, 0));
    }
}
