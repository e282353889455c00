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
    // What a failed group might leave on disk: one more entry and the head counter (written
    // here behind the writer's back, before the failure, as the writer reads the store again
    // as soon as a group failed).
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
    store.set_failing(true);
    assert!(state.writer.audit(vec![record("lost")]).await.is_err());
    store.set_failing(false);
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

/// Appends `n` entries to the trail, one group each.
async fn append_entries(state: &GatewayState, n: usize, label: &str) {
    for i in 0..n {
        state
            .writer
            .audit(vec![record(&format!("{label} {i}"))])
            .await
            .unwrap();
    }
}

/// Signs a checkpoint of the trail as it is (it must have moved since the last).
async fn sign(state: &GatewayState) {
    let secret = state.audit_key.secret();
    state
        .writer
        .checkpoint(secret)
        .await
        .unwrap()
        .expect("signed");
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
    let both = |since| {
        let whole = verify_store_since(store.as_ref(), &public, None).unwrap();
        let resumed = verify_store_since(store.as_ref(), &public, Some(&since)).unwrap();
        (whole, resumed)
    };

    append_entries(&state, 5, "entry").await;
    sign(&state).await;
    let (first, anchor) = verify_store_since(store.as_ref(), &public, None).unwrap();
    assert_eq!(first.broken, None);
    let anchor = anchor.expect("intact");
    assert_eq!(anchor.head.seq, first.checked);

    // Nothing added: the checkpoint is the one the anchor checked.
    let (whole, resumed) = both(anchor);
    assert_eq!(resumed.0.broken, None);
    assert_eq!(resumed, whole);
    // A checkpoint signed at the anchor after the anchor was taken.
    append_entries(&state, 1, "entry").await;
    let (_, at_end) = verify_store_since(store.as_ref(), &public, None).unwrap();
    let at_end = at_end.expect("intact");
    sign(&state).await;
    let (whole, resumed) = both(at_end);
    assert_eq!(resumed.0.broken, None);
    assert_eq!(resumed, whole);
    // Entries and a checkpoint after the anchor.
    append_entries(&state, 4, "entry").await;
    sign(&state).await;
    append_entries(&state, 2, "entry").await;
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
    append_entries(&state, 6, "entry").await;
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

/// What a tamperer with write access to the store might do after a verify took its anchor,
/// each found by the verify that goes on from it: a key slipped in right after the anchor's
/// own, the checkpoint rolled back to an older one or removed, the trail cut back to the
/// anchor with its head counter; and a whole verify that must reach what an earlier one found
/// finds an emptied trail, which on its own it would call intact.
#[tokio::test]
async fn what_was_verified_cannot_be_taken_back_unseen() {
    use crate::audit::{verify_store_since, went_back};
    let (store, state) = open().await;
    let public = state.audit_key.public;
    append_entries(&state, 4, "entry").await;
    let older = store.get(&keys::meta("checkpoint")).unwrap();
    sign(&state).await;
    let (_, anchor) = verify_store_since(store.as_ref(), &public, None).unwrap();
    let anchor = anchor.expect("intact");
    append_entries(&state, 3, "later").await;
    let intact = verify_store_since(store.as_ref(), &public, Some(&anchor)).unwrap();
    assert_eq!(intact.0.broken, None);
    let snapshot = store.range(&[], &[0xff; 16], usize::MAX).unwrap();
    let restore = || {
        let mut batch = Batch::default();
        for (key, _) in store.range(&[], &[0xff; 16], usize::MAX).unwrap() {
            batch.delete(key);
        }
        for (key, value) in &snapshot {
            batch.put(key.clone(), value.clone());
        }
        store.apply(batch).unwrap();
    };
    let resumed_broken = |what: &str| {
        let (verdict, reached) =
            verify_store_since(store.as_ref(), &public, Some(&anchor)).unwrap();
        assert!(
            verdict.broken.is_some(),
            "{what}: missed by the resumed verify"
        );
        assert_eq!(reached, None, "{what}: answered a place to go on from");
    };

    // A copy of the next entry under a key between the anchor's and the next one's.
    let mut slipped = keys::audit(anchor.head.seq);
    slipped.push(0);
    let copy = store
        .get(&keys::audit(anchor.head.seq + 1))
        .unwrap()
        .unwrap();
    let mut batch = Batch::default();
    batch.put(slipped, copy);
    store.apply(batch).unwrap();
    resumed_broken("a key slipped in after the anchor");
    restore();

    // The checkpoint rolled back to the one before the anchor's (none was signed then).
    let mut batch = Batch::default();
    match &older {
        Some(raw) => batch.put(keys::meta("checkpoint"), raw.clone()),
        None => batch.delete(keys::meta("checkpoint")),
    }
    store.apply(batch).unwrap();
    resumed_broken("the checkpoint taken back");
    restore();

    // The entries after the anchor removed and the head counter set back to the anchor.
    let mut batch = Batch::default();
    for seq in anchor.head.seq + 1..=anchor.head.seq + 3 {
        batch.delete(keys::audit(seq));
    }
    batch.put(
        keys::meta("audit"),
        keys::encode_audit_head(anchor.head.seq, &anchor.head.hash),
    );
    store.apply(batch).unwrap();
    let (cut, reached) = verify_store_since(store.as_ref(), &public, Some(&anchor)).unwrap();
    // What the anchor itself covers is still there: the cut is only seen against what a
    // verify found after the entries were added.
    assert_eq!(cut.broken, None);
    let later = intact.1.expect("intact");
    assert!(went_back(&later, &reached.expect("intact")).is_some());
    restore();

    // Every entry, the head counter and the checkpoint gone: the whole verify alone calls the
    // empty trail intact; measured against what was found before, it is not.
    let mut batch = Batch::default();
    for (key, _) in &snapshot {
        if key.first() == Some(&keys::AUDIT) {
            batch.delete(key.clone());
        }
    }
    batch.delete(keys::meta("audit"));
    batch.delete(keys::meta("checkpoint"));
    store.apply(batch).unwrap();
    let (alone, emptied) = verify_store_since(store.as_ref(), &public, None).unwrap();
    assert_eq!(alone.broken, None);
    let taken_back = went_back(&later, &emptied.expect("an empty trail verifies"));
    assert_eq!(
        taken_back.map(|b| b.problem),
        Some(hotline_federation::audit::Problem::Removed)
    );
    state.close().await;
}

/// A check of a trail whose checkpoint record does not decode answers that it could not read
/// it and leaves the gauge as it was (the task counts such checks in a row, see
/// `gauges::tests`); the other gauges are refreshed all the same, and a failure of theirs does
/// not cost an intact check its answer.
#[tokio::test]
async fn an_unreadable_trail_and_failing_figures_keep_apart() {
    use crate::gauges::{AuditCheck, AuditOutcome, refresh};
    let (store, state) = open().await;
    state.writer.audit(vec![record("one")]).await.unwrap();
    let gauge = |state: &GatewayState| {
        state
            .shared
            .metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("hotline_audit_verify_ok "))
            .map(str::to_owned)
    };
    // A file record that does not decode: the file gauges fail, the check answers.
    let mut batch = Batch::default();
    batch.put(vec![keys::FILE, b'x'], vec![0xff; 5]);
    store.apply(batch).unwrap();
    let (outcome, figures) = refresh(&state, AuditCheck::Whole(None));
    assert!(figures.is_err(), "the undecodable file record was read");
    let AuditOutcome::Intact(reached) = outcome else {
        panic!("the figures' failure cost the check its answer: {outcome:?}");
    };
    assert_eq!(gauge(&state).as_deref(), Some("hotline_audit_verify_ok 1"));
    let mut batch = Batch::default();
    batch.put(keys::meta("checkpoint"), vec![0xff; 5]);
    store.apply(batch).unwrap();
    let (outcome, _) = refresh(&state, AuditCheck::Since(reached));
    assert_eq!(outcome, AuditOutcome::Unreadable);
    assert_eq!(gauge(&state).as_deref(), Some("hotline_audit_verify_ok 1"));
    state.close().await;
}
