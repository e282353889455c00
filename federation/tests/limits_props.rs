//! Properties of the entity bounds' measures (`hotline_federation::limits`): what the bounds
//! compute in place, element by element, is what the wire encoding of the same entity takes.

mod common;

use hotline_federation::limits::{EntitySize, Grown, growth};
use hotline_federation::model::{CallEvent, CallOutcome, EntityKey, EntityKind};
use hotline_federation::{Change, EntityState, FieldOp};
use hotline_proto::v1 as pb;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        ..ProptestConfig::default()
    }
}

/// Call events with every optional field present or absent and numbers zero or not.
fn call_event() -> impl Strategy<Value = CallEvent> {
    (
        prop::sample::select(vec!["e1", "e2", "e3"]),
        prop::sample::select(CallOutcome::ALL.to_vec()),
        prop::sample::select(vec![0u32, 1, 127, 128, 70_000]),
        prop::sample::select(vec![0u64, 1, 1_790_000_000_000]),
        prop::option::of(prop::sample::select(vec!["", "finance-hr"])),
        prop::option::of(prop::sample::select(vec!["", "ASZ-2026-000001"])),
    )
        .prop_map(|(id, outcome, seconds, at_ms, team, ticket)| CallEvent {
            id: id.to_owned(),
            site: "erfurt".to_owned(),
            outcome,
            wait_seconds: seconds,
            at_ms,
            focus_team: team.map(str::to_owned),
            ticket_number: ticket.map(str::to_owned),
            talk_seconds: seconds / 2,
            wrap_seconds: seconds,
        })
}

/// A history of ticket changes, and of call log changes on the same keys' neighbour.
fn history() -> impl Strategy<Value = Vec<Change>> {
    let calls = (
        prop::collection::vec(call_event(), 1..3),
        common::hlc(),
        1u64..1000,
    )
        .prop_map(|(events, hlc, seq)| {
            let mut ops: Vec<FieldOp> = Vec::new();
            for event in events {
                if !ops
                    .iter()
                    .any(|op| matches!(op, FieldOp::AddCallEvent(e) if e.id == event.id))
                {
                    ops.push(FieldOp::AddCallEvent(event));
                }
            }
            Change {
                key: EntityKey::new(EntityKind::CallLog, "erfurt-2026-07-14"),
                ops,
                origin_site: "erfurt".to_owned(),
                origin_seq: seq,
                hlc,
            }
        });
    prop::collection::vec(prop_oneof![3 => common::change(), 1 => calls], 1..24)
}

/// The bytes of `messages` as elements of a repeated field (one-byte tag, length, body).
fn repeated<M: prost::Message>(messages: &[M]) -> usize {
    messages
        .iter()
        .map(|m| {
            let len = m.encoded_len();
            1 + prost::encoding::encoded_len_varint(len as u64) + len
        })
        .sum()
}

/// The parts `parts` writes of `state`, measured by encoding them.
fn encoded(state: &EntityState, parts: &EntityState) -> Grown {
    let wire = pb::EntityState::from(state.clone());
    let mut grown = Grown::default();
    if !parts.registers.is_empty() {
        grown.register_bytes = repeated(&wire.registers);
    }
    if !parts.comments.is_empty() {
        grown.comments = wire.comments.len();
        grown.element_bytes += repeated(&wire.comments);
    }
    if !parts.call_events.is_empty() {
        grown.call_events = wire.call_events.len();
        grown.element_bytes += repeated(&wire.call_events);
    }
    grown
}

fn replay(changes: &[Change]) -> Vec<EntityState> {
    let mut states: Vec<EntityState> = Vec::new();
    for change in changes {
        match states.iter_mut().find(|s| s.key == change.key) {
            Some(state) => state.apply(change),
            None => {
                let mut state = EntityState::new(change.key.clone());
                state.apply(change);
                states.push(state);
            }
        }
    }
    states
}

proptest! {
    #![proptest_config(config())]

    /// The measured size of any state is the size of its encoding.
    #[test]
    fn an_entity_measures_what_it_encodes(changes in history()) {
        for state in replay(&changes) {
            let wire = pb::EntityState::from(state.clone());
            prop_assert_eq!(EntitySize::of(&state).total_bytes, prost::Message::encoded_len(&wire));
        }
    }

    /// A change's growth, measured element by element, is the growth of the whole encoded
    /// parts it writes; a change that grows nothing reports nothing.
    #[test]
    fn a_change_grows_what_merging_it_grows(changes in history(), next in history()) {
        let states = replay(&changes);
        for change in next {
            let before = states
                .iter()
                .find(|s| s.key == change.key)
                .cloned()
                .unwrap_or_else(|| EntityState::new(change.key.clone()));
            let parts = EntityState::delta(&change);
            let mut after = before.clone();
            after.apply(&change);
            let (old, new) = (encoded(&before, &parts), encoded(&after, &parts));
            let grows = new.comments > old.comments
                || new.call_events > old.call_events
                || new.element_bytes > old.element_bytes
                || new.register_bytes > old.register_bytes;
            match growth(&before, &change) {
                Some(measured) => {
                    prop_assert!(grows, "reported growth {:?} where none is", measured);
                    prop_assert_eq!(measured, (old, new));
                }
                None => prop_assert!(!grows, "missed growth {:?} -> {:?}", old, new),
            }
        }
    }
}
