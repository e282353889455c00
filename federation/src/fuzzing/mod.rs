//! Entry points for fuzzing: each takes arbitrary bytes, must never panic on its own, and
//! panics with a message saying which guarantee broke when one does. The cargo-fuzz targets in
//! `fuzz/` and the stable test `tests/fuzz_inputs.rs` call the same functions, so a crash the
//! fuzzer finds is replayed by `cargo test` once its file is saved under `fuzz/artifacts/`.
//!
//! - [`wire_decode`]: bytes are decoded as every wire message that enters the domain (a
//!   change, an entity state, an entity key, a sync event, a push request) and converted with
//!   `TryFrom`. An accepted message must survive domain -> wire -> bytes -> domain unchanged
//!   (and a change must lose nothing on the way back to the wire), must still validate, and a
//!   state must be one that valid changes could have built. A refused message must name an
//!   existing field of the contract by its path.
//! - [`merge`]: bytes drive a builder of valid changes over a few entities with few sites and a
//!   small clock range (so conflicts, equal stamps and reused ids are common). Merging them in
//!   different orders, groupings and repetitions must give the same state; redaction must
//!   commute with the join.

mod merge;
mod paths;

use hotline_proto::v1 as pb;
use prost::Message;

use crate::change::Change;
use crate::error::Error;
use crate::model::{EntityKey, EntityKind};
use crate::state::{EntityState, SUPERSEDED_KEPT};

pub use merge::{Join, MergeReport, merge, merge_with};
pub use paths::path_problem;

/// Most changes of one push request the decoder target converts (the gateway takes 512; more
/// only slows the fuzzer down without reaching new code).
const PUSH_CHANGES_CHECKED: usize = 16;

/// What [`wire_decode`] saw: how many messages the domain accepted and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// Messages the conversion accepted (all checks passed).
    pub accepted: usize,
    /// Messages the conversion refused (with a valid field path).
    pub refused: usize,
}

impl DecodeReport {
    fn note(&mut self, accepted: bool) {
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
    }
}

/// Decodes `data` as each wire message that enters the domain and checks every conversion
/// (see the module docs). Panics only when a guarantee is broken.
pub fn wire_decode(data: &[u8]) -> DecodeReport {
    let mut report = DecodeReport::default();
    if let Ok(wire) = pb::Change::decode(data) {
        report.note(check_change(wire));
    }
    if let Ok(wire) = pb::EntityState::decode(data) {
        report.note(check_state(wire));
    }
    if let Ok(wire) = pb::EntityKey::decode(data) {
        report.note(check_key(wire));
    }
    if let Ok(pb::SyncEvent { cursor: _, body }) = pb::SyncEvent::decode(data) {
        use pb::sync_event::Body;
        match body {
            Some(Body::Entity(state)) => report.note(check_state(state)),
            Some(Body::Change(change)) => report.note(check_change(change)),
            Some(Body::Revocation(pb::Revocation {
                key: Some(key),
                reason: _,
            })) => {
                report.note(check_key(key));
            }
            Some(
                Body::Revocation(pb::Revocation {
                    key: None,
                    reason: _,
                })
                | Body::SnapshotBegin(_)
                | Body::SnapshotEnd(_)
                | Body::Heartbeat(_),
            )
            | None => {}
        }
    }
    if let Ok(pb::PushRequest { changes }) = pb::PushRequest::decode(data) {
        for change in changes.into_iter().take(PUSH_CHANGES_CHECKED) {
            report.note(check_change(change));
        }
    }
    report
}

/// Panics unless a refusal names an existing field of `root` by its path.
fn check_refusal(root: &str, prefix: &str, wire: &dyn std::fmt::Debug, error: &Error) {
    let text = error.to_string();
    let Some(path) = error.field().filter(|p| !p.is_empty()) else {
        panic!("refusal names no field: {text}\nmessage: {wire:?}");
    };
    if let Some(problem) = path_problem(root, prefix, path) {
        panic!("refusal names a field the contract does not have: {problem}\nerror: {text}");
    }
    assert!(
        text.len() > path.len() + 2,
        "refusal says nothing beyond the path: {text:?}"
    );
}

/// Converts a wire change; on success checks the round trips, on error the path. Returns whether
/// it was accepted.
fn check_change(wire: pb::Change) -> bool {
    let sent = wire.clone();
    let change = match Change::try_from(wire) {
        Ok(change) => change,
        Err(error) => {
            check_refusal("hotline.v1.Change", "change", &sent, &error);
            return false;
        }
    };
    if let Err(error) = change.validate() {
        panic!("an accepted change fails re-validation: {error}\nchange: {change:?}");
    }
    let back = pb::Change::from(change.clone());
    assert_eq!(
        back, sent,
        "an accepted change does not convert back to the wire message it came from"
    );
    let again = pb::Change::decode(back.encode_to_vec().as_slice())
        .map_err(|e| e.to_string())
        .and_then(|w| Change::try_from(w).map_err(|e| e.to_string()));
    assert_eq!(
        again.as_ref(),
        Ok(&change),
        "an accepted change does not survive domain -> wire -> bytes -> domain"
    );
    let delta = EntityState::delta(&change);
    check_state_shape(&delta);
    let delta_back = EntityState::try_from(pb::EntityState::from(delta.clone()));
    assert_eq!(
        delta_back.as_ref(),
        Ok(&delta),
        "the state of an accepted change does not survive domain -> wire -> domain"
    );
    true
}

/// Converts a wire entity state; on success checks its shape, the round trip and idempotence.
fn check_state(wire: pb::EntityState) -> bool {
    let sent = wire.clone();
    let state = match EntityState::try_from(wire) {
        Ok(state) => state,
        Err(error) => {
            check_refusal("hotline.v1.EntityState", "state", &sent, &error);
            return false;
        }
    };
    check_state_shape(&state);
    let bytes = pb::EntityState::from(state.clone()).encode_to_vec();
    let again = pb::EntityState::decode(bytes.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|w| EntityState::try_from(w).map_err(|e| e.to_string()));
    assert_eq!(
        again.as_ref(),
        Ok(&state),
        "an accepted state does not survive domain -> wire -> bytes -> domain"
    );
    let mut twice = state.clone();
    twice.join(&state);
    assert_eq!(
        twice, state,
        "joining an accepted state with itself changed it"
    );
    true
}

/// Converts a wire entity key; on success checks the round trip.
fn check_key(wire: pb::EntityKey) -> bool {
    let sent = wire.clone();
    match EntityKey::try_from(wire) {
        Ok(key) => {
            assert_eq!(
                pb::EntityKey::from(key),
                sent,
                "an accepted key does not convert back"
            );
            true
        }
        Err(error) => {
            check_refusal("hotline.v1.EntityKey", "", &sent, &error);
            false
        }
    }
}

/// Panics unless `state` could have been built by joining valid changes of its entity: every
/// register holds values of the entity's kind under their own register name, newest first and
/// at most [`SUPERSEDED_KEPT`] superseded; comments only on tickets and call events only on
/// call logs, each under its own id.
fn check_state_shape(state: &EntityState) {
    let kind = state.key.kind;
    for (name, register) in &state.registers {
        let writes = std::iter::once(&register.winner).chain(&register.superseded);
        for write in writes {
            assert_eq!(
                (write.value.kind(), &write.value.register()),
                (kind, name),
                "register {name:?} of {} holds a value of another kind or register: {:?}",
                state.key,
                write.value
            );
        }
        assert!(
            register.superseded.len() <= SUPERSEDED_KEPT,
            "register {name:?} keeps {} superseded writes; at most {SUPERSEDED_KEPT}",
            register.superseded.len()
        );
        let stamps: Vec<_> = std::iter::once(&register.winner)
            .chain(&register.superseded)
            .map(|w| &w.stamp)
            .collect();
        assert!(
            stamps.windows(2).all(|w| w[0] >= w[1]),
            "register {name:?} of {} is not newest first: {stamps:?}",
            state.key
        );
    }
    assert!(
        state.comments.is_empty() || kind == EntityKind::Ticket,
        "a {kind} state holds comments; only tickets have comments"
    );
    assert!(
        state.call_events.is_empty() || kind == EntityKind::CallLog,
        "a {kind} state holds call events; only call logs have call events"
    );
    for (id, comment) in &state.comments {
        assert_eq!(id, &comment.value.id, "comment filed under another id");
    }
    for (id, event) in &state.call_events {
        assert_eq!(id, &event.value.id, "call event filed under another id");
    }
}
