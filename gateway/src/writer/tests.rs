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
