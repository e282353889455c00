//! The keeper: fetches received files (eager sites) and deletes what no record names.

use super::*;

/// How often the keeper looks at the files even when nothing told it to.
const KEEP_EVERY: Duration = Duration::from_secs(60);

/// The first wait before the keeper tries again a file it could not fetch; doubled after each
/// failed try, up to [`KEEP_EVERY`].
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// Runs while the site is connected: fetches the files of received comments (eager sites) and
/// deletes the files nothing names any more, as soon as the session is up (eager sites: a
/// download the last one left unfinished), whenever the store says references changed, and
/// every minute. A file it could not fetch is tried again after a second, then after twice as
/// long each time, instead of waiting for the minute's pass.
pub async fn keeper(files: Arc<Files>, replica: Arc<Replica>) -> Result<()> {
    // An eager site looks at once (a download the last session left unfinished); a lazy one
    // has nothing to fetch and waits for a change or the minute, as before.
    let mut last_pass = (files.config.fetch != FetchMode::Eager).then(tokio::time::Instant::now);
    let mut retry: Option<(tokio::time::Instant, Duration)> = None;
    loop {
        let woken = files.wake.notified();
        let due = retry.is_some_and(|(at, _)| at <= tokio::time::Instant::now());
        let minute = last_pass.is_none_or(|at| at.elapsed() >= KEEP_EVERY);
        if replica.take_files_changed() || due || minute {
            last_pass = Some(tokio::time::Instant::now());
            retry = if keep_once(&files, &replica).await? {
                None
            } else {
                let wait = retry.map_or(RETRY_FIRST, |(_, last)| (last * 2).min(KEEP_EVERY));
                Some((tokio::time::Instant::now() + wait, wait))
            };
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// One pass of the keeper: what the store names, fetched (eager), then the rest deleted. False
/// when a named file could not be fetched (it is tried again later).
pub async fn keep_once(files: &Arc<Files>, replica: &Arc<Replica>) -> Result<bool> {
    let mut complete = true;
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
                    complete = false;
                }
            }
        }
    }
    let removed = files.collect(replica).await?;
    if removed > 0 {
        tracing::info!(removed, "files no record names any more deleted");
    }
    Ok(complete)
}
