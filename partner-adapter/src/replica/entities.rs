//! How an entity is stored (layout 2) and read back: the one place that knows it.
//!
//! An entity is a head under `e` (its registers and delete stamp, as a `hotline.v1.EntityState`
//! without comments or call events), one `c` record per comment and one `g` record per call
//! event (keys in [`super::keys`]). Comments and call events are grow-only sets, so a new comment
//! writes that comment and nothing else; the head is written only when a register or the delete
//! changed. A head written in layout 1 (the whole state) still reads: its comments and events
//! are joined with the records of their own, which is how a store mid-migration reads
//! ([`super::migrate`]).
//!
//! Readers: [`read`] (one entity, from sled or through the writer's stage), [`read_kind`]
//! (every entity of a kind, the same way), [`scan`] (every entity of a kind, or all, in key order),
//! [`keys`] (heads only). Writers: [`write`] (what changed between two states of one entity)
//! and [`remove`]. The open-time check uses [`check_head`] and [`check_element`].

use std::collections::{BTreeMap, BTreeSet};

use hotline_federation::EntityState;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::state::Stamped;
use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::{
    self, element_key, element_parts, element_prefix, entities_prefix, entity_key, head_key_of,
};
use super::records::corrupt;
use super::stage::Source;
use super::step::Sink;
use crate::error::{Error, Result};

/// Reads one entity; `None` when it has no head.
pub(super) fn read(source: &impl Source, key: &EntityKey) -> Result<Option<EntityState>> {
    let Some(raw) = source.read(&entity_key(key))? else {
        return Ok(None);
    };
    let mut wire = decode_head(&raw)?;
    for (_, raw) in source.scan(&element_prefix(keys::COMMENT, key))? {
        wire.comments.push(decode_comment(&raw)?);
    }
    for (_, raw) in source.scan(&element_prefix(keys::CALL_EVENT, key))? {
        wire.call_events.push(decode_event(&raw)?);
    }
    into_state(wire).map(Some)
}

/// Every entity of `kind` in key order, each read as its head and its elements; for the few
/// entities a step reads whole kinds of (the policies). Unlike [`scan`], it does not look for
/// elements without a head.
pub(super) fn read_kind(source: &impl Source, kind: EntityKind) -> Result<Vec<EntityState>> {
    let mut out = Vec::new();
    for (head, raw) in source.scan(&entities_prefix(keys::ENTITY, Some(kind)))? {
        let mut wire = decode_head(&raw)?;
        join_elements(source, &head, &mut wire)?;
        out.push(into_state(wire)?);
    }
    Ok(out)
}

/// Adds to `wire`, read from the head stored under `head`, its comments and call events. Only
/// tickets have comments and only call logs call events (the integrity check at open refuses
/// others), so other kinds cost no element reads.
fn join_elements(source: &impl Source, head: &[u8], wire: &mut pb::EntityState) -> Result<()> {
    if keys::head_is_kind(head, EntityKind::Ticket) {
        for (_, raw) in source.scan(&keys::head_element_prefix(keys::COMMENT, head))? {
            wire.comments.push(decode_comment(&raw)?);
        }
    }
    if keys::head_is_kind(head, EntityKind::CallLog) {
        for (_, raw) in source.scan(&keys::head_element_prefix(keys::CALL_EVENT, head))? {
            wire.call_events.push(decode_event(&raw)?);
        }
    }
    Ok(())
}

/// Calls `each` with every entity of `kind` (every entity when `None`) in key order, each read
/// as its head and then its elements. sled's iterators are not snapshots: one pass over the
/// heads beside one over the elements, as this was before, could pair a head with an element
/// pass that had already gone by it, or meet the first comment of a ticket created during the
/// scan before its head, and call a healthy store damaged. Writes are atomic batches that never
/// leave an element without its head, so an element read after its head belongs to it.
///
/// Then every element of `kind` is checked for its head: one without (still there when looked
/// at again, its head still missing) is a damaged store. Three point reads are not one
/// snapshot: an entity created and removed again between them would be taken for damage;
/// entity writes are serialised and flushed one at a time, so that takes two commits on the
/// same key within microseconds. A scan beside a removal (a purge, a refresh) may return an
/// entity's head with the elements read after its removal, as a merged scan could.
pub(super) fn scan(
    db: &sled::Db,
    kind: Option<EntityKind>,
    mut each: impl FnMut(EntityState) -> Result<()>,
) -> Result<()> {
    for head in db.scan_prefix(entities_prefix(keys::ENTITY, kind)) {
        let (key, raw) = head?;
        let mut wire = decode_head(&raw)?;
        join_elements(db, &key, &mut wire)?;
        each(into_state(wire)?)?;
    }
    for prefix in [keys::COMMENT, keys::CALL_EVENT] {
        let mut checked: Option<Vec<u8>> = None;
        for item in db.scan_prefix(entities_prefix(prefix, kind)) {
            let (key, _) = item?;
            let (owner, _) = element_parts(&key).ok_or_else(|| malformed(&key))?;
            if checked.as_deref() == Some(owner) {
                continue;
            }
            let head = head_key_of(owner);
            if db.get(&head)?.is_some() {
                checked = Some(owner.to_vec());
            } else if db.get(&key)?.is_some() && db.get(&head)?.is_none() {
                return Err(orphan(&key));
            }
        }
    }
    Ok(())
}

/// The keys of every entity (reads the heads only).
pub(super) fn keys(db: &sled::Db) -> Result<BTreeSet<EntityKey>> {
    let mut out = BTreeSet::new();
    for item in db.scan_prefix([keys::ENTITY]) {
        let wire = decode_head(&item?.1)?;
        let key = wire
            .key
            .ok_or_else(|| corrupt("entity", "a head without its key"))?;
        out.insert(EntityKey::try_from(key).map_err(|e| corrupt("entity", e))?);
    }
    Ok(out)
}

/// Writes into `batch` what turns the stored `before` into `after` (the same entity): the head
/// when `before` may have none (it is empty) or a register or the delete differs, each comment
/// and call event whose value is new or changed, and removals of those `after` no longer holds
/// (a replacement may hold fewer).
pub(super) fn write(batch: &mut impl Sink, before: &EntityState, after: &EntityState) {
    if before.is_empty() || before.registers != after.registers || before.deleted != after.deleted {
        batch.put(entity_key(&after.key), encode_head(after));
    }
    write_elements(
        batch,
        keys::COMMENT,
        &after.key,
        &before.comments,
        &after.comments,
        |c| {
            pb::StampedComment {
                stamp: Some(c.stamp.clone().into()),
                comment: Some(c.value.clone().into()),
            }
            .encode_to_vec()
        },
    );
    write_elements(
        batch,
        keys::CALL_EVENT,
        &after.key,
        &before.call_events,
        &after.call_events,
        |e| {
            pb::StampedCallEvent {
                stamp: Some(e.stamp.clone().into()),
                event: Some(e.value.clone().into()),
            }
            .encode_to_vec()
        },
    );
}

/// Removes the stored `before` from the store: its head, comments and call events.
pub(super) fn remove(batch: &mut impl Sink, before: &EntityState) {
    batch.delete(entity_key(&before.key));
    for id in before.comments.keys() {
        batch.delete(element_key(keys::COMMENT, &before.key, id));
    }
    for id in before.call_events.keys() {
        batch.delete(element_key(keys::CALL_EVENT, &before.key, id));
    }
}

/// Writes the elements of one grow-only set that differ between `before` and `after`.
fn write_elements<T: PartialEq>(
    batch: &mut impl Sink,
    prefix: u8,
    key: &EntityKey,
    before: &BTreeMap<String, Stamped<T>>,
    after: &BTreeMap<String, Stamped<T>>,
    encode: impl Fn(&Stamped<T>) -> Vec<u8>,
) {
    for (id, element) in after {
        if before.get(id) != Some(element) {
            batch.put(element_key(prefix, key, id), encode(element));
        }
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        batch.delete(element_key(prefix, key, id));
    }
}

/// The head of a state: its key, registers and delete stamp.
fn encode_head(state: &EntityState) -> Vec<u8> {
    pb::EntityState::from(state.head()).encode_to_vec()
}

fn decode_head(raw: &[u8]) -> Result<pb::EntityState> {
    pb::EntityState::decode(raw).map_err(|e| corrupt("entity", e))
}

fn decode_comment(raw: &[u8]) -> Result<pb::StampedComment> {
    pb::StampedComment::decode(raw).map_err(|e| corrupt("comment", e))
}

fn decode_event(raw: &[u8]) -> Result<pb::StampedCallEvent> {
    pb::StampedCallEvent::decode(raw).map_err(|e| corrupt("call event", e))
}

fn into_state(wire: pb::EntityState) -> Result<EntityState> {
    EntityState::try_from(wire).map_err(|e| corrupt("entity", e))
}

fn orphan(key: &[u8]) -> Error {
    corrupt(
        "entity",
        format!("record {} has no entity head", keys::show_hex(key)),
    )
}

fn malformed(key: &[u8]) -> Error {
    corrupt(
        "entity",
        format!(
            "record {} is not <kind>/<id>, 0, <element id>",
            keys::show_hex(key)
        ),
    )
}

/// Checks a head record for the open-time check: it decodes and, in layout 2 (`split`), holds
/// no comments or call events (they have records of their own).
pub(super) fn check_head(raw: &[u8], split: bool) -> std::result::Result<(), String> {
    let wire = pb::EntityState::decode(raw).map_err(|e| format!("cannot decode: {e}"))?;
    if split && !(wire.comments.is_empty() && wire.call_events.is_empty()) {
        return Err(format!(
            "the head holds {} comments and {} call events; layout 2 keeps each under its own key",
            wire.comments.len(),
            wire.call_events.len()
        ));
    }
    into_state(wire).map(drop).map_err(|e| e.to_string())
}

/// Checks a comment (`c`) or call event (`g`) record for the open-time check: its key names a
/// valid entity and element id, the value decodes into an element of that id valid for the
/// entity's kind, and the entity has a head. `last_head` remembers the last head found, so a
/// ticket with many comments is looked up once.
pub(super) fn check_element(
    db: &sled::Db,
    key: &[u8],
    raw: &[u8],
    last_head: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    let (owner, id) = element_parts(key)
        .ok_or_else(|| "the key is not <kind>/<id>, 0, <element id>".to_owned())?;
    let text = std::str::from_utf8(owner).map_err(|_| "the key is not UTF-8".to_owned())?;
    let (kind, entity) = text
        .split_once('/')
        .ok_or_else(|| "the key is not <kind>/<id>, 0, <element id>".to_owned())?;
    let kind = EntityKind::parse("kind", kind).map_err(|e| e.to_string())?;
    let entity_key = EntityKey::new(kind, entity);
    let mut wire = pb::EntityState {
        key: Some(entity_key.clone().into()),
        ..pb::EntityState::default()
    };
    let element_id = if key[0] == keys::COMMENT {
        let comment = pb::StampedComment::decode(raw).map_err(|e| format!("cannot decode: {e}"))?;
        let id = comment.comment.as_ref().map(|c| c.id.clone());
        wire.comments.push(comment);
        id
    } else {
        let event = pb::StampedCallEvent::decode(raw).map_err(|e| format!("cannot decode: {e}"))?;
        let id = event.event.as_ref().map(|e| e.id.clone());
        wire.call_events.push(event);
        id
    };
    into_state(wire).map_err(|e| e.to_string())?;
    if element_id.as_deref().map(str::as_bytes) != Some(id) {
        return Err(format!(
            "holds element {:?} under the key of element {:?}",
            element_id.unwrap_or_default(),
            String::from_utf8_lossy(id)
        ));
    }
    if last_head.as_slice() != owner {
        if !db
            .contains_key(head_key_of(owner))
            .map_err(|e| e.to_string())?
        {
            return Err("its entity has no head (`e` record)".to_owned());
        }
        *last_head = owner.to_vec();
    }
    Ok(())
}

#[cfg(test)]
#[path = "entities_tests.rs"]
mod tests;
