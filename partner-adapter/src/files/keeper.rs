//! The keeper: fetches received files (eager sites) and deletes what no record names.

use super::*;

/// How often the keeper looks at the files even when nothing told it to.
const KEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs while the site is connected: fetches the files of received comments (eager sites) and
/// deletes the files nothing names any more, whenever the store says references changed (and
/// every minute).
pub async fn keeper(files: Arc<Files>, replica: Arc<Replica>) -> Result<()> {
    let mut last_pass = tokio::time::Instant::now();
    loop {
        let woken = files.wake.notified();
        if replica.take_files_changed() {
            keep_once(&files, &replica).await?;
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if last_pass.elapsed() >= KEEP_EVERY {
            last_pass = tokio::time::Instant::now();
            keep_once(&files, &replica).await?;
        }
    }
}

/// One pass of the keeper: what the store names, fetched (eager), then the rest deleted.
pub async fn keep_once(files: &Arc<Files>, replica: &Arc<Replica>) -> Result<()> {
    let connected = files.client.lock().is_some();
    if connected && files.config.fetch == FetchMode::Eager {
        let reader = replica.clone();
        let named: BTreeMap<String, AttachmentRef> =
            tokio::task::spawn_blocking(move || reader.file_refs())
                .await
                .map_err(|e| Error::Storage(format!("file scan task: {e}")))??;
        for file in named.values() {
            if !files.has(&file.sha256) {
                if let Err(error) = files.fetch(file).await {
                    tracing::warn!(%error, sha256 = %file.sha256, "file not fetched yet");
                }
            }
        }
    }
    let removed = files.collect(replica).await?;
    if removed > 0 {
        tracing::info!(removed, "files no record names any more deleted");
    }
    Ok(())
}
