//! Unit tests of the writer's audit trail: entries commit with their group or not at all, and
//! the trail's head is read back from the store after a failed group.

use std::sync::Arc;

use hotline_federation::audit::{Head, Record};
use hotline_proto::v1 as pb;
use prost::Message;

use crate::config::GatewayConfig;
use crate::state::GatewayState;
use crate::store::memory::MemoryStore;
use crate::store::{Batch, Store, keys};

fn record(action: &str) -> Record {
    Record {
        at_ms: 1,
        actor: "staff:admin:alice".into(),
        action: action.into(),
        subject: "audit".into(),
        detail_json: "{}".into(),
    }
}

async fn open() -> (Arc<MemoryStore>, Arc<GatewayState>) {
    let store = Arc::new(MemoryStore::new());
    let config = GatewayConfig {
        storage: "memory".into(),
        ..GatewayConfig::default()
    };
    let state = GatewayState::open_with_store(config, store.clone())
        .await
        .expect("gateway opens on a memory store");
    (store, state)
}

fn stored_entries(store: &MemoryStore) -> usize {
    let (start, end) = keys::prefix_range(keys::AUDIT);
    store.range(&start, &end, usize::MAX).unwrap().len()
}

/// A group that fails to commit leaves no audit entry behind, and the next group continues
/// the trail right after the last durable entry, so a retry never leaves a gap or a fork.
#[tokio::test]
async fn a_failed_group_leaves_no_audit_entry() {
    let (store, state) = open().await;
    let first = state.writer.audit(vec![record("first")]).await.unwrap();
    let before = stored_entries(&store);
    store.set_failing(true);
    assert!(state.writer.audit(vec![record("lost")]).await.is_err());
    store.set_failing(false);
    assert_eq!(
        stored_entries(&store),
        before,
        "the failed group wrote an entry"
    );
    let next = state.writer.audit(vec![record("next")]).await.unwrap();
    assert_eq!(next[0].seq, first[0].seq + 1);
    let verdict = crate::audit::verify_store(store.as_ref(), &state.audit_key.public).unwrap();
    assert_eq!(verdict.broken, None);
    assert_eq!(verdict.checked, next[0].seq);
    state.close().await;
}

/// When the failed group's batch did reach the store (a flush that failed after the write),
/// the writer reloads the trail's head from the store and appends after it, so the chain
/// stays intact instead of forking at the position it had in memory.
#[tokio::test]
async fn the_audit_head_reloads_after_a_failed_group() {
    let (store, state) = open().await;
    let first = state.writer.audit(vec![record("first")]).await.unwrap()[0];
    store.set_failing(true);
    assert!(state.writer.audit(vec![record("lost")]).await.is_err());
    store.set_failing(false);
    // What the failed group might have left on disk: one more entry and the head counter.
    let mut head = Head {
        seq: first.seq,
        hash: first.hash,
    };
    let entry = head.append(record("reached the disk"), [1; 16]);
    let mut batch = Batch::default();
    batch.put(
        keys::audit(entry.seq),
        pb::AuditEntry::from(entry).encode_to_vec(),
    );
    batch.put(
        keys::meta("audit"),
        keys::encode_audit_head(head.seq, &head.hash),
    );
    store.apply(batch).unwrap();
    let next = state.writer.audit(vec![record("next")]).await.unwrap()[0];
    assert_eq!(next.seq, first.seq + 2, "the writer kept its own head");
    let verdict = crate::audit::verify_store(store.as_ref(), &state.audit_key.public).unwrap();
    assert_eq!(verdict.broken, None);
    state.close().await;
}

/// A checkpoint is signed only when the trail moved since the last one, and it verifies with
/// the gateway's public key and covers the head.
#[tokio::test]
async fn checkpoints_are_signed_when_the_trail_moved() {
    let (store, state) = open().await;
    state.writer.audit(vec![record("one")]).await.unwrap();
    let secret = state.audit_key.secret();
    let signed = state.writer.checkpoint(secret).await.unwrap().unwrap();
    signed.verify(&state.audit_key.public).unwrap();
    assert_eq!(state.writer.checkpoint(secret).await.unwrap(), None);
    let head = super::audit::load_head(store.as_ref()).unwrap();
    assert_eq!(
        (signed.checkpoint.size, signed.checkpoint.head),
        (head.seq, head.hash)
    );
    state.close().await;
}

/// Rewrites the stored entry at `seq` with another action, its hashes left as they were (a
/// change made on the disk).
fn tamper(store: &MemoryStore, seq: u64) {
    let key = keys::audit(seq);
    let mut wire = pb::AuditEntry::decode(store.get(&key).unwrap().unwrap().as_slice()).unwrap();
    wire.action = "rewritten".into();
    let mut batch = Batch::default();
    batch.put(key, wire.encode_to_vec());
    store.apply(batch).unwrap();
}

/// A verify that goes on from an earlier one answers what the whole verify answers about the
/// entries added since and the entry it goes on from (intact, with a checkpoint signed before,
/// at or after that entry; a changed entry after it; that entry changed), and leaves the
/// entries before it to the whole verify (a change there is found by that one only).
#[tokio::test]
async fn a_verify_since_an_earlier_one_checks_what_was_added_and_where_it_went_on() {
    use crate::audit::verify_store_since;
    let (store, state) = open().await;
    let public = state.audit_key.public;
    let secret = state.audit_key.secret();
    let append = |n: usize| {
        let state = state.clone();
        async move {
            for i in 0..n {
                state
                    .writer
                    .audit(vec![record(&format!("entry {i}"))])
                    .await
                    .unwrap();
            }
        }
    };
    let sign = || {
        let state = state.clone();
        async move {
            state
                .writer
                .checkpoint(secret)
                .await
                .unwrap()
                .expect("signed");
        }
    };
    let both = |since| {
        let whole = verify_store_since(store.as_ref(), &public, None).unwrap();
        let resumed = verify_store_since(store.as_ref(), &public, Some(&since)).unwrap();
        (whole, resumed)
    };

    append(5).await;
    sign().await;
    let (first, anchor) = verify_store_since(store.as_ref(), &public, None).unwrap();
    assert_eq!(first.broken, None);
    let anchor = anchor.expect("intact");
    assert_eq!(anchor.head.seq, first.checked);

    // Nothing added: the checkpoint is the one the anchor checked.
    let (whole, resumed) = both(anchor);
    assert_eq!(resumed.0.broken, None);
    assert_eq!(resumed, whole);
    // A checkpoint signed at the anchor after the anchor was taken.
    append(1).await;
    let (_, at_end) = verify_store_since(store.as_ref(), &public, None).unwrap();
    let at_end = at_end.expect("intact");
    sign().await;
    let (whole, resumed) = both(at_end);
    assert_eq!(resumed.0.broken, None);
    assert_eq!(resumed, whole);
    // Entries and a checkpoint after the anchor.
    append(4).await;
    sign().await;
    append(2).await;
    let (whole, resumed) = both(anchor);
    assert_eq!(resumed.0.broken, None);
    assert_eq!(resumed, whole);
    assert_eq!(resumed.0.checked, anchor.head.seq + 7);

    // An entry added since, changed: both find it.
    tamper(&store, anchor.head.seq + 3);
    let (whole, resumed) = both(anchor);
    let broken = resumed
        .0
        .broken
        .clone()
        .expect("the change after the anchor was missed");
    assert_eq!(broken.seq, anchor.head.seq + 3);
    assert_eq!(resumed.0, whole.0);
    assert_eq!(
        resumed.1, None,
        "a broken trail answered where to go on from"
    );
    // The anchor changed: found at the anchor.
    tamper(&store, anchor.head.seq);
    let (_, resumed) = both(anchor);
    assert_eq!(resumed.0.broken.map(|b| b.seq), Some(anchor.head.seq));
    state.close().await;
    // An entry before the anchor changed: only the whole verify reads it.
    let (store, state) = open().await;
    let public = state.audit_key.public;
    for i in 0..6 {
        state
            .writer
            .audit(vec![record(&format!("entry {i}"))])
            .await
            .unwrap();
    }
    let (_, anchor) = verify_store_since(store.as_ref(), &public, None).unwrap();
    let anchor = anchor.expect("intact");
    tamper(&store, 2);
    let whole = verify_store_since(store.as_ref(), &public, None).unwrap();
    assert_eq!(whole.0.broken.map(|b| b.seq), Some(2));
    let resumed = verify_store_since(store.as_ref(), &public, Some(&anchor)).unwrap();
    assert_eq!(
        resumed.0.broken, None,
        "the resumed verify read before its anchor"
    );
    state.close().await;
}
