//! A finish's copy against what another gateway sharing the store does meanwhile: its
//! claims are its own, so the copy checks the bytes it copies, not only those it hashed first.

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
    finish_refused_with(|inner, digest| {
        let (start, end) = (
            keys::upload_pieces(digest, "erfurt"),
            keys::prefix_end(&keys::upload_pieces(digest, "erfurt")),
        );
        let mut batch = Batch::default();
        for (key, mut data) in inner.range(&start, &end, usize::MAX).unwrap() {
            data[0] ^= 1;
            batch.put(key, data);
        }
        inner.apply(batch).unwrap();
    });
}
