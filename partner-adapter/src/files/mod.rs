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
use tokio::sync::{Mutex, RwLock};
use tonic::transport::Channel;

use crate::config::{FetchMode, FilesConfig};
use crate::error::{Error, Result};
use crate::replica::Replica;

mod keeper;
mod receive;
mod transfer;

pub use keeper::{keep_once, keeper};

/// How long an uploaded file waits for a comment to name it before it is deleted.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(3600);

/// The size of the pieces a site uploads.
pub const PIECE: usize = 256 * 1024;

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
        })
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
