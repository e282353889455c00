//! The merged state of an entity and the merge itself (DESIGN.md section 4).
//!
//! Merging is a join of two states: each scalar field is a last-writer-wins register ordered by
//! (HLC, site) and, for the rare equal stamp, by the value's canonical bytes; comments and call
//! events are grow-only sets keyed by id; a delete is a tombstone. A change is applied by
//! joining its delta. Because the join is commutative, associative and idempotent, every site
//! that has seen the same changes holds the same state, whatever order, grouping or repetition
//! they arrived in.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::change::{Change, FieldOp, Stamp};
use crate::model::{CallEvent, Comment, EntityKey, FieldValue};

/// How many superseded writes a register keeps for audit (the newest ones).
pub const SUPERSEDED_KEPT: usize = 8;

/// A value with the position of its write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// Position of the write.
    pub stamp: Stamp,
    /// What was written.
    pub value: T,
}

impl<T: Serialize> Stamped<T> {
    /// The last-writer-wins order: stamp, then canonical bytes of the value, so two different
    /// writes with an equal stamp (possible only from a misbehaving site) still order the same
    /// way everywhere.
    fn lww_cmp(&self, other: &Self) -> Ordering {
        self.stamp
            .cmp(&other.stamp)
            .then_with(|| canonical(&self.value).cmp(&canonical(&other.value)))
    }
}

/// One scalar field: the winning write and the newest superseded ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// The winning write.
    pub winner: Stamped<FieldValue>,
    /// Superseded writes, newest first, at most [`SUPERSEDED_KEPT`].
    pub superseded: Vec<Stamped<FieldValue>>,
}

impl Register {
    /// A register holding one write.
    pub fn new(stamp: Stamp, value: FieldValue) -> Self {
        Register {
            winner: Stamped { stamp, value },
            superseded: Vec::new(),
        }
    }

    /// Joins `other` into `self`: the result depends only on the union of both histories.
    pub fn join(&mut self, other: &Register) {
        if other.winner == self.winner && other.superseded == self.superseded {
            return;
        }
        let mut all: Vec<Stamped<FieldValue>> =
            Vec::with_capacity(2 + self.superseded.len() + other.superseded.len());
        all.push(self.winner.clone());
        all.append(&mut self.superseded);
        all.push(other.winner.clone());
        all.extend(other.superseded.iter().cloned());
        all.sort_by(|a, b| b.lww_cmp(a));
        all.dedup();
        let mut rest = all.into_iter();
        // `all` holds at least our own winner, so there is always a first element.
        if let Some(winner) = rest.next() {
            self.winner = winner;
        }
        self.superseded = rest.take(SUPERSEDED_KEPT).collect();
    }
}

/// The merged state of one entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityState {
    /// The entity.
    pub key: EntityKey,
    /// One register per scalar field, by register name.
    pub registers: BTreeMap<String, Register>,
    /// Comments by id (tickets).
    pub comments: BTreeMap<String, Stamped<Comment>>,
    /// Call events by id (call logs).
    pub call_events: BTreeMap<String, Stamped<CallEvent>>,
    /// The latest delete, when deleted.
    pub deleted: Option<Stamp>,
}

impl EntityState {
    /// An empty state: nothing written yet.
    pub fn new(key: EntityKey) -> Self {
        EntityState {
            key,
            registers: BTreeMap::new(),
            comments: BTreeMap::new(),
            call_events: BTreeMap::new(),
            deleted: None,
        }
    }

    /// The state that holds exactly the writes of `change`.
    pub fn delta(change: &Change) -> Self {
        let stamp = change.stamp();
        let mut state = EntityState::new(change.key.clone());
        for op in &change.ops {
            match op {
                FieldOp::Set(value) => {
                    let incoming = Register::new(stamp.clone(), value.clone());
                    match state.registers.get_mut(&value.register()) {
                        Some(register) => register.join(&incoming),
                        None => {
                            state.registers.insert(value.register(), incoming);
                        }
                    }
                }
                FieldOp::AddComment(comment) => {
                    let element = Stamped {
                        stamp: stamp.clone(),
                        value: comment.clone(),
                    };
                    join_element(&mut state.comments, comment.id.clone(), Cow::Owned(element));
                }
                FieldOp::AddCallEvent(event) => {
                    let element = Stamped {
                        stamp: stamp.clone(),
                        value: event.clone(),
                    };
                    join_element(
                        &mut state.call_events,
                        event.id.clone(),
                        Cow::Owned(element),
                    );
                }
                FieldOp::Delete { .. } => {
                    state.deleted = state.deleted.take().max(Some(stamp.clone()));
                }
            }
        }
        state
    }

    /// Applies a change: joins its delta.
    pub fn apply(&mut self, change: &Change) {
        self.join_owned(EntityState::delta(change));
    }

    /// Joins another state of the same entity into this one.
    pub fn join(&mut self, other: &EntityState) {
        debug_assert_eq!(self.key, other.key, "join across different entities");
        for (name, register) in &other.registers {
            match self.registers.get_mut(name) {
                Some(mine) => mine.join(register),
                None => {
                    self.registers.insert(name.clone(), register.clone());
                }
            }
        }
        for (id, comment) in &other.comments {
            join_element(&mut self.comments, id.clone(), Cow::Borrowed(comment));
        }
        for (id, event) in &other.call_events {
            join_element(&mut self.call_events, id.clone(), Cow::Borrowed(event));
        }
        if other.deleted > self.deleted {
            self.deleted = other.deleted.clone();
        }
        // An erased ticket keeps no personal data, whatever the join brought.
        crate::erasure::erase_personal_data(self);
    }

    /// [`EntityState::join`] taking `other` whole: its elements move in instead of being
    /// copied (how [`EntityState::apply`] and the gateway's writer join a change's delta).
    pub fn join_owned(&mut self, other: EntityState) {
        debug_assert_eq!(self.key, other.key, "join across different entities");
        for (name, register) in other.registers {
            match self.registers.get_mut(&name) {
                Some(mine) => mine.join(&register),
                None => {
                    self.registers.insert(name, register);
                }
            }
        }
        for (id, comment) in other.comments {
            join_element(&mut self.comments, id, Cow::Owned(comment));
        }
        for (id, event) in other.call_events {
            join_element(&mut self.call_events, id, Cow::Owned(event));
        }
        if other.deleted > self.deleted {
            self.deleted = other.deleted;
        }
        crate::erasure::erase_personal_data(self);
    }

    /// The winning value of a register, if written.
    pub fn value(&self, register: &str) -> Option<&FieldValue> {
        self.registers.get(register).map(|r| &r.winner.value)
    }

    /// The head of the state: its key, registers and delete stamp without the comments and
    /// call events (the stores keep those one record each, beside the head).
    pub fn head(&self) -> EntityState {
        EntityState {
            key: self.key.clone(),
            registers: self.registers.clone(),
            comments: BTreeMap::new(),
            call_events: BTreeMap::new(),
            deleted: self.deleted.clone(),
        }
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.registers.is_empty()
            && self.comments.is_empty()
            && self.call_events.is_empty()
            && self.deleted.is_none()
    }

    /// The canonical encoding: equal states have equal bytes, at every site.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical(self)
    }

    /// SHA-256 of the canonical encoding.
    pub fn canonical_hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// A grow-only set element join: keep the greater write for an id. A borrowed `incoming` is
/// copied only when it is kept.
fn join_element<T: Clone + Serialize + PartialEq>(
    set: &mut BTreeMap<String, Stamped<T>>,
    id: String,
    incoming: Cow<'_, Stamped<T>>,
) {
    match set.get_mut(&id) {
        Some(existing) => {
            if incoming.lww_cmp(existing) == Ordering::Greater {
                *existing = incoming.into_owned();
            }
        }
        None => {
            set.insert(id, incoming.into_owned());
        }
    }
}

/// Canonical bytes of any model value. The model holds only ordered maps, so serde_json's output
/// is a pure function of the value.
fn canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serialising plain data (strings, numbers, ordered maps, enums) into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// SHA-256 of a change's canonical encoding: two changes with the same digest are the same
/// change (the gateway tells a retried push from a reused origin sequence number by it).
pub fn change_digest(change: &Change) -> [u8; 32] {
    Sha256::digest(canonical(change)).into()
}

/// A set of entity states: what a site (or the gateway, for a tenant) holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// States by entity key.
    pub entities: BTreeMap<EntityKey, EntityState>,
}

impl Replica {
    /// Applies one change.
    pub fn apply(&mut self, change: &Change) {
        self.entities
            .entry(change.key.clone())
            .or_insert_with(|| EntityState::new(change.key.clone()))
            .apply(change);
    }

    /// Joins a whole state (a snapshot item).
    pub fn join_state(&mut self, state: &EntityState) {
        match self.entities.get_mut(&state.key) {
            Some(mine) => mine.join(state),
            None => {
                self.entities.insert(state.key.clone(), state.clone());
            }
        }
    }

    /// Joins every state of another replica.
    pub fn join(&mut self, other: &Replica) {
        for state in other.entities.values() {
            self.join_state(state);
        }
    }

    /// SHA-256 over every entity's canonical encoding, in key order: two replicas with equal
    /// hashes hold the same entities in the same state.
    pub fn canonical_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for state in self.entities.values() {
            hasher.update(state.canonical_hash());
        }
        hasher.finalize().into()
    }
}
