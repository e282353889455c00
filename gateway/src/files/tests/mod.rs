//! The gateway's file store, against the in-memory store: uploads, references and the
//! deletion of a file with its last one here; the sweep and the count of stored files in
//! `sweep`; uploads against the writer's groups (claims) in `claims`.

use super::*;
use crate::store::memory::MemoryStore;

mod claims;
mod copy;
mod sweep;

fn piece(bytes: &[u8], offset: usize, len: usize, content_type: &str) -> pb::FilePiece {
    pb::FilePiece {
        sha256: hex(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
        content_type: content_type.into(),
        offset: offset as u64,
        data: bytes[offset..offset + len].to_vec(),
    }
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn put(store: &MemoryStore, site: &str, p: &pb::FilePiece) -> std::result::Result<u64, Status> {
    put_piece(store, site, 1 << 20, 7, p)
}

/// `bytes` uploaded whole by `site` in one piece and finished at `at`; its digest.
fn stored_whole(store: &MemoryStore, site: &str, bytes: &[u8], at: u64) -> [u8; 32] {
    let sha = hex(&Sha256::digest(bytes));
    put(store, site, &piece(bytes, 0, bytes.len(), "text/plain")).unwrap();
    finish(store, site, &sha, at).unwrap();
    digest_of(&sha).unwrap()
}

/// A file of 40 fixed pieces uploaded unfinished by `site` in 1 MiB pieces (a finish's copy
/// reads four at a time and writes 16 fixed pieces a batch); its name and digest.
fn upload_forty_pieces(store: &dyn Store, site: &str) -> (String, [u8; 32]) {
    let bytes = text(usize::try_from(PIECE * 40).unwrap());
    let sha = hex(&Sha256::digest(&bytes));
    for offset in (0..bytes.len()).step_by(1 << 20) {
        let len = (1 << 20).min(bytes.len() - offset);
        put_piece(
            store,
            site,
            1 << 30,
            7,
            &piece(&bytes, offset, len, "text/plain"),
        )
        .unwrap();
    }
    (sha.clone(), digest_of(&sha).unwrap())
}

/// What another gateway commits while this one works ([`TestStore::meanwhile`]).
type Meanwhile = Box<dyn FnOnce(&MemoryStore) + Send>;

/// An in-memory store showing what a lone one cannot: `apply` refused once `fail_after`
/// successful applies are used up; `meanwhile` run once right after the next apply (what
/// another gateway commits at that moment); with `others`, it says other gateways write it
/// too (as PostgreSQL shared by replicas).
struct TestStore {
    inner: MemoryStore,
    fail_after: std::sync::atomic::AtomicUsize,
    others: Option<tokio::sync::watch::Sender<u64>>,
    meanwhile: parking_lot::Mutex<Option<Meanwhile>>,
}

impl TestStore {
    /// Refuses nothing, nothing happens meanwhile, no other gateway writes it.
    fn new() -> TestStore {
        TestStore {
            inner: MemoryStore::new(),
            fail_after: std::sync::atomic::AtomicUsize::new(usize::MAX),
            others: None,
            meanwhile: parking_lot::Mutex::new(None),
        }
    }
}

impl Store for TestStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        let left = self.fail_after.load(std::sync::atomic::Ordering::SeqCst);
        if left == 0 {
            return Err(Error::Storage(
                "injected: the disk refused the batch".into(),
            ));
        }
        self.fail_after
            .store(left - 1, std::sync::atomic::Ordering::SeqCst);
        self.inner.apply(batch)?;
        if let Some(then) = self.meanwhile.lock().take() {
            then(&self.inner);
        }
        Ok(())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.range(start, end, limit)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn others_wrote(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.others
            .as_ref()
            .map(tokio::sync::watch::Sender::subscribe)
    }
}

/// A writer group's claim where no upload runs.
fn alone() -> Claim {
    Claim::none(&Claims::new())
}

fn read_all(store: &MemoryStore, digest: &[u8; 32]) -> Vec<u8> {
    let mut read = Vec::new();
    while let Some((start, data)) = piece_at(store, digest, read.len() as u64).unwrap() {
        assert_eq!(start, read.len() as u64);
        read.extend(data);
    }
    read
}

/// A cut upload resumes where the gateway's copy ends; a piece elsewhere is refused with
/// the offset to resume at; the whole file is kept once, in fixed pieces, with the site as
/// its holder; another site's upload of the same bytes is its own and adds no copy.
#[test]
fn uploads_resume_at_the_offset_and_keep_one_copy() {
    let store = MemoryStore::new();
    let bytes = text(700_000);
    let sha = hex(&Sha256::digest(&bytes));
    let digest = digest_of(&sha).unwrap();
    assert_eq!(
        put(&store, "dortmund", &piece(&bytes, 0, 100_000, "text/plain")).unwrap(),
        100_000
    );
    assert_eq!(
        status(&store, &sha, "dortmund", 9).unwrap(),
        (false, 100_000)
    );
    assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (false, 0));
    let wrong = put(
        &store,
        "dortmund",
        &piece(&bytes, 120_000, 100_000, "text/plain"),
    )
    .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::FailedPrecondition);
    assert!(
        wrong.message().contains("from offset 100000"),
        "{}",
        wrong.message()
    );
    let tiny = put(
        &store,
        "dortmund",
        &piece(&bytes, 100_000, 10, "text/plain"),
    )
    .unwrap_err();
    assert!(
        tiny.message().contains("at least 65536"),
        "{}",
        tiny.message()
    );
    assert_eq!(
        put(
            &store,
            "dortmund",
            &piece(&bytes, 100_000, 600_000, "text/plain")
        )
        .unwrap(),
        700_000
    );
    assert!(finish(&store, "dortmund", &sha, 8).unwrap());
    assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
    assert_eq!(stored(&store).unwrap(), (1, 700_000));
    assert_eq!(read_all(&store, &digest), bytes);
    let (at, tail) = piece_at(&store, &digest, 650_000).unwrap().unwrap();
    assert_eq!((at, tail), (650_000, bytes[650_000..].to_vec()));
    assert!(piece_at(&store, &digest, 700_000).unwrap().is_none());
    // The upload's own pieces are gone once the file is whole.
    let (start, end) = keys::prefix_range(keys::UPLOAD_PIECE);
    assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    put(&store, "erfurt", &piece(&bytes, 0, 700_000, "text/plain")).unwrap();
    assert!(finish(&store, "erfurt", &sha, 8).unwrap());
    assert_eq!(stored(&store).unwrap(), (1, 700_000));
    assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (true, 0));
}

/// Bytes that do not hash to the file's name are dropped; a type that does not match the
/// first bytes, a file above the limit and a ninth unfinished upload are refused before
/// anything is stored.
#[test]
fn wrong_bytes_types_sizes_and_counts_store_nothing() {
    let store = MemoryStore::new();
    let bytes = text(100);
    let mut lying = piece(&bytes, 0, 100, "text/plain");
    lying.sha256 = hex(&Sha256::digest(b"something else"));
    put(&store, "dortmund", &lying).unwrap();
    let refused = finish(&store, "dortmund", &lying.sha256, 8).unwrap_err();
    assert!(
        refused.message().contains("hash to"),
        "{}",
        refused.message()
    );
    assert_eq!(stored(&store).unwrap(), (0, 0));
    let (start, end) = keys::prefix_range(keys::UPLOAD);
    assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    let (start, end) = keys::prefix_range(keys::FILE_PIECE);
    assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
    let pdf = piece(b"%PDF-1.7", 0, 8, "image/png");
    assert_eq!(
        put(&store, "dortmund", &pdf).unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let refused = put_piece(
        &store,
        "dortmund",
        99,
        7,
        &piece(&bytes, 0, 100, "text/plain"),
    )
    .unwrap_err();
    assert!(
        refused.message().contains("limits.max_file_bytes"),
        "{}",
        refused.message()
    );
    for i in 0..MAX_UPLOADS_PER_SITE {
        let file = text(200_000 + i);
        put(&store, "dortmund", &piece(&file, 0, 100_000, "text/plain")).unwrap();
    }
    let ninth = text(300_000);
    let refused = put(&store, "dortmund", &piece(&ninth, 0, 100_000, "text/plain")).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    // Another site is not held back by dortmund's.
    put(&store, "erfurt", &piece(&ninth, 0, 100_000, "text/plain")).unwrap();
    // The sweep removes uploads untouched for a day, and nothing younger.
    assert!(
        sweep(&store, 7 + UPLOAD_TTL_MS - 1, &[], &Batch::default())
            .unwrap()
            .is_empty()
    );
    let expired = sweep(&store, 7 + UPLOAD_TTL_MS, &[], &Batch::default()).unwrap();
    store.apply(expired).unwrap();
    let (start, end) = keys::prefix_range(keys::UPLOAD_PIECE);
    assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
}

/// A file goes when the last comment carrying it drops it, not before, and a ref the same
/// batch writes back keeps it; a whole file no comment names goes after the grace period.
#[test]
fn a_file_goes_with_its_last_reference() {
    let store = MemoryStore::new();
    let bytes = text(300);
    let sha = hex(&Sha256::digest(&bytes));
    put(&store, "dortmund", &piece(&bytes, 0, 300, "text/plain")).unwrap();
    finish(&store, "dortmund", &sha, 8).unwrap();
    let digest = digest_of(&sha).unwrap();
    let first = keys::file_ref(&digest, "ASZ-2026-000001", "dortmund-1");
    let second = keys::file_ref(&digest, "ASZ-2026-000002", "dortmund-7");
    let mut batch = Batch::default();
    batch.put(first.clone(), Vec::new());
    batch.put(second.clone(), Vec::new());
    store.apply(batch).unwrap();
    assert!(
        sweep(&store, 8 + UNNAMED_GRACE_MS, &[], &Batch::default())
            .unwrap()
            .is_empty(),
        "named files stay"
    );
    let mut batch = Batch::default();
    batch.delete(first.clone());
    collect(
        &store,
        &mut batch,
        &[(digest, first.clone())],
        &[],
        &mut alone(),
    )
    .unwrap();
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap().0, 1);
    let third = keys::file_ref(&digest, "ASZ-2026-000003", "munich-2");
    let mut batch = Batch::default();
    batch.delete(second.clone());
    batch.put(third.clone(), Vec::new());
    collect(
        &store,
        &mut batch,
        &[(digest, second.clone())],
        &[],
        &mut alone(),
    )
    .unwrap();
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap().0, 1);
    let mut batch = Batch::default();
    batch.delete(third.clone());
    collect(
        &store,
        &mut batch,
        &[(digest, third)],
        &["dortmund".to_string()],
        &mut alone(),
    )
    .unwrap();
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap(), (0, 0));
    assert!(piece_at(&store, &digest, 0).unwrap().is_none());
    assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (false, 0));
    // An upload no comment ever names: kept through the grace period, then swept.
    put(&store, "erfurt", &piece(&bytes, 0, 300, "text/plain")).unwrap();
    finish(&store, "erfurt", &sha, 100).unwrap();
    assert!(
        sweep(&store, 100 + UNNAMED_GRACE_MS - 1, &[], &Batch::default())
            .unwrap()
            .is_empty()
    );
    store
        .apply(sweep(&store, 100 + UNNAMED_GRACE_MS, &[], &Batch::default()).unwrap())
        .unwrap();
    assert_eq!(stored(&store).unwrap(), (0, 0));
    let (start, end) = keys::prefix_range(keys::FILE_HOLDER);
    assert!(store.range(&start, &end, usize::MAX).unwrap().is_empty());
}

/// An upload cut after its last piece (every byte there, never finished) is finished by
/// the next status question, instead of waiting for a piece that will never come; the
/// upload's own finish after that answers "stored" too (the site holds the file), another
/// site's that never uploaded it does not.
#[test]
fn a_complete_upload_cut_before_its_end_is_finished_by_status() {
    let store = MemoryStore::new();
    let bytes = text(200);
    let sha = hex(&Sha256::digest(&bytes));
    put(&store, "dortmund", &piece(&bytes, 0, 200, "text/plain")).unwrap();
    assert_eq!(stored(&store).unwrap().0, 0);
    assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
    assert_eq!(stored(&store).unwrap(), (1, 200));
    assert!(finish(&store, "dortmund", &sha, 10).unwrap());
    assert!(!finish(&store, "erfurt", &sha, 10).unwrap());
}

/// A refused comment's upload goes at the group's end, unless a comment the same group
/// stores names the file, or another site holds it too.
#[test]
fn a_refused_comments_upload_goes_unless_named_or_held_elsewhere() {
    let store = MemoryStore::new();
    let bytes = text(200);
    let sha = hex(&Sha256::digest(&bytes));
    let digest = digest_of(&sha).unwrap();
    put(&store, "erfurt", &piece(&bytes, 0, 200, "text/plain")).unwrap();
    finish(&store, "erfurt", &sha, 8).unwrap();
    let sites = vec!["erfurt".to_string(), "dortmund".to_string()];
    let refused = vec![("erfurt".to_string(), digest)];
    // Named by a comment the group stores: kept, holder and all.
    let mut batch = Batch::default();
    batch.put(
        keys::file_ref(&digest, "ASZ-2026-000001", "erfurt-2"),
        Vec::new(),
    );
    release_refused(&store, &mut batch, &refused, &sites, &mut alone()).unwrap();
    assert!(!batch.writes.iter().any(|w| matches!(w, Write::Delete(_))));
    // Held by another site too: only erfurt's claim goes.
    put(&store, "dortmund", &piece(&bytes, 0, 200, "text/plain")).unwrap();
    finish(&store, "dortmund", &sha, 8).unwrap();
    let mut batch = Batch::default();
    release_refused(&store, &mut batch, &refused, &sites, &mut alone()).unwrap();
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap().0, 1);
    assert_eq!(status(&store, &sha, "erfurt", 9).unwrap(), (false, 0));
    assert_eq!(status(&store, &sha, "dortmund", 9).unwrap(), (true, 0));
    // Nobody else: the file goes.
    let mut batch = Batch::default();
    release_refused(
        &store,
        &mut batch,
        &[("dortmund".to_string(), digest)],
        &sites,
        &mut alone(),
    )
    .unwrap();
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap(), (0, 0));
}
