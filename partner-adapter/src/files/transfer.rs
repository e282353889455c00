//! Moving files between the site and the gateway: uploads before a push, downloads on a
//! read (or at once, eager), each resuming where a cut one stopped.

use super::*;

impl Files {
    /// Makes sure the gateway holds `file` from this site, uploading it (from where a cut
    /// upload stopped) when not. False when the site does not hold the file itself (the push
    /// then meets the gateway's refusal, rule `file_uploaded`).
    pub async fn upload(
        &self,
        client: &mut FederationClient<Channel>,
        file: &AttachmentRef,
    ) -> Result<bool> {
        let Some(path) = self.file(&file.sha256) else {
            return Ok(false);
        };
        let status = client
            .file_status(pb::FileStatusRequest {
                sha256: file.sha256.clone(),
            })
            .await
            .map_err(|s| gateway("file status", &s))?
            .into_inner();
        if status.stored {
            return Ok(true);
        }
        let offset = status.offset.min(file.size);
        let pieces = read_pieces(&path, offset, file).await?;
        let response = match client.put_file(pieces).await {
            Ok(response) => response.into_inner(),
            // A refusal for good (too large for the gateway, a type it does not take): the
            // push goes on and the gateway parks the comment (rule file_uploaded), instead of
            // the session ending over it again and again.
            Err(refused) if refused.code() == tonic::Code::InvalidArgument => {
                tracing::warn!(sha256 = %file.sha256, reason = %refused.message(), "the gateway refused the file; its comment will be refused too");
                return Ok(false);
            }
            Err(status) => return Err(gateway("file upload", &status)),
        };
        if !response.stored {
            return Err(Error::Gateway(format!(
                "file upload of {} ended at byte {} of {}; it resumes there at the next try",
                file.sha256, response.received, file.size
            )));
        }
        tracing::info!(sha256 = %file.sha256, from = offset, "file uploaded");
        Ok(true)
    }

    /// Fetches `file` from the gateway unless it is here, resuming a cut download.
    pub async fn fetch(&self, file: &AttachmentRef) -> Result<PathBuf> {
        let lock = self
            .downloads
            .lock()
            .entry(file.sha256.clone())
            .or_default()
            .clone();
        let _one = lock.lock().await;
        let fetched = self.fetch_locked(file).await;
        self.downloads.lock().remove(&file.sha256);
        fetched
    }

    async fn fetch_locked(&self, file: &AttachmentRef) -> Result<PathBuf> {
        if let Some(path) = self.file(&file.sha256) {
            return Ok(path);
        }
        let Some(mut client) = self.client.lock().clone() else {
            return Err(Error::Gateway(format!(
                "the file {} is not at this site yet and the gateway cannot be reached now; \
                 try again once the site is connected",
                file.sha256
            )));
        };
        let partial = self.partial_path(&file.sha256);
        let mut have = std::fs::metadata(&partial).map_or(0, |m| m.len());
        if have > file.size {
            let _ = std::fs::remove_file(&partial);
            have = 0;
        }
        if have < file.size {
            let mut stream = client
                .get_file(pb::GetFileRequest {
                    sha256: file.sha256.clone(),
                    offset: have,
                })
                .await
                .map_err(|s| gateway("file download", &s))?
                .into_inner();
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&partial)
                .map_err(|e| io(&partial, "open", e))?;
            while let Some(chunk) = stream
                .message()
                .await
                .map_err(|s| gateway("file download", &s))?
            {
                if chunk.offset != have {
                    return Err(Error::Gateway(format!(
                        "file download: a piece at offset {} where {have} was expected",
                        chunk.offset
                    )));
                }
                out.write_all(&chunk.data)
                    .map_err(|e| io(&partial, "write", e))?;
                have += chunk.data.len() as u64;
            }
            out.sync_all().map_err(|e| io(&partial, "sync", e))?;
        }
        let got = hash_file(&partial)?;
        if got != file.sha256 || have != file.size {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::Gateway(format!(
                "file download: {have} bytes hashing to {got} arrived for {} ({} bytes); \
                 dropped, fetched again on the next read",
                file.sha256, file.size
            )));
        }
        let target = self.path(&file.sha256);
        std::fs::write(type_path(&target), &file.content_type)
            .map_err(|e| io(&target, "write the type of", e))?;
        std::fs::rename(&partial, &target).map_err(|e| io(&target, "store", e))?;
        sync_dir(&self.dir)?;
        Ok(target)
    }
}

fn gateway(what: &str, status: &tonic::Status) -> Error {
    Error::Gateway(format!(
        "{what}: {} ({:?})",
        status.message(),
        status.code()
    ))
}

fn hash_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| io(path, "open", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(path, "read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The upload pieces of `file` from `offset`, read from disk one [`PIECE`] at a time as the
/// upload goes (the first piece holds at least the gateway's sniff window).
async fn read_pieces(
    path: &Path,
    offset: u64,
    file: &AttachmentRef,
) -> Result<impl futures_util::Stream<Item = pb::FilePiece> + Send + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut source = tokio::fs::File::open(path)
        .await
        .map_err(|e| io(path, "open", e))?;
    source
        .seek(SeekFrom::Start(offset))
        .await
        .map_err(|e| io(path, "seek in", e))?;
    let (sha256, size, content_type) = (file.sha256.clone(), file.size, file.content_type.clone());
    let path = path.to_path_buf();
    Ok(futures_util::stream::unfold(
        Some((source, offset)),
        move |state| {
            let (sha256, content_type, path) = (sha256.clone(), content_type.clone(), path.clone());
            async move {
                let (mut source, at) = state?;
                let mut data = vec![0u8; PIECE];
                let mut filled = 0;
                while filled < PIECE {
                    match source.read(&mut data[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(error) => {
                            // The upload ends short; the gateway keeps what arrived.
                            tracing::warn!(%error, path = %path.display(), "file read failed");
                            break;
                        }
                    }
                }
                if filled == 0 {
                    return None;
                }
                data.truncate(filled);
                let piece = pb::FilePiece {
                    sha256,
                    size,
                    content_type,
                    offset: at,
                    data,
                };
                Some((piece, Some((source, at + filled as u64))))
            }
        },
    ))
}
