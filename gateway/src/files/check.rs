//! The writer's check of the files a change names (rule `file_uploaded`, leak guard).

use super::*;

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
