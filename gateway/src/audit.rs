//! The audit trail's I/O around `hotline_federation::audit`: the gateway's Ed25519 signing key
//! (a file, generated on first start), the task that signs a checkpoint at a fixed interval,
//! and reading and verifying the trail in the store. Entries are written only by the writer
//! (see [`crate::writer::audit`]), in the same batch as what they record.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hotline_federation::audit::{Broken, ChainCheck, Entry, Head, Problem, SignedCheckpoint, link};
use hotline_proto::v1 as pb;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::{Pages, Store, keys};

/// The gateway's audit signing key: the Ed25519 seed and its public key.
#[derive(Clone)]
pub struct AuditKey {
    secret: [u8; 32],
    /// The public key sites verify checkpoints with.
    pub public: [u8; 32],
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("AuditKey")
            .field("public", &hotline_federation::audit::hex(&self.public))
            .finish()
    }
}

impl AuditKey {
    /// A key from its 32-byte seed.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        AuditKey {
            public: hotline_federation::audit::public_key(&secret),
            secret,
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Unavailable(format!("no randomness for the audit key: {e}")))?;
        Ok(AuditKey::from_secret(secret))
    }

    /// The seed, for the writer to sign with.
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }

    /// Reads the key file at `path` (64 hex digits, the seed), or creates it with a fresh key
    /// and mode 0600 when it does not exist. An unreadable or malformed file is refused.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let problem = |problem: String| Error::File {
            path: path.to_path_buf(),
            problem,
        };
        match std::fs::read(path) {
            Ok(raw) => {
                let text = std::str::from_utf8(&raw)
                    .map_err(|_| problem("the audit signing key is not text".into()))?
                    .trim();
                let secret = hotline_federation::audit::parse_hex32("audit signing key", text)
                    .map_err(|e| {
                        problem(format!(
                            "{e}; the file must hold the Ed25519 seed as 64 hex digits \
                             (delete it to have a new key generated)"
                        ))
                    })?;
                Ok(AuditKey::from_secret(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = AuditKey::generate()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| problem(format!("cannot create its directory: {e}")))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options
                    .open(path)
                    .map_err(|e| problem(format!("cannot create the audit signing key: {e}")))?;
                file.write_all(hotline_federation::audit::hex(&key.secret).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| problem(format!("cannot write the audit signing key: {e}")))?;
                tracing::info!(path = %path.display(), "generated the audit signing key");
                Ok(key)
            }
            Err(e) => Err(problem(format!("cannot read the audit signing key: {e}"))),
        }
    }
}

/// Loads (or creates) the configured key off the async runtime; a memory store without a
/// configured key gets a key that lives as long as the process, like its trail.
pub async fn load_key(path: PathBuf, ephemeral: bool) -> Result<AuditKey> {
    if ephemeral {
        return AuditKey::generate();
    }
    tokio::task::spawn_blocking(move || AuditKey::load_or_create(&path))
        .await
        .map_err(|e| Error::Unavailable(format!("loading the audit key failed: {e}")))?
}

/// Signs a checkpoint every `audit.checkpoint_interval_secs` while the trail grew, until
/// `shutdown` (the last one is signed by [`GatewayState::close`]).
pub fn spawn_checkpoints(
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(state.config.audit.checkpoint_interval_secs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            match state.writer.checkpoint(state.audit_key.secret()).await {
                Ok(Some(signed)) => {
                    tracing::debug!(size = signed.checkpoint.size, "audit checkpoint signed");
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "audit checkpoint not signed"),
            }
        }
    })
}

/// Records one action that writes nothing else (a staff read, a status-page look-up) through
/// group commit; its receipt once durable. `detail` must never hold personal data.
pub async fn record(
    state: &GatewayState,
    actor: String,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<hotline_federation::audit::Receipt> {
    let record = hotline_federation::audit::Record {
        at_ms: state.now_ms(),
        actor,
        action: action.into(),
        subject: subject.into(),
        detail_json: detail.to_string(),
    };
    let mut receipts = state.writer.audit(vec![record]).await?;
    receipts
        .pop()
        .ok_or_else(|| Error::Storage("the writer answered an audit record with no receipt".into()))
}

/// Reads the entries `from..` (at most `limit`) in storage order, each decoded, or the
/// position of the key whose value does not decode.
pub fn read_entries(
    store: &dyn Store,
    from: u64,
    limit: usize,
) -> Result<Vec<std::result::Result<Entry, u64>>> {
    let (_, end) = keys::prefix_range(keys::AUDIT);
    Ok(store
        .range(&keys::audit(from), &end, limit)?
        .iter()
        .map(|(key, value)| decode_entry(key, value))
        .collect())
}

/// One stored entry decoded, or the position its key names when its bytes do not decode.
fn decode_entry(key: &[u8], value: &[u8]) -> std::result::Result<Entry, u64> {
    pb::AuditEntry::decode(value)
        .ok()
        .and_then(|wire| Entry::try_from(wire).ok())
        .ok_or_else(|| keys::parse_audit(key).unwrap_or(0))
}

/// The stored trail from key `first` on, a page of `size` entries at a time, paged by raw key
/// (a key of an unexpected shape or an entry's own number may have been tampered with).
fn trail_pages_from(first: Vec<u8>, size: usize) -> Pages {
    let (_, end) = keys::prefix_range(keys::AUDIT);
    Pages::new(first, end, size)
}

/// A page of the trail, decoded.
fn decoded(page: &[(Vec<u8>, Vec<u8>)]) -> Vec<std::result::Result<Entry, u64>> {
    page.iter().map(|(k, v)| decode_entry(k, v)).collect()
}

/// The outcome of verifying the stored trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Entries checked.
    pub checked: u64,
    /// The first broken entry, `None` when intact.
    pub broken: Option<Broken>,
}

/// Verifies a trail given whole (stored or exported) against the trail's recorded end (its
/// head counter, if known) and a signed checkpoint (checked with `public`).
pub fn verify_entries(
    entries: &[std::result::Result<Entry, u64>],
    recorded_end: Option<u64>,
    checkpoint: Option<&SignedCheckpoint>,
    public: &[u8; 32],
) -> Verdict {
    let mut pass = TrailPass::new(checkpoint);
    for (at, entry) in entries.iter().enumerate() {
        let later = |expected: u64| {
            entries[at + 1..]
                .iter()
                .any(|e| e.as_ref().is_ok_and(|e| e.seq == expected))
        };
        if let Some(broken) = pass.feed(entry, later) {
            return pass.broken_at(broken);
        }
    }
    pass.finish(recorded_end, checkpoint, public)
}

/// Entries read at a time when the stored trail is verified.
const VERIFY_CHUNK: usize = 4096;

/// Verifies the stored trail, its head counter and its latest signed checkpoint, reading
/// [`VERIFY_CHUNK`] entries at a time: the trail grows with every change, and the periodic
/// check (`hotline_audit_verify_ok`) must not hold it whole.
pub fn verify_store(store: &dyn Store, public: &[u8; 32]) -> Result<Verdict> {
    verify_store_in_chunks(store, public, VERIFY_CHUNK)
}

/// [`verify_store`] reading `chunk` entries at a time (at least one): the verdict does not
/// depend on it, which the tests check with small chunks.
pub fn verify_store_in_chunks(
    store: &dyn Store,
    public: &[u8; 32],
    chunk: usize,
) -> Result<Verdict> {
    Ok(verify_since_in_chunks(store, public, None, chunk)?.0)
}

/// Where a verify found the stored trail intact: its end then, and the hash it found at the
/// size of the checkpoint it checked. A later verify goes on from here
/// ([`verify_store_since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The last entry checked, with its hash.
    pub head: Head,
    /// The size of the checkpoint checked and the hash the trail held at that size.
    checkpoint: Option<(u64, [u8; 32])>,
}

/// Verifies the entries added since an earlier verify found the trail intact up to `since`
/// (or all of them, without it), with the trail's head counter and its latest checkpoint.
/// The entry at `since` is read again and must be unchanged (its position, its content's
/// hash, the hash recorded then); the entries before it are not read, so a change to one of
/// them is found only by the next verify of the whole trail. Answers the verdict and, when
/// intact, where the next verify may go on from.
pub fn verify_store_since(
    store: &dyn Store,
    public: &[u8; 32],
    since: Option<&Verified>,
) -> Result<(Verdict, Option<Verified>)> {
    verify_since_in_chunks(store, public, since, VERIFY_CHUNK)
}

fn verify_since_in_chunks(
    store: &dyn Store,
    public: &[u8; 32],
    since: Option<&Verified>,
    chunk: usize,
) -> Result<(Verdict, Option<Verified>)> {
    let head = crate::writer::audit::load_head(store)?;
    let checkpoint = crate::writer::audit::latest_checkpoint(store)?;
    let mut pass = TrailPass::new(checkpoint.as_ref());
    let mut first = keys::audit(0);
    if let Some(since) = since.filter(|v| v.head.seq > 0) {
        if let Some(broken) = changed_since(store, &since.head)? {
            return Ok((pass.broken_at(broken), None));
        }
        pass.check = ChainCheck::after(since.head);
        pass.hash_at_size = match (pass.size, since.checkpoint) {
            (Some(size), Some((at, hash))) if size == at => Some(hash),
            // A checkpoint signed, after the last verify read its checkpoint, for entries that
            // verify checked: the hash stored at its size (the chain up to `since` holds).
            (Some(size), _) if size <= since.head.seq => stored_hash(store, size)?,
            _ => None,
        };
        // Every key after the anchor's own, not from the next position's: a key slipped in
        // between (the anchor's key and a suffix) is read too.
        first = keys::audit(since.head.seq);
        first.push(0);
    }
    let mut pages = trail_pages_from(first, chunk);
    while let Some(page) = pages.next_page(store)? {
        let entries = decoded(&page);
        let failed = std::cell::RefCell::new(None);
        for (at, entry) in entries.iter().enumerate() {
            // Only a broken entry asks what comes later (reordered or removed?): the rest of
            // this chunk, then the rest of the store, a chunk at a time.
            let later = |expected: u64| {
                entries[at + 1..]
                    .iter()
                    .any(|e| e.as_ref().is_ok_and(|e| e.seq == expected))
                    || match stored_after(store, pages.clone(), expected) {
                        Ok(found) => found,
                        Err(e) => {
                            failed.borrow_mut().get_or_insert(e);
                            false
                        }
                    }
            };
            let broken = pass.feed(entry, later);
            // A store that cannot be read is an error, not a verdict on the trail.
            if let Some(e) = failed.borrow_mut().take() {
                return Err(e);
            }
            if let Some(broken) = broken {
                return Ok((pass.broken_at(broken), None));
            }
        }
    }
    let reached = Verified {
        head: pass.check.head(),
        checkpoint: pass.size.zip(pass.hash_at_size),
    };
    let mut verdict = pass.finish(Some(head.seq), checkpoint.as_ref(), public);
    if verdict.broken.is_none() {
        verdict.broken = since.and_then(|since| went_back(since, &reached));
    }
    let verified = verdict.broken.is_none().then_some(reached);
    Ok((verdict, verified))
}

/// What is wrong when a trail verified intact (`now`) holds less than an earlier verify found
/// (`before`): fewer entries, or an older checkpoint or none. The trail only grows and its
/// checkpoint only moves on, so either means entries or the checkpoint were taken back.
pub fn went_back(before: &Verified, now: &Verified) -> Option<Broken> {
    if now.head.seq < before.head.seq {
        return Some(Broken {
            seq: now.head.seq + 1,
            problem: Problem::Removed,
            detail: format!(
                "the trail ends at entry {} but an earlier verify found {} entries",
                now.head.seq, before.head.seq
            ),
        });
    }
    let size = |v: &Verified| v.checkpoint.map(|(size, _)| size);
    match (size(before), size(now)) {
        (Some(earlier), latest) if latest.is_none_or(|latest| latest < earlier) => Some(Broken {
            seq: earlier,
            problem: Problem::Changed,
            detail: format!(
                "the latest signed checkpoint covers {} entries but an earlier verify checked \
                 one of {earlier}",
                latest.unwrap_or(0)
            ),
        }),
        _ => None,
    }
}

/// The problem with the entry at `head` if it is no longer the one verified there.
fn changed_since(store: &dyn Store, head: &Head) -> Result<Option<Broken>> {
    let same = stored_entry(store, head.seq)?
        .is_some_and(|e| e.hash == head.hash && link(&e.prev_hash, &e.content_digest()) == e.hash);
    Ok((!same).then(|| Broken {
        seq: head.seq,
        problem: Problem::Changed,
        detail: format!(
            "entry {} is not the one an earlier verify found there (changed or removed since)",
            head.seq
        ),
    }))
}

/// The hash recorded by the stored entry at `seq`, if one decodes there.
fn stored_hash(store: &dyn Store, seq: u64) -> Result<Option<[u8; 32]>> {
    Ok(stored_entry(store, seq)?.map(|e| e.hash))
}

/// The entry stored under position `seq`, if one decodes there and names that position.
fn stored_entry(store: &dyn Store, seq: u64) -> Result<Option<Entry>> {
    let key = keys::audit(seq);
    Ok(store
        .get(&key)?
        .and_then(|raw| decode_entry(&key, &raw).ok())
        .filter(|e| e.seq == seq))
}

/// Whether an entry numbered `expected` is stored in the pages `rest` has still to read.
fn stored_after(store: &dyn Store, mut rest: Pages, expected: u64) -> Result<bool> {
    while let Some(page) = rest.next_page(store)? {
        if decoded(&page)
            .iter()
            .any(|e| e.as_ref().is_ok_and(|e| e.seq == expected))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One pass over a trail in order: the chain so far and the hash at the checkpoint's size.
struct TrailPass {
    check: ChainCheck,
    hash_at_size: Option<[u8; 32]>,
    size: Option<u64>,
}

impl TrailPass {
    fn new(checkpoint: Option<&SignedCheckpoint>) -> Self {
        TrailPass {
            check: ChainCheck::new(),
            hash_at_size: None,
            size: checkpoint.map(|c| c.checkpoint.size),
        }
    }

    /// Checks the next entry; `later` tells whether an entry numbered `n` comes after it.
    fn feed(
        &mut self,
        entry: &std::result::Result<Entry, u64>,
        later: impl Fn(u64) -> bool,
    ) -> Option<Broken> {
        let broken = match entry {
            Err(seq) => Some(Broken {
                seq: *seq,
                problem: Problem::Changed,
                detail: "its stored bytes do not decode as an audit entry".into(),
            }),
            Ok(entry) => self.check.check(entry, later).err(),
        };
        if broken.is_none() && Some(self.check.head().seq) == self.size {
            self.hash_at_size = Some(self.check.head().hash);
        }
        broken
    }

    fn broken_at(&self, broken: Broken) -> Verdict {
        Verdict {
            checked: self.check.head().seq,
            broken: Some(broken),
        }
    }

    /// The verdict once every entry passed: the recorded end, then the checkpoint.
    fn finish(
        self,
        recorded_end: Option<u64>,
        checkpoint: Option<&SignedCheckpoint>,
        public: &[u8; 32],
    ) -> Verdict {
        let end = self.check.head().seq;
        if let Some(recorded) = recorded_end.filter(|r| *r > end) {
            return Verdict {
                checked: end,
                broken: Some(Broken {
                    seq: end + 1,
                    problem: Problem::Removed,
                    detail: format!(
                        "the trail ends at entry {end} but recorded {recorded} entries"
                    ),
                }),
            };
        }
        let broken = checkpoint.and_then(|signed| match signed.verify(public) {
            Err(e) => Some(Broken {
                seq: signed.checkpoint.size,
                problem: Problem::Changed,
                detail: format!("the latest checkpoint does not verify: {e}"),
            }),
            Ok(()) => self
                .check
                .reaches(
                    signed.checkpoint.size,
                    self.hash_at_size,
                    &signed.checkpoint.head,
                )
                .err(),
        });
        Verdict {
            checked: end,
            broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing key file is created (mode 0600 on Unix) and read back as the same key; a
    /// malformed one is refused naming the file, so a damaged key never signs silently.
    #[test]
    fn key_file_is_created_once_and_malformed_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("audit-signing.key");
        let created = AuditKey::load_or_create(&path).unwrap();
        let again = AuditKey::load_or_create(&path).unwrap();
        assert_eq!(created.public, again.public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        let error = AuditKey::load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("audit-signing.key"), "{error}");
        assert!(error.contains("64 hex digits"), "{error}");
    }
}
