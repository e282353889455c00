//! Reading a stored file back: who may, and its pieces.

use super::*;

/// The file `tenant` may read under `sha256`: one a comment carries that the tenant sees as
/// redacted for it under `directory`. `None` is the answer for a foreign file and for a missing
/// one alike. The caller judges by the rules the store was written by (`writer::rules`).
pub fn readable(
    state: &GatewayState,
    tenant: &str,
    sha256: &str,
    directory: &Directory,
) -> std::result::Result<Option<([u8; 32], FileMeta)>, Status> {
    let Some(digest) = digest_of(sha256) else {
        return Ok(None);
    };
    let store = state.store.as_ref();
    let Some(meta) = meta(store, &digest)? else {
        return Ok(None);
    };
    let prefix = keys::file_prefix(keys::FILE_REF, &digest);
    let tickets: BTreeSet<String> = store
        .range(&prefix, &keys::prefix_end(&prefix), usize::MAX)?
        .iter()
        .filter_map(|(key, _)| keys::parse_file_ref(key).map(str::to_owned))
        .collect();
    for id in tickets {
        let ticket = state.entity(&EntityKey::new(EntityKind::Ticket, id))?;
        let carried = redact(tenant, &ticket, directory).is_some_and(|view| {
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
