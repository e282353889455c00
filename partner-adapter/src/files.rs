//! Files at a site (DESIGN.md section 8b): the bytes of the files this site's comments carry,
//! one copy per SHA-256, in `<data_dir>/files/`, beside the sled store.
//!
//! - `files/<sha256>` holds a whole, verified file, and `files/<sha256>.type` its content type;
//! - `files/uploads/<sha256>` (and `.type`) a file a tool uploaded (`POST /v1/files`) that no
//!   comment names yet: a comment that names it moves it to `files/`; one no comment takes
//!   within [`UPLOAD_GRACE`] is deleted;
//! - `files/partial/<sha256>` a download from the gateway under way: a cut one resumes from its
//!   length;
//! - `files/incoming/` uploads being received from a tool (removed at start).
//!
//! The keeper ([`keeper`]) runs while the site is connected: it uploads nothing (the pusher
//! uploads a change's files before the change, [`Files::upload`]), fetches the files of
//! received comments when `files.fetch = "eager"`, and deletes every file no record of the
//! store names any more (a purge, an erasure), so an erased file leaves the data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hotline_federation::attachment::{self, AttachmentRef, SNIFF_BYTES, check_content, hex};
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Notify, RwLock};
use tonic::transport::Channel;

use crate::config::{FetchMode, FilesConfig};
use crate::error::{Error, Result};
use crate::replica::Replica;

/// How long an uploaded file waits for a comment to name it before it is deleted.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(3600);

/// The size of the pieces a site uploads.
pub const PIECE: usize = 256 * 1024;

/// How often the keeper looks at the files even when nothing told it to.
const KEEP_EVERY: Duration = Duration::from_secs(60);

/// A file stored at the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The content type checked against the bytes.
    pub content_type: String,
}

/// The site's files.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    config: FilesConfig,
    /// Held shared while a comment naming a file is written, exclusively while unnamed files
    /// are deleted: the keeper never deletes a file a comment is being written with.
    naming: RwLock<()>,
    /// One download per file at a time (a second reader of the same file waits and finds it
    /// there); downloads of different files run side by side.
    downloads: parking_lot::Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    /// The gateway connection while the site is connected (lazy fetches use it).
    client: parking_lot::Mutex<Option<FederationClient<Channel>>>,
    /// Wakes the keeper.
    pub wake: Notify,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Storage(format!("files: cannot {what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, "sync", e))
}

impl Files {
    /// Opens (creates) `<data_dir>/files`, removing unfinished uploads from tools.
    pub fn open(data_dir: &Path, config: &FilesConfig) -> Result<Files> {
        let dir = data_dir.join("files");
        for sub in ["uploads", "partial", "incoming"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| io(&path, "create", e))?;
        }
        let incoming = dir.join("incoming");
        let _ = std::fs::remove_dir_all(&incoming);
        std::fs::create_dir_all(&incoming).map_err(|e| io(&incoming, "create", e))?;
        Ok(Files {
            dir,
            config: config.clone(),
            naming: RwLock::new(()),
            downloads: parking_lot::Mutex::new(BTreeMap::new()),
            client: parking_lot::Mutex::new(None),
            wake: Notify::new(),
        })
    }

    /// The largest file the site takes.
    pub fn max_bytes(&self) -> u64 {
        self.config.max_bytes
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    fn upload_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("uploads").join(sha256)
    }

    fn partial_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("partial").join(sha256)
    }

    /// True when the whole file is here (named by a record of the store).
    pub fn has(&self, sha256: &str) -> bool {
        attachment::is_sha256_hex(sha256) && self.path(sha256).is_file()
    }

    /// The whole file's path, when it is here: under `files/`, or still under `uploads/` (a
    /// comment naming it was just written and [`Files::settle`] has not moved it yet).
    pub fn file(&self, sha256: &str) -> Option<PathBuf> {
        if !attachment::is_sha256_hex(sha256) {
            return None;
        }
        [self.path(sha256), self.upload_path(sha256)]
            .into_iter()
            .find(|p| p.is_file())
    }

    /// Sets (or clears, when disconnected) the gateway connection lazy fetches use.
    pub fn set_client(&self, client: Option<FederationClient<Channel>>) {
        *self.client.lock() = client;
    }

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

    /// The file `sha256` a comment is about to name: its size and type; 422 when the site
    /// holds no such file. Nothing moves yet ([`Files::settle`] does, once the comment is
    /// written), so a refused comment leaves the upload where it was. Call it while holding
    /// [`Files::naming`] shared, until the comment is written and settled.
    pub fn adopt(&self, sha256: &str) -> Result<StoredFile> {
        let unknown = || {
            Error::Domain(hotline_federation::Error::invalid(
                "attachments",
                format!(
                    "this site holds no file {sha256:?}; upload it first (POST /v1/files) and \
                     name the sha256 it answers"
                ),
            ))
        };
        if !attachment::is_sha256_hex(sha256) {
            return Err(unknown());
        }
        let path = self.file(sha256).ok_or_else(unknown)?;
        let size = std::fs::metadata(&path)
            .map_err(|e| io(&path, "read", e))?
            .len();
        let content_type = std::fs::read_to_string(type_path(&path))
            .map_err(|e| io(&path, "read the type of", e))?;
        Ok(StoredFile {
            sha256: sha256.to_owned(),
            size,
            content_type,
        })
    }

    /// Moves an upload a comment now names into `files/`, where it stays while a record of the
    /// store names it.
    pub fn settle(&self, sha256: &str) -> Result<()> {
        let (target, upload) = (self.path(sha256), self.upload_path(sha256));
        if target.is_file() || !upload.is_file() {
            return Ok(());
        }
        std::fs::rename(type_path(&upload), type_path(&target))
            .map_err(|e| io(&target, "store the type of", e))?;
        std::fs::rename(&upload, &target).map_err(|e| io(&target, "store", e))?;
        sync_dir(&self.dir)
    }

    /// The lock a comment naming files is written under (shared), see [`Files::adopt`].
    pub async fn naming(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.naming.read().await
    }

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

    /// Deletes every file no record of `replica` names, every unfinished download of such a
    /// file, and uploads no comment took within [`UPLOAD_GRACE`]. The names are read while no
    /// comment naming a file is being written ([`Files::naming`] held exclusively), so a file a
    /// comment was just written with is named. Answers how many files went.
    pub async fn collect(&self, replica: &Arc<Replica>) -> Result<usize> {
        let _exclusive = self.naming.write().await;
        let reader = replica.clone();
        let named: BTreeSet<String> = tokio::task::spawn_blocking(move || reader.file_refs())
            .await
            .map_err(|e| Error::Storage(format!("file scan task: {e}")))??
            .into_keys()
            .collect();
        let mut removed = 0;
        for (sub, grace) in [
            (None, Duration::ZERO),
            (Some("partial"), Duration::ZERO),
            (Some("uploads"), UPLOAD_GRACE),
        ] {
            let dir = sub.map_or_else(|| self.dir.clone(), |s| self.dir.join(s));
            let entries = std::fs::read_dir(&dir).map_err(|e| io(&dir, "list", e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let sha = name.strip_suffix(".type").unwrap_or(&name);
                if !attachment::is_sha256_hex(sha) {
                    continue;
                }
                if named.contains(sha) {
                    // A named upload (its comment was written, the move was not): moved now.
                    if sub == Some("uploads") && !name.ends_with(".type") {
                        self.settle(sha)?;
                    }
                    continue;
                }
                let young = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|age| age < grace);
                if young {
                    continue;
                }
                if std::fs::remove_file(entry.path()).is_ok() && !name.ends_with(".type") {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// How many whole files the site holds and their bytes (each stored once).
    pub fn stored(&self) -> (u64, u64) {
        let mut files = 0;
        let mut bytes = 0;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if attachment::is_sha256_hex(&name) {
                    files += 1;
                    bytes += entry.metadata().map_or(0, |m| m.len());
                }
            }
        }
        (files, bytes)
    }
}

fn type_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".type");
    PathBuf::from(name)
}

fn check_declared(declared: &str, head: &[u8]) -> Result<()> {
    check_content(declared, head)
        .map_err(|e| Error::UnsupportedType(format!("{e}; nothing was stored")))
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
