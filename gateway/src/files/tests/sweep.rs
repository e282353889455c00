//! The sweep of expired uploads and unnamed files, and the count of stored files.

use super::*;

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
    assert!(upload_gone(&store, &digest, "erfurt"));
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

/// A finish whose copy fails part way leaves pieces without a meta record; when its site
/// never finishes again, the sweep that expires the upload deletes those pieces too (before,
/// nothing ever found them).
#[test]
fn the_sweep_deletes_the_pieces_of_a_copy_that_failed_part_way() {
    assert_eq!(
        pieces_after_a_failed_copy(false),
        0,
        "the pieces of the failed copy outlived its upload"
    );
}

/// On a store other gateways write too, the sweep leaves those pieces: a replica could be
/// finishing the same file between the sweep's reads and its commit (claims are per process),
/// and its pieces would go from under its meta record.
#[test]
fn on_a_shared_store_the_sweep_leaves_the_pieces_of_a_failed_copy() {
    assert!(
        pieces_after_a_failed_copy(true) > 0,
        "the sweep deleted pieces on a shared store"
    );
}

/// A finish whose copy fails after its first batch, then the sweep after the upload expired
/// (on a store other gateways write when `shared`): the file's pieces left.
fn pieces_after_a_failed_copy(shared: bool) -> usize {
    let store = TestStore {
        others: shared.then(|| tokio::sync::watch::channel(0).0),
        ..TestStore::new()
    };
    let (sha, digest) = upload_forty_pieces(&store, "erfurt");
    // The first batch of the copy is stored, the second refused.
    store
        .fail_after
        .store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(finish(&store, "erfurt", &sha, 8).is_err());
    assert!(
        pieces_of(&store, &digest) > 0,
        "the failed copy left no pieces to look for"
    );
    assert!(store.get(&keys::file_meta(&digest)).unwrap().is_none());

    // The site never comes back: the sweep expires its upload.
    store
        .fail_after
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let late = 10 + UNNAMED_GRACE_MS.max(UPLOAD_TTL_MS);
    let found = candidates(&store, late).unwrap();
    assert_eq!(found.uploads.len(), 1);
    let sites = ["dortmund".to_owned(), "erfurt".to_owned()];
    swept(&store, late, &sites, &found);
    assert!(upload_gone(&store, &digest, "erfurt"));
    pieces_of(&store, &digest)
}

/// The pieces of a whole file stay when the sweep expires another site's upload of the same
/// bytes: only a copy without its meta record is unfinished. And a copy without its meta
/// record stays while another site has an upload of the file (a gateway replica sharing the
/// store may be finishing it).
#[test]
fn the_sweep_leaves_the_pieces_of_a_whole_file() {
    let store = MemoryStore::new();
    let bytes = text(700_000);
    let digest = stored_whole(&store, "dortmund", &bytes, 10);
    put(&store, "erfurt", &piece(&bytes, 0, 100_000, "text/plain")).unwrap();
    let late = 10 + UPLOAD_TTL_MS;
    let found = Candidates {
        uploads: vec![("erfurt".into(), digest)],
        files: Vec::new(),
    };
    swept(&store, late, &[], &found);
    assert!(upload_gone(&store, &digest, "erfurt"));
    assert_eq!(
        read_all(&store, &digest),
        bytes,
        "the whole file lost pieces"
    );

    // Without its meta record (as a failed copy leaves it), with munich uploading it too.
    let mut batch = Batch::default();
    batch.delete(keys::file_meta(&digest));
    store.apply(batch).unwrap();
    put(&store, "erfurt", &piece(&bytes, 0, 100_000, "text/plain")).unwrap();
    put(&store, "munich", &piece(&bytes, 0, 100_000, "text/plain")).unwrap();
    let sites = ["erfurt".to_owned(), "munich".to_owned()];
    swept(&store, late, &sites, &found);
    assert!(upload_gone(&store, &digest, "erfurt"));
    assert!(
        pieces_of(&store, &digest) > 0,
        "the pieces went while munich still uploads the file"
    );
}

/// Whether `site`'s upload record of `digest` is gone.
fn upload_gone(store: &dyn Store, digest: &[u8; 32], site: &str) -> bool {
    store
        .get(&keys::upload_meta(digest, site))
        .unwrap()
        .is_none()
}

/// Runs the writer's part of the sweep at `now` on `found` and applies what it deletes.
fn swept(store: &dyn Store, now: u64, sites: &[String], found: &Candidates) {
    let batch = sweep_these(store, now, sites, &Batch::default(), found, &mut alone()).unwrap();
    store.apply(batch).unwrap();
}

/// How many pieces of `digest` the store holds.
fn pieces_of(store: &dyn Store, digest: &[u8; 32]) -> usize {
    let pieces = keys::file_prefix(keys::FILE_PIECE, digest);
    store
        .range(&pieces, &keys::prefix_end(&pieces), usize::MAX)
        .unwrap()
        .len()
}
