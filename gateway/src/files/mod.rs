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
use hotline_federation::visibility::{Directory, redact};
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::{Batch, Pages, Store, Write, keys};

mod check;
mod claims;
mod read;
mod refs;
mod sweep;
#[cfg(test)]
mod tests;
mod upload;

pub use check::check_change;
pub use claims::{Claim, Claims, while_held};
pub use read::{piece_at, pieces, readable};
pub use refs::{collect, named_by, names_files, not_taken, put_refs, refs_of, release_refused};
#[cfg(test)]
pub use sweep::sweep;
pub use sweep::{Candidates, candidates, spawn_sweeper, stored, sweep_these};
pub use upload::{finish, put_piece};

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
    each: impl FnMut(Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<()> {
    each_under_by(store, prefix, 4, each)
}

/// Calls `each` with every entry under `prefix`, reading `page` entries at a time (small
/// records: many at once; pieces: a few).
fn each_under_by(
    store: &dyn Store,
    prefix: &[u8],
    page: usize,
    mut each: impl FnMut(Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut pages = Pages::new(prefix.to_vec(), keys::prefix_end(prefix), page);
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
