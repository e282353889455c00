//! The gateway's file store, against the in-memory store.

use std::time::Duration;

use super::*;
use crate::state::GatewayState;
use crate::store::memory::MemoryStore;

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

/// The count of stored files reads them a page at a time and misses none across the pages'
/// edges (1,100 files: two full pages of 512 and a part).
#[test]
fn the_count_of_stored_files_spans_its_pages() {
    let store = MemoryStore::new();
    let mut batch = Batch::default();
    for n in 0..1_100u64 {
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&n.to_be_bytes());
        batch.put(
            keys::file_meta(&digest),
            encode_numbers(&[n + 1, 7], "text/plain"),
        );
    }
    store.apply(batch).unwrap();
    assert_eq!(stored(&store).unwrap(), (1_100, 1_100 * 1_101 / 2));
}

/// The sweep's pass runs outside the writer; the writer's part checks only what the pass
/// found, and checks it again: a file a comment named after the pass stays, an upload touched
/// after the pass stays, what the pass did not find waits for the next sweep, and what is
/// still unnamed or untouched goes.
#[test]
fn the_writer_checks_again_only_what_the_sweeps_pass_found() {
    let store = MemoryStore::new();
    let mut whole = Vec::new();
    for i in 0..3 {
        whole.push(stored_whole(&store, "dortmund", &text(400 + i), 10));
    }
    let cut = text(300_000);
    put(&store, "erfurt", &piece(&cut, 0, 100_000, "text/plain")).unwrap();
    let late = 10 + UNNAMED_GRACE_MS.max(UPLOAD_TTL_MS);
    let found = candidates(&store, late).unwrap();
    let mut listed = found.files.clone();
    listed.sort();
    let mut expected = whole.clone();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the pass did not find the three unnamed files"
    );
    assert_eq!(
        found.uploads.len(),
        1,
        "the pass did not find the cut upload"
    );

    // After the pass: a comment names the first file, erfurt goes on with its upload.
    let mut batch = Batch::default();
    batch.put(
        keys::file_ref(&whole[0], "ASZ-2026-000001", "dortmund-1"),
        Vec::new(),
    );
    store.apply(batch).unwrap();
    put_piece(
        &store,
        "erfurt",
        1 << 20,
        late - 1,
        &piece(&cut, 100_000, 100_000, "text/plain"),
    )
    .unwrap();
    // The writer is handed what the pass found, less the third file.
    let handed = Candidates {
        uploads: found.uploads.clone(),
        files: found
            .files
            .iter()
            .copied()
            .filter(|d| *d != whole[2])
            .collect(),
    };
    store
        .apply(sweep_these(&store, late, &[], &Batch::default(), &handed, &mut alone()).unwrap())
        .unwrap();
    let left: Vec<[u8; 32]> = candidates(&store, late).unwrap().files;
    assert!(
        store.get(&keys::file_meta(&whole[0])).unwrap().is_some(),
        "a file named after the pass went"
    );
    assert!(
        store.get(&keys::file_meta(&whole[1])).unwrap().is_none(),
        "an unnamed file the pass found stayed"
    );
    assert!(
        store.get(&keys::file_meta(&whole[2])).unwrap().is_some(),
        "the writer deleted a file it was not handed"
    );
    assert_eq!(
        left,
        vec![whole[2]],
        "the next pass does not find the file left"
    );
    let upload = keys::upload_meta(&digest_of(&hex(&Sha256::digest(&cut))).unwrap(), "erfurt");
    assert!(
        store.get(&upload).unwrap().is_some(),
        "an upload touched after the pass went"
    );
}

/// A whole file no comment names stays while another site uploads it (a piece within the
/// grace period): its comment is likely on the way, and the upload would otherwise start
/// again from its first byte. Once that upload is quiet for the grace period, both go.
#[test]
fn an_unnamed_file_stays_while_another_site_uploads_it() {
    let store = MemoryStore::new();
    let bytes = text(300_000);
    let digest = stored_whole(&store, "dortmund", &bytes, 10);
    let late = 10 + UNNAMED_GRACE_MS;
    let first = piece(&bytes, 0, 100_000, "text/plain");
    put_piece(&store, "erfurt", 1 << 20, late - 1, &first).unwrap();
    let sites = ["dortmund".to_string(), "erfurt".to_string()];
    store
        .apply(sweep(&store, late, &sites, &Batch::default()).unwrap())
        .unwrap();
    assert!(
        store.get(&keys::file_meta(&digest)).unwrap().is_some(),
        "the file went while erfurt uploaded it"
    );
    assert!(
        store
            .get(&keys::upload_meta(&digest, "erfurt"))
            .unwrap()
            .is_some(),
        "erfurt's upload went"
    );
    let quiet = late - 1 + UNNAMED_GRACE_MS;
    store
        .apply(sweep(&store, quiet, &sites, &Batch::default()).unwrap())
        .unwrap();
    assert!(store.get(&keys::file_meta(&digest)).unwrap().is_none());
    assert!(
        store
            .get(&keys::upload_meta(&digest, "erfurt"))
            .unwrap()
            .is_none()
    );
}

/// The sweep hands its candidates to the writer a part at a time: every candidate in exactly
/// one part, in order, no part larger than asked or empty.
#[test]
fn candidates_split_into_parts_keep_each_once() {
    let found = Candidates {
        uploads: (0..5u8).map(|i| (format!("site-{i}"), [i; 32])).collect(),
        files: (10..17u8).map(|i| [i; 32]).collect(),
    };
    assert!(Candidates::default().in_parts(4).is_empty());
    for size in [0, 1, 4, 12, 100] {
        let parts = found.clone().in_parts(size);
        assert!(
            parts
                .iter()
                .all(|p| !p.is_empty() && p.uploads.len() + p.files.len() <= size.max(1))
        );
        let joined = Candidates {
            uploads: parts.iter().flat_map(|p| p.uploads.clone()).collect(),
            files: parts.iter().flat_map(|p| p.files.clone()).collect(),
        };
        assert_eq!(joined, found, "parts of {size} lost or moved a candidate");
        assert_eq!(parts.len(), 12usize.div_ceil(size.max(1)));
    }
}

/// A whole file dortmund uploaded at 10 that no comment names, read at `late`, when the
/// sweep may delete it; and the claims of one gateway.
struct Unnamed {
    store: Arc<MemoryStore>,
    claims: Arc<Claims>,
    bytes: Vec<u8>,
    sha: String,
    digest: [u8; 32],
    late: u64,
}

impl Unnamed {
    fn new() -> Unnamed {
        let store = Arc::new(MemoryStore::new());
        let bytes = text(300_000);
        let digest = stored_whole(&store, "dortmund", &bytes, 10);
        Unnamed {
            store,
            claims: Claims::new(),
            sha: hex(&Sha256::digest(&bytes)),
            bytes,
            digest,
            late: 10 + UNNAMED_GRACE_MS,
        }
    }
}

/// `site` uploads `bytes` (named `sha`) in one piece at `at` and finishes: whether stored.
fn upload_whole(
    store: &MemoryStore,
    site: &str,
    bytes: &[u8],
    sha: &str,
    at: u64,
) -> std::result::Result<bool, Status> {
    put_piece(
        store,
        site,
        1 << 20,
        at,
        &piece(bytes, 0, bytes.len(), "text/plain"),
    )?;
    finish(store, site, sha, at)
}

/// An upload of a file a writer group is deleting waits until the group is stored, then
/// stores the file again, whole, and answers "stored" truly; without the group's claim the
/// upload would answer "stored" and the group's batch then delete the file under it.
#[test]
fn an_upload_waits_for_the_group_deleting_its_file() {
    let Unnamed {
        store,
        claims,
        bytes,
        sha,
        digest,
        late,
    } = Unnamed::new();
    let mut group = Claim::none(&claims);
    let deletes = sweep_these(
        store.as_ref(),
        late,
        &["dortmund".to_string()],
        &Batch::default(),
        &candidates(store.as_ref(), late).unwrap(),
        &mut group,
    )
    .unwrap();
    assert!(
        deletes
            .writes
            .contains(&Write::Delete(keys::file_meta(&digest)))
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let upload = {
        let (store, claims, bytes, sha) =
            (store.clone(), claims.clone(), bytes.clone(), sha.clone());
        std::thread::spawn(move || {
            let stored = while_held(&claims, &sha, || {
                upload_whole(&store, "erfurt", &bytes, &sha, late)
            });
            tx.send(stored.unwrap()).unwrap();
        })
    };
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the upload ran while the group deleting its file was not yet stored"
    );
    store.apply(deletes).unwrap();
    drop(group);
    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "stored");
    upload.join().unwrap();
    assert!(store.get(&keys::file_meta(&digest)).unwrap().is_some());
    assert!(
        store
            .get(&keys::file_holder(&digest, "erfurt"))
            .unwrap()
            .is_some()
    );
    assert_eq!(read_all(&store, &digest), bytes);
    assert!(!claims.is_held(&digest));
}

/// A group that would delete a file an upload holds leaves it and does not wait: the sweep,
/// an erasure's last reference and a refused comment's upload alike (the sweep deletes it
/// later, once nothing names it for the grace period). Once the upload let go, the same
/// deletions go through.
#[test]
fn a_group_leaves_a_file_an_upload_holds_without_waiting() {
    let Unnamed {
        store,
        claims,
        digest,
        late,
        ..
    } = Unnamed::new();
    let sites = vec!["dortmund".to_string(), "erfurt".to_string()];
    let reference = keys::file_ref(&digest, "ASZ-2026-000001", "dortmund-1");
    let found = candidates(store.as_ref(), late).unwrap();
    // A group's deletions of the file, run on a thread of their own, so a wait shows as a
    // timeout instead of a hung test.
    let group = |claims: Arc<Claims>| {
        let (store, sites, found, reference) = (
            store.clone(),
            sites.clone(),
            found.clone(),
            reference.clone(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Claim::none(&claims);
            let mut batch = sweep_these(
                store.as_ref(),
                late,
                &sites,
                &Batch::default(),
                &found,
                &mut held,
            )
            .unwrap();
            batch.delete(reference.clone());
            collect(
                store.as_ref(),
                &mut batch,
                &[(digest, reference)],
                &sites,
                &mut held,
            )
            .unwrap();
            let refused = [("dortmund".to_string(), digest)];
            release_refused(store.as_ref(), &mut batch, &refused, &sites, &mut held).unwrap();
            // As a group lets go once stored, before anyone hears of it.
            drop(held);
            tx.send(batch).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a writer group waited for an upload")
    };
    let mut uploading = Claim::none(&claims);
    uploading.wait_for(&digest);
    let left = group(claims.clone());
    assert_eq!(
        left.writes,
        vec![Write::Delete(reference.clone())],
        "a group deleted records of a file an upload holds"
    );
    drop(uploading);
    let gone = group(claims.clone());
    assert!(
        gone.writes
            .contains(&Write::Delete(keys::file_meta(&digest)))
    );
    assert!(
        gone.writes
            .contains(&Write::Delete(keys::file_holder(&digest, "dortmund")))
    );
    assert!(!claims.is_held(&digest));
}

/// Through the writer: a file an upload holds is left by the sweep's group; the group's own
/// claim ends with the group, stored or failed, so no upload waits on it afterwards.
#[tokio::test]
async fn the_writers_groups_let_go_of_the_files_they_held() {
    let store = Arc::new(MemoryStore::new());
    let config = crate::config::GatewayConfig {
        storage: "memory".into(),
        ..crate::config::GatewayConfig::default()
    };
    let state = GatewayState::open_with_store(config, store.clone())
        .await
        .unwrap();
    let long_ago = state.now_ms() - 2 * UNNAMED_GRACE_MS;
    let held = stored_whole(&store, "dortmund", &text(500), long_ago);
    let failing = stored_whole(&store, "dortmund", &text(600), long_ago);
    let found = candidates(store.as_ref(), state.now_ms()).unwrap();
    assert_eq!(found.files.len(), 2);

    let mut uploading = Claim::none(&state.shared.files);
    uploading.wait_for(&held);
    store.set_failing(true);
    assert!(state.writer.sweep_files(found.clone()).await.is_err());
    store.set_failing(false);
    assert!(
        !state.shared.files.is_held(&failing),
        "a failed group kept its claim"
    );
    assert!(state.writer.sweep_files(found.clone()).await.unwrap());
    assert!(
        !state.shared.files.is_held(&failing),
        "a stored group kept its claim"
    );
    assert!(store.get(&keys::file_meta(&failing)).unwrap().is_none());
    assert!(
        store.get(&keys::file_meta(&held)).unwrap().is_some(),
        "the sweep deleted a file an upload held"
    );
    drop(uploading);
    assert!(state.writer.sweep_files(found).await.unwrap());
    assert!(store.get(&keys::file_meta(&held)).unwrap().is_none());
    assert!(!state.shared.files.is_held(&held));
}
