//! Bounds on the size of one entity, so that every entity, and every change, fits in one gRPC
//! message at every site.
//!
//! Comments and call events are grow-only sets: without a bound, one partner could grow a
//! ticket until no site could decode it any more, and every subscription that meets the entry
//! would retry it for ever. Both ends check a change against the entity it would grow
//! ([`check_change`]): the gateway refuses it with `REJECT_REASON_TOO_LARGE`, the adapter
//! refuses it at its local API before it is stored.
//!
//! The bounds, and why these numbers:
//!
//! | bound | value | headroom |
//! |---|---|---|
//! | comments per ticket | [`MAX_COMMENTS`] = 1,000 | a busy ticket gets a few dozen |
//! | call events per call log (one site, one day) | [`MAX_CALL_EVENTS`] = 5,000 | the largest site answers about 1,000 calls a day, 2 to 3 events each |
//! | encoded comments or call events of one entity | [`MAX_ELEMENT_BYTES`] = 2 MiB | 1,000 comments of 2 KiB |
//! | encoded field values of one entity, with their kept history | [`MAX_REGISTER_BYTES`] = 2 MiB | a ticket's fields take at most about 100 KiB |
//!
//! A change is refused only when it takes a measure past its bound and grows it, so a ticket
//! full of comments can still be closed, re-routed or deleted. Whole entities therefore encode
//! to at most [`MAX_ENTITY_BYTES`], one valid change to at most [`MAX_CHANGE_BYTES`], and a
//! message limit of [`MIN_MESSAGE_BYTES`] carries either with its envelope.

use hotline_proto::v1 as pb;
use prost::Message;
use prost::encoding::encoded_len_varint;

use crate::change::{Change, MAX_LONG_TEXT, MAX_OPS, Stamp};
use crate::error::{Error, Result};
use crate::model::{CallEvent, Comment, EntityKey};
use crate::state::{EntityState, Register, Stamped};
use crate::wire::WireEnum;

/// Most comments on one ticket.
pub const MAX_COMMENTS: usize = 1_000;
/// Most call events in one call log (one site, one day).
pub const MAX_CALL_EVENTS: usize = 5_000;
/// Most encoded bytes of an entity's comments or call events (with their stamps).
pub const MAX_ELEMENT_BYTES: usize = 2 * 1024 * 1024;
/// Most encoded bytes of an entity's registers (winning values and kept superseded ones).
pub const MAX_REGISTER_BYTES: usize = 2 * 1024 * 1024;
/// Most encoded bytes of one entity state: both budgets, its key and its tombstone.
pub const MAX_ENTITY_BYTES: usize = MAX_ELEMENT_BYTES + MAX_REGISTER_BYTES + 1024;
/// Most encoded bytes of one valid change: [`MAX_OPS`] operations of at most a long text and
/// its framing each, plus key, site and clock.
pub const MAX_CHANGE_BYTES: usize = MAX_OPS * (MAX_LONG_TEXT + 256) + 1024;
/// What a sync message needs beyond the entity or change it carries (cursor, framing).
pub const MESSAGE_OVERHEAD_BYTES: usize = 64 * 1024;
/// The smallest gRPC message limit that carries every entity and every change: the gateway
/// refuses a `limits.max_message_bytes` below it, the adapter a `sync.max_message_bytes`.
pub const MIN_MESSAGE_BYTES: usize =
    max(MAX_ENTITY_BYTES, MAX_CHANGE_BYTES) + MESSAGE_OVERHEAD_BYTES;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The measures of one entity the bounds apply to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntitySize {
    /// Comments.
    pub comments: usize,
    /// Call events.
    pub call_events: usize,
    /// Encoded bytes of comments and call events, as they stand in the entity state.
    pub element_bytes: usize,
    /// Encoded bytes of the registers, as they stand in the entity state.
    pub register_bytes: usize,
    /// Encoded bytes of the whole entity state (`hotline.v1.EntityState`).
    pub total_bytes: usize,
}

/// The bytes a length-delimited field with a one-byte tag takes for a body of `len` bytes.
fn framed(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

// The encoded sizes of comments and call events, read from the domain values in place: a
// change to a ticket measures every comment of it, so nothing is copied to measure. Every
// field below has a one-byte tag; proto3 leaves out empty strings and zero numbers.

fn text_len(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        framed(text.len())
    }
}

fn number_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + encoded_len_varint(value)
    }
}

/// Enums are `int32` on the wire: a negative number would take ten bytes, ours never are.
fn enum_len(value: i32) -> usize {
    number_len(u64::try_from(value).unwrap_or(u64::MAX))
}

fn stamp_len(stamp: &Stamp) -> usize {
    let hlc = number_len(stamp.hlc.wall_ms) + number_len(u64::from(stamp.hlc.logical));
    framed(hlc) + text_len(&stamp.site)
}

fn comment_len(c: &Comment) -> usize {
    text_len(&c.id)
        + text_len(&c.author_alias)
        + text_len(&c.author_tenant)
        + enum_len(c.visibility.to_wire())
        + text_len(&c.body)
        + number_len(c.created_at_ms)
}

fn call_event_len(e: &CallEvent) -> usize {
    text_len(&e.id)
        + text_len(&e.site)
        + enum_len(e.outcome.to_wire())
        + number_len(u64::from(e.wait_seconds))
        + number_len(e.at_ms)
        + e.focus_team.as_deref().map_or(0, text_len)
        + e.ticket_number.as_deref().map_or(0, text_len)
        + number_len(u64::from(e.talk_seconds))
        + number_len(u64::from(e.wrap_seconds))
}

/// A `StampedComment` or `StampedCallEvent` as one element of the entity's repeated field.
fn element_len(stamp: &Stamp, body: usize) -> usize {
    framed(framed(stamp_len(stamp)) + framed(body))
}

fn comments_bytes<'a>(comments: impl Iterator<Item = &'a Stamped<Comment>>) -> usize {
    comments
        .map(|c| element_len(&c.stamp, comment_len(&c.value)))
        .sum()
}

fn call_events_bytes<'a>(events: impl Iterator<Item = &'a Stamped<CallEvent>>) -> usize {
    events
        .map(|e| element_len(&e.stamp, call_event_len(&e.value)))
        .sum()
}

fn registers_bytes<'a>(registers: impl Iterator<Item = &'a Register>) -> usize {
    registers
        .map(|r| framed(crate::wire::register_to_wire(r.clone()).encoded_len()))
        .sum()
}

impl EntitySize {
    /// Measures `state` by its wire encoding.
    pub fn of(state: &EntityState) -> Self {
        let comments = comments_bytes(state.comments.values());
        let call_events = call_events_bytes(state.call_events.values());
        let register_bytes = registers_bytes(state.registers.values());
        let key = framed(pb::EntityKey::from(state.key.clone()).encoded_len());
        let deleted = state
            .deleted
            .as_ref()
            .map_or(0, |d| framed(pb::Stamp::from(d.clone()).encoded_len()));
        EntitySize {
            comments: state.comments.len(),
            call_events: state.call_events.len(),
            element_bytes: comments + call_events,
            register_bytes,
            total_bytes: key + register_bytes + comments + call_events + deleted,
        }
    }
}

/// The measures a change can grow, of the parts of an entity it writes: a status change to a
/// ticket full of comments does not measure its comments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grown {
    /// Comments.
    pub comments: usize,
    /// Call events.
    pub call_events: usize,
    /// Encoded bytes of comments and call events.
    pub element_bytes: usize,
    /// Encoded bytes of the registers.
    pub register_bytes: usize,
}

impl Grown {
    /// The measures of `state`'s registers, comments and call events that `parts` writes.
    fn of(state: &EntityState, parts: &EntityState) -> Self {
        let mut grown = Grown::default();
        if !parts.registers.is_empty() {
            grown.register_bytes = registers_bytes(state.registers.values());
        }
        if !parts.comments.is_empty() {
            grown.comments = state.comments.len();
            grown.element_bytes += comments_bytes(state.comments.values());
        }
        if !parts.call_events.is_empty() {
            grown.call_events = state.call_events.len();
            grown.element_bytes += call_events_bytes(state.call_events.values());
        }
        grown
    }

    /// True when a measure is larger than in `before`.
    fn grows(&self, before: &Grown) -> bool {
        self.comments > before.comments
            || self.call_events > before.call_events
            || self.element_bytes > before.element_bytes
            || self.register_bytes > before.register_bytes
    }

    /// `self` with the measures of `old` elements replaced by those of `new` ones.
    fn replace(self, old: Grown, new: Grown) -> Grown {
        let step = |total: usize, old: usize, new: usize| total - old + new;
        Grown {
            comments: step(self.comments, old.comments, new.comments),
            call_events: step(self.call_events, old.call_events, new.call_events),
            element_bytes: step(self.element_bytes, old.element_bytes, new.element_bytes),
            register_bytes: step(self.register_bytes, old.register_bytes, new.register_bytes),
        }
    }
}

/// The measures of the parts `change` writes, before and after merging it into `before`.
///
/// A merge is a join per register, comment and call event, so only the elements the change
/// names can change: those are copied and merged, and the rest of the entity is measured only
/// when the change grows a measure (a step that grows nothing breaks no bound); its comments
/// and call events in place, its registers each converted to the wire type to be measured.
/// `None` when nothing grows.
pub fn growth(before: &EntityState, change: &Change) -> Option<(Grown, Grown)> {
    growth_of(before, &EntityState::delta(change))
}

/// [`growth`] of a change given as its delta ([`EntityState::delta`]).
pub fn growth_of(before: &EntityState, delta: &EntityState) -> Option<(Grown, Grown)> {
    let mut touched = EntityState::new(before.key.clone());
    for name in delta.registers.keys() {
        if let Some(register) = before.registers.get(name) {
            touched.registers.insert(name.clone(), register.clone());
        }
    }
    for id in delta.comments.keys() {
        if let Some(comment) = before.comments.get(id) {
            touched.comments.insert(id.clone(), comment.clone());
        }
    }
    for id in delta.call_events.keys() {
        if let Some(event) = before.call_events.get(id) {
            touched.call_events.insert(id.clone(), event.clone());
        }
    }
    let old_touched = Grown::of(&touched, delta);
    touched.join(delta);
    let new_touched = Grown::of(&touched, delta);
    if !new_touched.grows(&old_touched) {
        return None;
    }
    let old = Grown::of(before, delta);
    Some((old, old.replace(old_touched, new_touched)))
}

/// Checks that `change`, merged into `before`, keeps the entity within its bounds (see the
/// module docs); the error names the measure, the entity and the limit.
pub fn check_change(before: &EntityState, change: &Change) -> Result<()> {
    check_delta(before, &EntityState::delta(change))
}

/// [`check_change`] of a change given as its delta ([`EntityState::delta`]).
pub fn check_delta(before: &EntityState, delta: &EntityState) -> Result<()> {
    match growth_of(before, delta) {
        None => Ok(()),
        Some((old, new)) => check_growth(&before.key, &old, &new),
    }
}

/// Checks the step from `old` to `new` measures: a measure past its bound is refused only when
/// the step grew it.
fn check_growth(key: &EntityKey, old: &Grown, new: &Grown) -> Result<()> {
    let over = |old: usize, new: usize, limit: usize| new > limit && new > old;
    if over(old.comments, new.comments, MAX_COMMENTS) {
        return Err(Error::invalid(
            "entity.comments",
            format!(
                "{key} would hold {} comments; at most {MAX_COMMENTS} are allowed on one ticket \
                 (open a follow-up ticket that refers to this one)",
                new.comments
            ),
        ));
    }
    if over(old.call_events, new.call_events, MAX_CALL_EVENTS) {
        return Err(Error::invalid(
            "entity.call_events",
            format!(
                "{key} would hold {} call events; at most {MAX_CALL_EVENTS} are allowed in one \
                 call log",
                new.call_events
            ),
        ));
    }
    if over(old.element_bytes, new.element_bytes, MAX_ELEMENT_BYTES) {
        return Err(Error::invalid(
            "entity.element_bytes",
            format!(
                "{key} would hold {} bytes of comments and call events; at most \
                 {MAX_ELEMENT_BYTES} are allowed in one entity (write shorter comments or open a \
                 follow-up ticket)",
                new.element_bytes
            ),
        ));
    }
    if over(old.register_bytes, new.register_bytes, MAX_REGISTER_BYTES) {
        return Err(Error::invalid(
            "entity.register_bytes",
            format!(
                "{key} would hold {} bytes of field values with their history; at most \
                 {MAX_REGISTER_BYTES} are allowed in one entity",
                new.register_bytes
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldOp;
    use crate::clock::Hlc;
    use crate::model::{
        BrandField, Comment, EntityKey, EntityKind, FieldValue, Language, StatusTransition,
        TicketField, TicketStatus, Visibility,
    };

    const TICKET: &str = "ASZ-2026-000001";

    fn change(seq: u64, ops: Vec<FieldOp>) -> Change {
        Change {
            key: EntityKey::new(EntityKind::Ticket, TICKET),
            ops,
            origin_site: "dortmund".into(),
            origin_seq: seq,
            hlc: Hlc::new(seq, 0),
        }
    }

    fn comment(i: usize, body: &str) -> FieldOp {
        FieldOp::AddComment(Comment {
            id: format!("c-{i}"),
            author_alias: "Advisor 7".into(),
            author_tenant: "twenty4help".into(),
            visibility: Visibility::Federation,
            body: body.into(),
            created_at_ms: 1,
            attachments: Vec::new(),
        })
    }

    fn ticket_with_comments(n: usize, body: &str) -> EntityState {
        let mut state = EntityState::new(EntityKey::new(EntityKind::Ticket, TICKET));
        for i in 0..n {
            state.apply(&change(i as u64 + 1, vec![comment(i, body)]));
        }
        state
    }

    /// The measured total is exactly the wire size, so the bounds speak about real messages.
    #[test]
    fn measured_total_is_the_encoded_size() {
        let mut state = ticket_with_comments(5, "called back");
        state.apply(&change(
            10,
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
                "VPN".into(),
            )))],
        ));
        state.apply(&change(11, vec![FieldOp::Delete { reason: "x".into() }]));
        let wire = pb::EntityState::from(state.clone());
        assert_eq!(EntitySize::of(&state).total_bytes, wire.encoded_len());
    }

    /// The 1,001st comment is refused naming the bound; the 1,000th is fine.
    #[test]
    fn comment_count_is_bounded() {
        let full = ticket_with_comments(MAX_COMMENTS - 1, "x");
        let last = change(5000, vec![comment(MAX_COMMENTS, "x")]);
        check_change(&full, &last).expect("the 1,000th comment fits");
        let mut full = full;
        full.apply(&last);
        let err = check_change(&full, &change(5001, vec![comment(MAX_COMMENTS + 1, "x")]))
            .expect_err("the 1,001st comment must be refused");
        assert_eq!(err.field(), Some("entity.comments"), "{err}");
        assert!(err.to_string().contains("at most 1000"), "{err}");
    }

    /// Big comments hit the byte bound long before the count bound.
    #[test]
    fn comment_bytes_are_bounded() {
        let body = "y".repeat(16 * 1024);
        let mut state = ticket_with_comments(1, &body);
        let mut i = 1;
        let err = loop {
            let next = change(i as u64 + 1, vec![comment(i, &body)]);
            match check_change(&state, &next) {
                Ok(()) => state.apply(&next),
                Err(e) => break e,
            }
            i += 1;
            assert!(i < MAX_COMMENTS, "never refused");
        };
        assert_eq!(err.field(), Some("entity.element_bytes"), "{err}");
        assert!(EntitySize::of(&state).total_bytes <= MAX_ENTITY_BYTES);
    }

    /// A ticket full of comments can still be closed: a change that does not grow the full
    /// measure passes.
    #[test]
    fn a_full_ticket_can_still_be_closed() {
        let mut full = ticket_with_comments(MAX_COMMENTS, "x");
        full.comments.insert(
            "extra".into(),
            full.comments
                .values()
                .next()
                .cloned()
                .expect("has comments"),
        );
        let close = change(
            9000,
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::Status(
                StatusTransition {
                    from: Some(TicketStatus::Resolved),
                    to: TicketStatus::Closed,
                },
            )))],
        );
        check_change(&full, &close).expect("closing does not add comments");
    }

    /// The largest valid change (64 templates of 64 KiB) encodes within the change bound, so
    /// the smallest message limit carries it.
    #[test]
    fn the_largest_change_fits_the_bound() {
        let ops = (0..MAX_OPS)
            .map(|i| {
                FieldOp::Set(FieldValue::Brand(BrandField::Template(
                    format!("t{i:0>62}"),
                    Language::De,
                    "z".repeat(MAX_LONG_TEXT),
                )))
            })
            .collect();
        let change = Change {
            key: EntityKey::new(EntityKind::Brand, "brand"),
            ops,
            origin_site: "m".repeat(64),
            origin_seq: u64::MAX,
            hlc: Hlc::new(u64::MAX, u32::MAX),
        };
        change.validate().expect("valid");
        let size = pb::Change::from(change).encoded_len();
        assert!(size <= MAX_CHANGE_BYTES, "{size} > {MAX_CHANGE_BYTES}");
    }
}
