//! A finish's copy against what another gateway sharing the store does meanwhile: its
//! claims are its own, so the copy checks each piece it copies against its first pass.

use super::*;

/// A file of 40 fixed pieces uploaded unfinished by erfurt: the store, its name and digest.
fn uploaded() -> (TestStore, String, [u8; 32]) {
    let store = TestStore::new();
    let (sha, digest) = upload_forty_pieces(&store, "erfurt");
    (store, sha, digest)
}

/// Finishes with `meanwhile` after the copy's first batch: the finish is refused, saying to
/// upload again, and no meta record makes the gateway serve the file.
fn finish_refused_with(meanwhile: impl FnOnce(&MemoryStore, &[u8; 32]) + Send + 'static) {
    let (store, sha, digest) = uploaded();
    *store.meanwhile.lock() = Some(Box::new(move |inner| meanwhile(inner, &digest)));
    let refused = finish(&store, "erfurt", &sha, 8).expect_err("the finish stored a file");
    assert_eq!(refused.code(), tonic::Code::Aborted, "{refused:?}");
    assert!(
        refused.message().contains("upload again from offset 0"),
        "{refused:?}"
    );
    let stored = |key: Vec<u8>| store.get(&key).unwrap().is_some();
    assert!(
        !stored(keys::file_meta(&digest)),
        "a meta record names a file whose copy is not the uploaded file"
    );
    assert!(
        !stored(keys::file_holder(&digest, "erfurt")),
        "erfurt is noted as holding the file"
    );
}

/// Another gateway's sweep expires the upload while this one copies it (it hashed every piece
/// first): before, the copy went on with the pieces left and stored a meta record over a
/// quarter of the file.
#[test]
fn a_finish_whose_upload_is_swept_meanwhile_stores_no_file() {
    finish_refused_with(|inner, digest| {
        let mut batch = Batch::default();
        drop_upload(inner, &mut batch, digest, "erfurt").unwrap();
        inner.apply(batch).unwrap();
    });
}

/// The site's pieces are replaced while this gateway copies them (a new upload from offset 0
/// on another gateway, with other bytes of the same length): the copy's bytes are not the
/// file's, so no file is stored.
#[test]
fn a_finish_whose_pieces_change_meanwhile_stores_no_file() {
    finish_refused_with(change_erfurts_pieces);
}

/// Flips the first byte of every piece of erfurt's upload of `digest` (the site starting it
/// again through another gateway, with other bytes of the same length).
fn change_erfurts_pieces(inner: &MemoryStore, digest: &[u8; 32]) {
    let prefix = keys::upload_pieces(digest, "erfurt");
    let mut batch = Batch::default();
    for (key, mut data) in inner
        .range(&prefix, &keys::prefix_end(&prefix), usize::MAX)
        .unwrap()
    {
        data[0] ^= 1;
        batch.put(key, data);
    }
    inner.apply(batch).unwrap();
}

/// While erfurt's copy runs, another gateway finishes dortmund's upload of the same file and
/// erfurt's pieces change: erfurt's finish is refused, and the file dortmund's finish stored
/// is served unchanged (before, the copy's next batches were written over it before the
/// copy's bytes were checked).
#[test]
fn a_refused_copy_leaves_a_file_stored_meanwhile_whole() {
    let store = TestStore::new();
    let (sha, digest) = upload_forty_pieces(&store, "erfurt");
    upload_forty_pieces(&store, "dortmund");
    let name = sha.clone();
    *store.meanwhile.lock() = Some(Box::new(move |inner: &MemoryStore| {
        assert!(finish(inner, "dortmund", &name, 9).unwrap());
        change_erfurts_pieces(inner, &digest);
    }));
    let refused = finish(&store, "erfurt", &sha, 8).expect_err("the finish stored a file");
    assert_eq!(refused.code(), tonic::Code::Aborted, "{refused:?}");
    let served = read_all(&store.inner, &digest);
    assert!(
        served == text(usize::try_from(PIECE * 40).unwrap()),
        "the file stored meanwhile was changed by the refused copy"
    );
}

/// Pieces that hash to the file's name but hold more bytes than the upload was started for
/// (two starts of one site racing on two gateways) are refused as wrong bytes: the upload is
/// dropped and the site starts again from offset 0, instead of being told to upload again at
/// every status while the upload stays.
#[test]
fn pieces_longer_than_their_upload_are_dropped() {
    let store = TestStore::new();
    let bytes = text(300);
    let sha = hex(&Sha256::digest(&bytes));
    let digest = digest_of(&sha).unwrap();
    put_piece(
        &store,
        "erfurt",
        1 << 20,
        7,
        &piece(&bytes, 0, 300, "text/plain"),
    )
    .unwrap();
    let mut batch = Batch::default();
    batch.put(
        keys::upload_meta(&digest, "erfurt"),
        encode_numbers(&[200, 200, 7], "text/plain"),
    );
    store.apply(batch).unwrap();
    let refused = status(&store, &sha, "erfurt", 9).expect_err("stored");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("300 bytes"), "{refused:?}");
    assert_eq!(status(&store, &sha, "erfurt", 10).unwrap(), (false, 0));
    assert!(store.get(&keys::file_meta(&digest)).unwrap().is_none());
}
