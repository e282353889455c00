//! Properties of the entity bounds' measures (`hotline_federation::limits`): what the bounds
//! compute in place, element by element, is what the wire encoding of the same entity takes.

mod common;

use hotline_federation::limits::{EntitySize, Grown, growth};
use hotline_federation::model::{
    CallEvent, CallOutcome, Comment, EntityKey, EntityKind, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        ..ProptestConfig::default()
    }
}

/// Numbers whose encodings take one to ten bytes, zero (left out) included.
fn number() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![
        0u64,
        1,
        127,
        128,
        16_383,
        16_384,
        1_790_000_000_000,
        u64::MAX,
    ])
}

fn small_number() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![0u32, 1, 127, 128, 16_384, u32::MAX])
}

/// Texts whose length prefix takes one to three bytes, empty (left out) included.
fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![0usize, 1, 127, 128, 20_000]).prop_map(|n| "ä".repeat(n / 2))
}

fn hlc() -> impl Strategy<Value = Hlc> {
    (number(), small_number()).prop_map(|(wall, logical)| Hlc::new(wall, logical))
}

/// Call events with every optional field present, empty or absent and every number of any
/// width, each drawn on its own.
fn call_event() -> impl Strategy<Value = CallEvent> {
    (
        prop::sample::select(vec!["e1", "e2", "e3"]),
        prop::sample::select(CallOutcome::ALL.to_vec()),
        (small_number(), small_number(), small_number()),
        number(),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(
            |(id, outcome, (wait, talk, wrap), at_ms, team, ticket)| CallEvent {
                id: id.to_owned(),
                site: "erfurt".to_owned(),
                outcome,
                wait_seconds: wait,
                at_ms,
                focus_team: team,
                ticket_number: ticket,
                talk_seconds: talk,
                wrap_seconds: wrap,
            },
        )
}

/// Comments with every field of any width, ids shared with [`common::change`]'s.
fn comment() -> impl Strategy<Value = Comment> {
    (
        prop::sample::select(vec!["c1", "c2", "c9"]),
        text(),
        text(),
        prop::sample::select(Visibility::ALL.to_vec()),
        text(),
        number(),
    )
        .prop_map(|(id, alias, tenant, visibility, body, at)| Comment {
            id: id.to_owned(),
            author_alias: alias,
            author_tenant: tenant,
            visibility,
            body,
            created_at_ms: at,
            attachments: Vec::new(),
        })
}

/// One change of `key` adding `elements`, each id once.
fn adding<T>(
    key: EntityKey,
    elements: impl Strategy<Value = T>,
    op: fn(T) -> FieldOp,
    id: fn(&FieldOp) -> String,
) -> impl Strategy<Value = Change> {
    (prop::collection::vec(elements, 1..3), hlc(), 1u64..1000).prop_map(move |(all, hlc, seq)| {
        let mut ops: Vec<FieldOp> = Vec::new();
        for op in all.into_iter().map(op) {
            if !ops.iter().any(|o| id(o) == id(&op)) {
                ops.push(op);
            }
        }
        Change {
            key: key.clone(),
            ops,
            origin_site: "erfurt".to_owned(),
            origin_seq: seq,
            hlc,
        }
    })
}

fn element_id(op: &FieldOp) -> String {
    match op {
        FieldOp::AddComment(c) => c.id.clone(),
        FieldOp::AddCallEvent(e) => e.id.clone(),
        FieldOp::Set(_) | FieldOp::Delete { .. } => String::new(),
    }
}

/// Histories of ticket changes (narrow values, many conflicts), of comments of every width on
/// the same tickets, and of call log changes.
fn history() -> impl Strategy<Value = Vec<Change>> {
    let ticket = EntityKey::new(EntityKind::Ticket, common::TICKETS[0]);
    let calls = EntityKey::new(EntityKind::CallLog, "erfurt-2026-07-14");
    let comments = adding(ticket, comment(), FieldOp::AddComment, element_id);
    let calls = adding(calls, call_event(), FieldOp::AddCallEvent, element_id);
    prop::collection::vec(
        prop_oneof![3 => common::change(), 1 => comments, 1 => calls],
        1..24,
    )
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
