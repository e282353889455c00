//! Receiving a file from a tool: streamed to disk, counted, hashed and checked.

use super::*;

impl Files {
    /// Receives a file from a tool: streams `body` to disk while counting and hashing it,
    /// checks the declared type against its first bytes, and keeps it under `uploads/`
    /// (or not at all when the same bytes are here already). 413 past the size limit, 415 for
    /// a type not allowed or not matching; nothing is kept then.
    pub async fn receive(&self, body: axum::body::Body, declared: &str) -> Result<StoredFile> {
        attachment::check_type(declared).map_err(|e| {
            Error::UnsupportedType(format!("Content-Type: {e}; nothing was stored"))
        })?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| Error::NoRandomness(format!("no randomness for a file name: {e}")))?;
        let temp = self.dir.join("incoming").join(hex(&random));
        let result = self.receive_into(body, declared, &temp).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn receive_into(
        &self,
        body: axum::body::Body,
        declared: &str,
        temp: &Path,
    ) -> Result<StoredFile> {
        let max = self.config.max_bytes;
        let mut out = tokio::fs::File::create(temp)
            .await
            .map_err(|e| io(temp, "create", e))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::new();
        let mut checked = false;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::BadRequest(format!("reading the body: {e}")))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::TooLarge(format!(
                    "the file is larger than this site takes: at most {max} bytes \
                     (files.max_bytes); nothing was stored"
                )));
            }
            if !checked {
                head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
                if head.len() >= SNIFF_BYTES {
                    check_declared(declared, &head)?;
                    checked = true;
                }
            }
            hasher.update(&chunk);
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(|e| io(temp, "write", e))?;
        }
        if size == 0 {
            return Err(Error::BadRequest(
                "the body is empty; send the file's bytes as the request body".into(),
            ));
        }
        if !checked {
            check_declared(declared, &head)?;
        }
        out.sync_all().await.map_err(|e| io(temp, "sync", e))?;
        drop(out);
        let sha256 = hex(&hasher.finalize());
        let existing = self.file(&sha256);
        let content_type = match &existing {
            // The same bytes are here: keep that copy (and its type), drop this one.
            Some(path) => {
                let _ = tokio::fs::remove_file(temp).await;
                // A copy waiting in uploads/ is fresh again: the hour starts anew.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                tokio::fs::read_to_string(type_path(path))
                    .await
                    .unwrap_or_else(|_| declared.to_owned())
            }
            None => {
                let target = self.upload_path(&sha256);
                tokio::fs::write(type_path(&target), declared)
                    .await
                    .map_err(|e| io(&target, "write the type of", e))?;
                tokio::fs::rename(temp, &target)
                    .await
                    .map_err(|e| io(&target, "store", e))?;
                sync_dir(&self.dir.join("uploads"))?;
                declared.to_owned()
            }
        };
        Ok(StoredFile {
            sha256,
            size,
            content_type,
        })
    }
}

fn check_declared(declared: &str, head: &[u8]) -> Result<()> {
    check_content(declared, head)
        .map_err(|e| Error::UnsupportedType(format!("{e}; nothing was stored")))
}
