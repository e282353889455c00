//! Receiving a site's upload in pieces and finishing it into one stored copy.

use super::*;

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
        // Finished already (by a status answer between the last piece and this call): stored
        // when the site holds the whole file.
        return Ok(meta(store, &digest)?.is_some()
            && store.get(&keys::file_holder(&digest, site))?.is_some());
    };
    if up.received < up.size {
        return Ok(false);
    }
    // Hash first: nothing is written under the file's own keys before the bytes are known
    // to be the file's. Each piece's own hash is kept for the copy below.
    let mut hasher = Sha256::new();
    let mut staged: Vec<(Vec<u8>, [u8; 32])> = Vec::new();
    let mut total = 0u64;
    each_under(store, &keys::upload_pieces(&digest, site), |key, data| {
        hasher.update(&data);
        total += data.len() as u64;
        staged.push((key, Sha256::digest(&data).into()));
        Ok(())
    })?;
    let got = hex(&hasher.finalize());
    let mut last = Batch::default();
    last.delete(keys::upload_meta(&digest, site));
    for (key, _) in &staged {
        last.delete(key.clone());
    }
    if got != sha256 || total != up.size {
        store.apply(last)?;
        let wrong = if got == sha256 {
            format!(
                "the pieces uploaded hold {total} bytes, the upload was started for {}",
                up.size
            )
        } else {
            format!(
                "the {} bytes uploaded hash to {got}, not to {sha256}",
                up.size
            )
        };
        return Err(Status::invalid_argument(format!(
            "{wrong}; nothing was kept, upload again from offset 0"
        )));
    }
    if meta(store, &digest)?.is_none() {
        // The copy, re-cut into fixed pieces, a few at a time; the meta record last, so a
        // file is whole once it is seen. Each piece is checked against its hash above before
        // a byte of it is written: gateways sharing a store do not see each other's claims,
        // so another one's sweep may delete the upload, or the site start it again there,
        // between the hash and the copy. What is written is then still the start of the file
        // (the same bytes any other gateway's copy of it writes), and no meta record is.
        let piece = usize::try_from(PIECE).unwrap_or(usize::MAX);
        let mut pending: Vec<u8> = Vec::new();
        let mut index = 0u64;
        let mut batch = Batch::default();
        let mut checked = staged.iter();
        let mut changed = false;
        each_under(store, &keys::upload_pieces(&digest, site), |key, data| {
            let same = checked.next().is_some_and(|(hashed, hash)| {
                *hashed == key && <[u8; 32]>::from(Sha256::digest(&data)) == *hash
            });
            changed |= !same;
            if changed {
                return Ok(());
            }
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
        if changed || checked.next().is_some() {
            // What was copied stays without a meta record, so it is never served.
            return Err(Status::aborted(format!(
                "the upload of {sha256} changed while it was being stored (expired and \
                 deleted, or started again, through another gateway replica); no file was \
                 stored, upload again from offset 0"
            )));
        }
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
