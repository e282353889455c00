//! Files at the gateway (DESIGN.md section 8b): one copy per SHA-256 however many comments
//! carry it, uploaded by sites in pieces that resume after a cut, read back by the sites that
//! see a comment carrying it, and deleted when no comment carries it any more (an erasure).
//!
//! Who may do what:
//! - A site uploads any file; `FileStatus` tells it only about its own uploads, so no site
//!   learns whether another site holds a file. A comment may name a file only after the
//!   writing site uploaded it whole (`o` records that), with the size and type it names
//!   (rule `file_uploaded`, checked by the writer).
//! - A site reads a file only when it sees a comment (after redaction) that carries it; any
//!   other digest is NOT_FOUND, as for a file that does not exist.

use std::collections::{BTreeMap, BTreeSet};

use hotline_federation::attachment::{self, SNIFF_BYTES, check_content, digest_of, hex};
use hotline_federation::authority::{Caller, Refusal, Rule};
use hotline_federation::model::{Comment, EntityKey, EntityKind};
use hotline_federation::state::EntityState;
use hotline_federation::visibility::redact;
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::{Batch, Store, Write, keys};

/// The largest piece of an upload.
pub const MAX_PIECE: usize = 1024 * 1024;

/// What the gateway stores about a file beside its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// Content type, checked against the bytes on upload.
    pub content_type: String,
}

fn encode_meta(size: u64, received: Option<u64>, content_type: &str) -> Vec<u8> {
    let mut out = size.to_be_bytes().to_vec();
    if let Some(received) = received {
        out.extend_from_slice(&received.to_be_bytes());
    }
    out.extend_from_slice(content_type.as_bytes());
    out
}

fn read_u64(raw: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(raw.get(at..at + 8)?.try_into().ok()?))
}

fn decode_meta(raw: &[u8]) -> Result<FileMeta> {
    let size = read_u64(raw, 0).ok_or_else(|| Error::Corrupt("file record too short".into()))?;
    let content_type = String::from_utf8(raw[8..].to_vec())
        .map_err(|_| Error::Corrupt("file record's content type is not UTF-8".into()))?;
    Ok(FileMeta { size, content_type })
}

/// A site's unfinished upload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Upload {
    size: u64,
    received: u64,
    content_type: String,
}

fn decode_upload(raw: &[u8]) -> Result<Upload> {
    let short = || Error::Corrupt("upload record too short".into());
    let size = read_u64(raw, 0).ok_or_else(short)?;
    let received = read_u64(raw, 8).ok_or_else(short)?;
    let content_type = String::from_utf8(raw[16..].to_vec())
        .map_err(|_| Error::Corrupt("upload record's content type is not UTF-8".into()))?;
    Ok(Upload {
        size,
        received,
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

/// Every key under `prefix`, for deleting them.
fn keys_under(store: &dyn Store, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(store
        .range(prefix, &keys::prefix_end(prefix), usize::MAX)?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

fn digest(sha256: &str) -> std::result::Result<[u8; 32], Status> {
    digest_of(sha256).ok_or_else(|| {
        Status::invalid_argument(format!(
            "sha256 {sha256:?} is not a SHA-256; allowed: 64 lowercase hex digits"
        ))
    })
}

/// `(stored, offset)`: whether `site` uploaded the file whole, and else how many bytes of its
/// unfinished upload the gateway holds.
pub fn status(
    store: &dyn Store,
    sha256: &str,
    site: &str,
) -> std::result::Result<(bool, u64), Status> {
    let digest = digest(sha256)?;
    if meta(store, &digest)?.is_some() && store.get(&keys::file_holder(&digest, site))?.is_some() {
        return Ok((true, 0));
    }
    Ok((
        false,
        upload(store, &digest, site)?.map_or(0, |u| u.received),
    ))
}

/// Stores one piece of `site`'s upload; answers the bytes received so far. A piece at offset 0
/// starts the upload again (whatever was received is dropped).
pub fn put_piece(
    store: &dyn Store,
    site: &str,
    max_bytes: u64,
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
    if piece.data.is_empty() || piece.data.len() > MAX_PIECE {
        return Err(Status::invalid_argument(format!(
            "a piece holds 1 to {MAX_PIECE} bytes, this one {}",
            piece.data.len()
        )));
    }
    let mut batch = Batch::default();
    let received = match upload(store, &digest, site)? {
        _ if piece.offset == 0 => {
            for key in keys_under(store, &keys::upload_prefix(&digest, site))? {
                batch.delete(key);
            }
            let want = SNIFF_BYTES.min(usize::try_from(piece.size).unwrap_or(usize::MAX));
            if piece.data.len() < want {
                return Err(Status::invalid_argument(format!(
                    "the first piece holds {} bytes; it must hold the file's first {want} \
                     bytes, so the type is checked before more is stored",
                    piece.data.len()
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
    let end = received + piece.data.len() as u64;
    if end > piece.size {
        return Err(Status::invalid_argument(format!(
            "the piece ends at byte {end}, past the file's size of {} bytes",
            piece.size
        )));
    }
    batch.put(
        keys::upload_piece(&digest, site, received),
        piece.data.clone(),
    );
    batch.put(
        keys::upload_meta(&digest, site),
        encode_meta(piece.size, Some(end), &piece.content_type),
    );
    store.apply(batch)?;
    Ok(end)
}

/// Finishes `site`'s upload once every byte arrived: checks the bytes hash to the file's name,
/// keeps one copy (the one stored already, or this one) and notes the site as a holder.
pub fn finish(store: &dyn Store, site: &str, sha256: &str) -> std::result::Result<bool, Status> {
    let digest = digest(sha256)?;
    let Some(up) = upload(store, &digest, site)? else {
        return Ok(false);
    };
    if up.received < up.size {
        return Ok(false);
    }
    let pieces_prefix = keys::upload_pieces(&digest, site);
    let pieces = store.range(
        &pieces_prefix,
        &keys::prefix_end(&pieces_prefix),
        usize::MAX,
    )?;
    let mut hasher = Sha256::new();
    for (_, data) in &pieces {
        hasher.update(data);
    }
    let got = hex(&hasher.finalize());
    let mut batch = Batch::default();
    for key in keys_under(store, &keys::upload_prefix(&digest, site))? {
        batch.delete(key);
    }
    if got != sha256 {
        store.apply(batch)?;
        return Err(Status::invalid_argument(format!(
            "the {} bytes uploaded hash to {got}, not to {sha256}; nothing was kept, upload \
             again from offset 0",
            up.size
        )));
    }
    if meta(store, &digest)?.is_none() {
        for (key, data) in pieces {
            let offset = read_u64(&key, key.len() - 8)
                .ok_or_else(|| Error::Corrupt("upload piece key too short".into()))?;
            batch.put(keys::file_piece(&digest, offset), data);
        }
        batch.put(
            keys::file_meta(&digest),
            encode_meta(up.size, None, &up.content_type),
        );
    }
    batch.put(keys::file_holder(&digest, site), Vec::new());
    store.apply(batch)?;
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

/// The piece of a stored file that holds byte `offset`, or the next one after it: `(start,
/// bytes)`; `None` past the end.
pub fn piece_at(
    store: &dyn Store,
    digest: &[u8; 32],
    offset: u64,
) -> Result<Option<(u64, Vec<u8>)>> {
    let prefix = keys::file_pieces(digest);
    // The piece starting at or before `offset` is the last key up to it; pieces are at most
    // MAX_PIECE long, so it starts no earlier than offset - MAX_PIECE.
    let from = offset.saturating_sub(MAX_PIECE as u64);
    let candidates = store.range(
        &keys::file_piece(digest, from),
        &keys::prefix_end(&prefix),
        (MAX_PIECE / 4096).max(2),
    )?;
    for (key, data) in candidates {
        let start = read_u64(&key, key.len() - 8)
            .ok_or_else(|| Error::Corrupt("file piece key too short".into()))?;
        let end = start + data.len() as u64;
        if end > offset {
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
            return Ok(Some((
                start.max(offset),
                data[skip.min(data.len())..].to_vec(),
            )));
        }
    }
    Ok(None)
}

/// The bytes of a stored file from `offset`, one piece at a time as the stream is polled:
/// `(start, bytes)` each. A file deleted meanwhile (an erasure) ends the stream with an error.
pub fn pieces(
    state: std::sync::Arc<GatewayState>,
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
            match piece_at(state.store.as_ref(), &digest, at) {
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
/// stored with the size and type named, and a site names only files it uploaded itself.
pub fn check_change(
    store: &dyn Store,
    caller: &Caller,
    change: &Change,
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
            let stored = meta(store, &digest)?;
            let held = match caller {
                Caller::Site { site, .. } => {
                    store.get(&keys::file_holder(&digest, site))?.is_some()
                }
                Caller::Gateway => true,
            };
            let refusal = match stored {
                Some(_) if !held => Some(format!(
                    "{what}: your site has not uploaded the file {}; upload it first \
                     (Federation.PutFile), then push the comment",
                    file.sha256
                )),
                None => Some(format!(
                    "{what}: the gateway holds no file {}; upload it first \
                     (Federation.PutFile), then push the comment",
                    file.sha256
                )),
                Some(meta) if meta.size != file.size || meta.content_type != file.content_type => {
                    Some(format!(
                        "{what}: names {} bytes of {}, but the file uploaded is {} bytes of {}",
                        file.size, file.content_type, meta.size, meta.content_type
                    ))
                }
                Some(_) => None,
            };
            if let Some(message) = refusal {
                return Ok(Some(Refusal::new(Rule::FileUploaded, message)));
            }
        }
    }
    Ok(None)
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

/// Deletes in `batch` every file that no comment carries once `batch` is applied: of the
/// digests in `dropped` (refs the batch deletes), those without another ref in the store or
/// among the batch's own writes. Its bytes, meta, holders and unfinished uploads go.
pub fn collect(
    store: &dyn Store,
    batch: &mut Batch,
    dropped: &[([u8; 32], Vec<u8>)],
) -> Result<()> {
    let mut by_digest: BTreeMap<[u8; 32], BTreeSet<Vec<u8>>> = BTreeMap::new();
    for (digest, key) in dropped {
        by_digest.entry(*digest).or_default().insert(key.clone());
    }
    let mut doomed = Vec::new();
    for (digest, gone) in by_digest {
        let prefix = keys::file_prefix(keys::FILE_REF, &digest);
        let mut live: BTreeSet<Vec<u8>> = keys_under(store, &prefix)?.into_iter().collect();
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
        batch.delete(keys::file_meta(&digest));
        for prefix in [
            keys::file_prefix(keys::FILE_PIECE, &digest),
            keys::file_prefix(keys::UPLOAD, &digest),
            keys::file_prefix(keys::FILE_HOLDER, &digest),
        ] {
            for key in keys_under(store, &prefix)? {
                batch.delete(key);
            }
        }
    }
    Ok(())
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

    /// A cut upload resumes where the gateway's copy ends; a piece elsewhere is refused with
    /// the offset to resume at; the whole file is kept once, with the site as its holder.
    #[test]
    fn uploads_resume_at_the_offset_and_keep_one_copy() {
        let store = MemoryStore::new();
        let bytes = text(10_000);
        let sha = hex(&Sha256::digest(&bytes));
        assert_eq!(
            put_piece(
                &store,
                "dortmund",
                1 << 20,
                &piece(&bytes, 0, 5000, "text/plain")
            )
            .unwrap(),
            5000
        );
        assert_eq!(status(&store, &sha, "dortmund").unwrap(), (false, 5000));
        // Another site's upload of the same bytes is its own.
        assert_eq!(status(&store, &sha, "erfurt").unwrap(), (false, 0));
        let wrong = put_piece(
            &store,
            "dortmund",
            1 << 20,
            &piece(&bytes, 6000, 100, "text/plain"),
        )
        .unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::FailedPrecondition);
        assert!(
            wrong.message().contains("from offset 5000"),
            "{}",
            wrong.message()
        );
        assert_eq!(
            put_piece(
                &store,
                "dortmund",
                1 << 20,
                &piece(&bytes, 5000, 5000, "text/plain")
            )
            .unwrap(),
            10_000
        );
        assert!(finish(&store, "dortmund", &sha).unwrap());
        assert_eq!(status(&store, &sha, "dortmund").unwrap(), (true, 0));
        assert_eq!(stored(&store).unwrap(), (1, 10_000));
        let digest = digest_of(&sha).unwrap();
        let mut read = Vec::new();
        while let Some((start, data)) = piece_at(&store, &digest, read.len() as u64).unwrap() {
            assert_eq!(start, read.len() as u64);
            read.extend(data);
        }
        assert_eq!(read, bytes);
        // Read from the middle of a piece.
        assert_eq!(
            piece_at(&store, &digest, 7000).unwrap().unwrap().1,
            bytes[7000..].to_vec()
        );
        // erfurt uploads the same bytes whole: still one copy, two holders.
        put_piece(
            &store,
            "erfurt",
            1 << 20,
            &piece(&bytes, 0, 10_000, "text/plain"),
        )
        .unwrap();
        assert!(finish(&store, "erfurt", &sha).unwrap());
        assert_eq!(stored(&store).unwrap(), (1, 10_000));
        assert_eq!(status(&store, &sha, "erfurt").unwrap(), (true, 0));
    }

    /// Bytes that do not hash to the file's name are dropped; a type that does not match the
    /// first bytes and a file above the limit are refused before anything is stored.
    #[test]
    fn wrong_bytes_types_and_sizes_store_nothing() {
        let store = MemoryStore::new();
        let bytes = text(100);
        let mut lying = piece(&bytes, 0, 100, "text/plain");
        lying.sha256 = hex(&Sha256::digest(b"something else"));
        lying.size = 100;
        put_piece(&store, "dortmund", 1 << 20, &lying).unwrap();
        let refused = finish(&store, "dortmund", &lying.sha256).unwrap_err();
        assert!(
            refused.message().contains("hash to"),
            "{}",
            refused.message()
        );
        assert_eq!(stored(&store).unwrap(), (0, 0));
        let (start, end) = keys::prefix_range(keys::UPLOAD);
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
        let pdf = piece(b"%PDF-1.7", 0, 8, "image/png");
        assert_eq!(
            put_piece(&store, "dortmund", 1 << 20, &pdf)
                .unwrap_err()
                .code(),
            tonic::Code::InvalidArgument
        );
        let big = piece(&bytes, 0, 100, "text/plain");
        let refused = put_piece(&store, "dortmund", 99, &big).unwrap_err();
        assert!(
            refused.message().contains("limits.max_file_bytes"),
            "{}",
            refused.message()
        );
        assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    }

    /// A file goes when the last comment carrying it drops it, not before, and a ref the same
    /// batch writes back keeps it.
    #[test]
    fn a_file_goes_with_its_last_reference() {
        let store = MemoryStore::new();
        let bytes = text(300);
        let sha = hex(&Sha256::digest(&bytes));
        put_piece(
            &store,
            "dortmund",
            1 << 20,
            &piece(&bytes, 0, 300, "text/plain"),
        )
        .unwrap();
        finish(&store, "dortmund", &sha).unwrap();
        let digest = digest_of(&sha).unwrap();
        let first = keys::file_ref(&digest, "ASZ-2026-000001", "dortmund-1");
        let second = keys::file_ref(&digest, "ASZ-2026-000002", "dortmund-7");
        let mut batch = Batch::default();
        batch.put(first.clone(), Vec::new());
        batch.put(second.clone(), Vec::new());
        store.apply(batch).unwrap();
        // Dropping one of two keeps the file.
        let mut batch = Batch::default();
        batch.delete(first.clone());
        collect(&store, &mut batch, &[(digest, first.clone())]).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap().0, 1);
        // Dropping the last one while the batch puts another back keeps it too.
        let third = keys::file_ref(&digest, "ASZ-2026-000003", "munich-2");
        let mut batch = Batch::default();
        batch.delete(second.clone());
        batch.put(third.clone(), Vec::new());
        collect(&store, &mut batch, &[(digest, second.clone())]).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap().0, 1);
        // Dropping the last one deletes bytes, meta and holders.
        let mut batch = Batch::default();
        batch.delete(third.clone());
        collect(&store, &mut batch, &[(digest, third)]).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(stored(&store).unwrap(), (0, 0));
        assert!(piece_at(&store, &digest, 0).unwrap().is_none());
        assert_eq!(status(&store, &sha, "dortmund").unwrap(), (false, 0));
    }
}
