//! Entities in storage layout 2: the one module that reads and writes them.
//!
//! An entity is a head under `e` (its registers and delete stamp) plus one key per comment
//! under `c` and one per call event under `g` (see [`super::keys`]). Comments and call events
//! are grow-only sets, so a change writes the head only when it sets a register or deletes
//! (or the entity is new), and only the elements it adds: a comment on a ticket with 100
//! comments writes that comment, not the ticket. The writer derives these records from the
//! change's operations ([`write_change`]), without comparing whole states.
//!
//! Reads give the whole [`EntityState`]. A scan reads the heads with one range read and the
//! elements of all of them with one more per element prefix, merged in key order; it never
//! reads entity by entity.

use hotline_federation::model::{CallEvent, Comment, EntityKey, EntityKind};
use hotline_federation::state::EntityState;
use hotline_federation::state::Stamped;
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use prost::Message;

use super::{Batch, Pages, Store, keys};
use crate::error::{Error, Result};
use crate::log::decode;

/// The storage layout this module reads and writes.
pub const LAYOUT: u64 = 2;

/// The stored state of `key`, whole; `None` when nothing is stored.
pub fn read(store: &dyn Store, key: &EntityKey) -> Result<Option<EntityState>> {
    let Some(raw) = store.get(&keys::entity(key))? else {
        return Ok(None);
    };
    let mut head: pb::EntityState = decode("entity head", &raw)?;
    for &prefix in element_prefixes(key.kind) {
        let start = keys::element_prefix(prefix, key);
        let elements = store.range(&start, &keys::prefix_end(&start), usize::MAX)?;
        for (_, value) in elements {
            push_element(&mut head, prefix, &value)?;
        }
    }
    finish(head).map(Some)
}

/// The stored states of `keys`, whole, in the order asked (`None` where nothing is stored):
/// the same as [`read`] for each, in two reads of the store whatever their number (the heads,
/// then the elements of those stored), where [`read`] makes one to three per entity. For a
/// store whose reads are round trips (PostgreSQL).
pub fn read_many(store: &dyn Store, keys: &[EntityKey]) -> Result<Vec<Option<EntityState>>> {
    let head_keys: Vec<Vec<u8>> = keys.iter().map(keys::entity).collect();
    let mut heads: Vec<Option<pb::EntityState>> = store
        .get_many(&head_keys)?
        .into_iter()
        .map(|raw| raw.map(|raw| decode("entity head", &raw)).transpose())
        .collect::<Result<_>>()?;
    // Which entity and element prefix each range read belongs to.
    let mut owners = Vec::new();
    let mut ranges = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if heads[i].is_some() {
            for &prefix in element_prefixes(key.kind) {
                let start = keys::element_prefix(prefix, key);
                let end = keys::prefix_end(&start);
                owners.push((i, prefix));
                ranges.push((start, end));
            }
        }
    }
    for ((i, prefix), elements) in owners.into_iter().zip(store.ranges(&ranges)?) {
        if let Some(head) = heads[i].as_mut() {
            for (_, value) in elements {
                push_element(head, prefix, &value)?;
            }
        }
    }
    heads
        .into_iter()
        .map(|head| head.map(finish).transpose())
        .collect()
}

/// The stored head of `key`: its registers and delete stamp, without comments or call events
/// (one read, where [`read`] also reads every element); `None` when nothing is stored. For
/// readers of registers only, as [`for_each_head`].
pub fn read_head(store: &dyn Store, key: &EntityKey) -> Result<Option<EntityState>> {
    store
        .get(&keys::entity(key))?
        .map(|raw| decode_head(&raw))
        .transpose()
}

/// The stored heads of `keys` in one read of the store (one round trip on PostgreSQL), each
/// as [`read_head`] answers it, in the order of `keys`.
pub fn read_heads(store: &dyn Store, keys: &[EntityKey]) -> Result<Vec<Option<EntityState>>> {
    let raw: Vec<Vec<u8>> = keys.iter().map(keys::entity).collect();
    store
        .get_many(&raw)?
        .into_iter()
        .map(|head| head.map(|raw| decode_head(&raw)).transpose())
        .collect()
}

/// A stored head record (registers and delete stamp) as a state without elements.
fn decode_head(raw: &[u8]) -> Result<EntityState> {
    finish(decode("entity head", raw)?)
}

/// The stored state of `key`, or the empty state when nothing is stored.
pub fn read_or_new(store: &dyn Store, key: &EntityKey) -> Result<EntityState> {
    Ok(read(store, key)?.unwrap_or_else(|| EntityState::new(key.clone())))
}

/// Every stored entity of `kind`, whole, in key order.
pub fn scan(store: &dyn Store, kind: EntityKind) -> Result<Vec<EntityState>> {
    let start = keys::entity_kind_prefix(kind);
    let heads = store.range(&start, &keys::prefix_end(&start), usize::MAX)?;
    assemble(store, heads)
}

/// Every stored entity, whole, in key order.
pub fn scan_all(store: &dyn Store) -> Result<Vec<EntityState>> {
    let (start, end) = keys::entity_range();
    assemble(store, store.range(&start, &end, usize::MAX)?)
}

/// Calls `each` with the head of every stored entity of `kind`, in key order, reading
/// `chunk` heads at a time: the registers and the delete stamp only, without comments or call
/// events, so a pass over every ticket holds one chunk of small records, whatever the store's
/// size. For readers that need registers only (the service figures); anything that needs the
/// elements reads the entity whole ([`read`]).
pub fn for_each_head(
    store: &dyn Store,
    kind: EntityKind,
    chunk: usize,
    mut each: impl FnMut(EntityState) -> Result<()>,
) -> Result<()> {
    let prefix = keys::entity_kind_prefix(kind);
    let end = keys::prefix_end(&prefix);
    let mut pages = Pages::new(prefix, end, chunk);
    while let Some(heads) = pages.next_page(store)? {
        for (_, raw) in heads {
            each(decode_head(&raw)?)?;
        }
    }
    Ok(())
}

/// Streams the stored entities a chunk at a time, so a large store is never held whole.
#[derive(Debug)]
pub struct Chunks {
    heads: Pages,
}

impl Chunks {
    /// Chunks of at most `limit` entities (at least one), from the first entity on.
    pub fn new(limit: usize) -> Self {
        let (start, end) = keys::entity_range();
        Chunks {
            heads: Pages::new(start, end, limit),
        }
    }

    /// The next chunk, whole states in key order; `None` after the last.
    pub fn next_chunk(&mut self, store: &dyn Store) -> Result<Option<Vec<EntityState>>> {
        match self.heads.next_page(store)? {
            Some(heads) => assemble(store, heads).map(Some),
            None => Ok(None),
        }
    }
}

/// Adds to `batch` the writes that turn the stored `before` into `after` (`after` being
/// `before` joined with something): the head when the registers or the delete changed (or
/// nothing was stored), and each comment and call event whose stamped value changed.
pub fn write_delta(batch: &mut Batch, before: &EntityState, after: &EntityState) {
    if before.is_empty() || before.registers != after.registers || before.deleted != after.deleted {
        batch.put(keys::entity(&after.key), encode_head(after));
    }
    for (id, comment) in &after.comments {
        if before.comments.get(id) != Some(comment) {
            put_comment(batch, &after.key, id, comment);
        }
    }
    for (id, event) in &after.call_events {
        if before.call_events.get(id) != Some(event) {
            put_call_event(batch, &after.key, id, event);
        }
    }
}

fn put_comment(batch: &mut Batch, entity: &EntityKey, id: &str, comment: &Stamped<Comment>) {
    let wire = pb::StampedComment {
        stamp: Some(comment.stamp.clone().into()),
        comment: Some(comment.value.clone().into()),
    };
    batch.put(
        keys::element(keys::COMMENT, entity, id),
        wire.encode_to_vec(),
    );
    crate::files::put_refs(batch, entity, &comment.value);
}

fn put_call_event(batch: &mut Batch, entity: &EntityKey, id: &str, event: &Stamped<CallEvent>) {
    let wire = pb::StampedCallEvent {
        stamp: Some(event.stamp.clone().into()),
        event: Some(event.value.clone().into()),
    };
    batch.put(
        keys::element(keys::CALL_EVENT, entity, id),
        wire.encode_to_vec(),
    );
}

/// Adds to `batch` the records `change` wrote into `after`, without comparing whole states:
/// the head when the change set a register or deleted the entity, or when nothing of the
/// entity was stored before (`before_empty`); and each comment and call event the change
/// added, as merged. A register write that lost to a newer one rewrites the head unchanged,
/// which is harmless.
pub fn write_change(batch: &mut Batch, before_empty: bool, after: &EntityState, change: &Change) {
    let head = before_empty
        || change
            .ops
            .iter()
            .any(|op| matches!(op, FieldOp::Set(_) | FieldOp::Delete { .. }));
    if head {
        batch.put(keys::entity(&after.key), encode_head(after));
    }
    for op in &change.ops {
        match op {
            FieldOp::AddComment(comment) => {
                if let Some(stored) = after.comments.get(&comment.id) {
                    put_comment(batch, &after.key, &comment.id, stored);
                }
            }
            FieldOp::AddCallEvent(event) => {
                if let Some(stored) = after.call_events.get(&event.id) {
                    put_call_event(batch, &after.key, &event.id, stored);
                }
            }
            FieldOp::Set(_) | FieldOp::Delete { .. } => {}
        }
    }
}

/// Adds to `batch` every record of `state`, as when nothing of it was stored.
pub fn write_whole(batch: &mut Batch, state: &EntityState) {
    write_delta(batch, &EntityState::new(state.key.clone()), state);
}

/// The head record: the state without its comments and call events.
fn encode_head(state: &EntityState) -> Vec<u8> {
    pb::EntityState::from(state.head()).encode_to_vec()
}

/// The element prefixes an entity of `kind` may have.
fn element_prefixes(kind: EntityKind) -> &'static [u8] {
    match kind {
        EntityKind::Ticket => &[keys::COMMENT],
        EntityKind::CallLog => &[keys::CALL_EVENT],
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy | EntityKind::Suggestion => {
            &[]
        }
    }
}

fn push_element(head: &mut pb::EntityState, prefix: u8, value: &[u8]) -> Result<()> {
    if prefix == keys::COMMENT {
        head.comments.push(decode("comment", value)?);
    } else {
        head.call_events.push(decode("call event", value)?);
    }
    Ok(())
}

fn finish(head: pb::EntityState) -> Result<EntityState> {
    EntityState::try_from(head).map_err(|e| Error::Corrupt(format!("entity state: {e}")))
}

/// Whole states of the heads of one key range: one range read per element prefix covering
/// the elements of every head that can have them, merged with the heads in key order.
fn assemble(store: &dyn Store, heads: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<EntityState>> {
    let mut states = Vec::with_capacity(heads.len());
    for (key, raw) in heads {
        let entity = keys::parse_entity(&key)
            .ok_or_else(|| Error::Corrupt(format!("entity head key {key:?} names no entity")))?;
        states.push((entity, decode::<pb::EntityState>("entity head", &raw)?));
    }
    for kind in [EntityKind::Ticket, EntityKind::CallLog] {
        for &prefix in element_prefixes(kind) {
            attach(store, &mut states, kind, prefix)?;
        }
    }
    states.into_iter().map(|(_, head)| finish(head)).collect()
}

/// Reads the elements under `prefix` of the heads of `kind` in `states` (contiguous, as heads
/// sort by kind first) and adds each to its head. Elements without a head are skipped.
fn attach(
    store: &dyn Store,
    states: &mut [(EntityKey, pb::EntityState)],
    kind: EntityKind,
    prefix: u8,
) -> Result<()> {
    let Some(first) = states.iter().position(|(k, _)| k.kind == kind) else {
        return Ok(());
    };
    let count = states[first..]
        .iter()
        .take_while(|(k, _)| k.kind == kind)
        .count();
    let run = &mut states[first..first + count];
    let start = keys::element_prefix(prefix, &run[0].0);
    let end = keys::prefix_end(&keys::element_prefix(prefix, &run[count - 1].0));
    let mut at = 0;
    for (key, value) in store.range(&start, &end, usize::MAX)? {
        let owner = keys::element_owner(&key)
            .ok_or_else(|| Error::Corrupt(format!("element key {key:?} names no entity")))?;
        while at < run.len() && run[at].0.id.as_bytes() < owner {
            at += 1;
        }
        match run.get_mut(at) {
            Some((entity, head)) if entity.id.as_bytes() == owner => {
                push_element(head, prefix, &value)?;
            }
            _ => tracing::warn!(key = ?key, "an element without its entity's head; skipped"),
        }
    }
    Ok(())
}
