//! Uploads and the writer's groups deleting the same file ([`Claims`]).

use std::time::Duration;

use super::*;
use crate::state::GatewayState;

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
