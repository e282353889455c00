//! The keeper: fetches received files (eager sites) and deletes what no record names.

use super::*;

/// How often the keeper looks at the files even when nothing told it to.
const KEEP_EVERY: Duration = Duration::from_secs(60);

/// The first wait before the keeper tries again a file it could not fetch; doubled after each
/// failed try, up to [`KEEP_EVERY`].
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// Runs while the site is connected: fetches the files of received comments (eager sites) and
/// deletes the files nothing names any more, as soon as the session is up (eager sites: a
/// download the last one left unfinished), as soon as the store says references changed, and
/// every minute. A file it could not fetch, or a pass that failed (the files directory or
/// the store unreadable: logged and counted in `hotline_adapter_file_keeper_failures`), is
/// tried again after a second, then after twice as long each time up to the minute (changes
/// after a failed pass wait for that retry). It never ends the session: ticket sync goes on
/// whatever happens to the files.
pub async fn keeper(
    files: Arc<Files>,
    replica: Arc<Replica>,
    metrics: Arc<crate::metrics::AdapterMetrics>,
) -> std::convert::Infallible {
    // An eager site looks at once (a download the last session left unfinished); a lazy one
    // has nothing to fetch and waits for a change or the minute, as before.
    let now = tokio::time::Instant::now;
    let mut last_pass = (files.config.fetch != FetchMode::Eager).then(now);
    let mut retry: Option<(tokio::time::Instant, Duration)> = None;
    let mut failing = false;
    loop {
        let changed = replica.files_changed();
        let due = retry.is_some_and(|(at, _)| at <= now());
        let minute = last_pass.is_none_or(|at| at.elapsed() >= KEEP_EVERY);
        // After a failed pass a change waits for the retry: a broken files directory would
        // otherwise fail (and log) once per comment received.
        if due || minute || (!failing && replica.take_files_changed()) {
            replica.take_files_changed();
            last_pass = Some(now());
            let passed = keep_once(&files, &replica).await;
            failing = passed.is_err();
            let again = match passed {
                Ok(complete) => !complete,
                Err(error) => {
                    tracing::warn!(%error, "the file keeper's pass failed; it tries again");
                    metrics.file_keeper_failures.inc();
                    true
                }
            };
            retry = again.then(|| {
                let wait = retry.map_or(RETRY_FIRST, |(_, last)| (last * 2).min(KEEP_EVERY));
                (now() + wait, wait)
            });
        }
        let minute_at = last_pass.map_or_else(now, |at| at + KEEP_EVERY);
        let wake_at = retry.map_or(minute_at, |(at, _)| at.min(minute_at));
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(wake_at) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilesConfig;
    use crate::metrics::AdapterMetrics;

    struct Site {
        dir: tempfile::TempDir,
        replica: Arc<Replica>,
        metrics: Arc<AdapterMetrics>,
        keeper: tokio::task::JoinHandle<std::convert::Infallible>,
    }

    /// A lazy site's keeper, started (it waits for a change or the minute).
    fn site() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let replica = Arc::new(Replica::open(dir.path(), "munich", "acme", 60_000).unwrap());
        let files = Arc::new(Files::open(dir.path(), &FilesConfig::default()).unwrap());
        let metrics = Arc::new(AdapterMetrics::new("acme", "munich"));
        let keeper = tokio::spawn(keeper(files, replica.clone(), metrics.clone()));
        Site {
            dir,
            replica,
            metrics,
            keeper,
        }
    }

    /// A file no record names, put into the site's files.
    fn unnamed(site: &Site, fill: char) -> PathBuf {
        let path = site
            .dir
            .path()
            .join("files")
            .join(fill.to_string().repeat(64));
        std::fs::write(&path, b"nobody names me").unwrap();
        path
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("waited 10 s for {what}");
    }

    /// A change of the store's file references wakes the keeper at once, not at its minute.
    #[tokio::test]
    async fn the_keeper_wakes_when_references_change() {
        let site = site();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let path = unnamed(&site, 'a');
        site.replica.note_files_changed();
        until("the unnamed file to go", || !path.exists()).await;
        assert!(!site.keeper.is_finished());
    }

    /// A pass that fails (a directory of the site's files gone) is counted and tried again
    /// after a second; the keeper, and with it the sync session, goes on, and once the
    /// directory is back the next try does the pass's work.
    #[tokio::test]
    async fn a_failing_pass_is_tried_again_and_ends_no_session() {
        let site = site();
        let partial = site.dir.path().join("files").join("partial");
        std::fs::remove_dir(&partial).unwrap();
        site.replica.note_files_changed();
        until("a failed pass to be counted", || {
            site.metrics.file_keeper_failures.get() >= 1
        })
        .await;
        assert!(
            !site.keeper.is_finished(),
            "the keeper ended on a failed pass"
        );
        // Changes meanwhile wait for the retry instead of each failing (and logging) again.
        let failed = site.metrics.file_keeper_failures.get();
        for _ in 0..20 {
            site.replica.note_files_changed();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        assert!(
            site.metrics.file_keeper_failures.get() <= failed + 1,
            "a failing keeper ran a pass for each change: {} failures after {failed}",
            site.metrics.file_keeper_failures.get()
        );
        std::fs::create_dir(&partial).unwrap();
        let path = unnamed(&site, 'b');
        until("the retried pass to delete the unnamed file", || {
            !path.exists()
        })
        .await;
        assert!(!site.keeper.is_finished());
    }
}
