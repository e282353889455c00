//! One atomic step of the store: the writes a logical step makes and the webhook events it
//! raises, collected as values and written in the same batch at commit
//! ([`Replica::commit`](super::Replica)), or staged with the rest of the local writer's group
//! ([`super::stage`]).

use std::collections::BTreeMap;

use hotline_federation::EntityState;

use super::entities;

/// Writes by key, the last one of a key winning (`None` removes), as a sled batch keeps them;
/// unlike a sled batch, they can be read back (the writer's group stages them).
pub(super) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Where writes are collected: a step's [`Writes`], or a sled batch.
pub(super) trait Sink {
    /// Writes `value` under `key`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Removes `key`.
    fn delete(&mut self, key: Vec<u8>);
}

impl Sink for Writes {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, Some(value));
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.insert(key, None);
    }
}

impl Sink for sled::Batch {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.remove(key);
    }
}

/// `writes` as one sled batch.
pub(super) fn batch_of(writes: Writes) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    batch
}

/// The writes of one atomic step, built by the caller and applied by the store's commit.
#[derive(Default)]
pub struct Step {
    pub(super) writes: Writes,
    /// Webhook event bodies raised in this step, in order; each gets the next event id at
    /// commit.
    pub(super) events: Vec<Vec<u8>>,
    /// The origin sequence number a replayed dead letter keeps, instead of the next one.
    pub(super) replayed: Option<u64>,
    /// The step adds or drops a comment's file reference: the files' keeper looks again once
    /// the step is committed ([`Replica::take_files_changed`]), not before, or it could read
    /// the references as they were and miss the new file until its next full pass.
    pub(super) files_changed: bool,
}

impl Step {
    /// Stores an entity: `after` replaces `before`, the state stored now (empty when there is
    /// none), and only what changed between them is written (see `entities::write`).
    pub fn put_entity(&mut self, before: &EntityState, after: &EntityState) {
        entities::write(&mut self.writes, before, after);
    }

    /// Removes an entity: `before` is the state stored now.
    pub fn remove_entity(&mut self, before: &EntityState) {
        entities::remove(&mut self.writes, before);
    }

    /// Any other write (a key built in [`super::keys`]).
    pub(super) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.put(key, value);
    }

    /// Any other removal (a key built in [`super::keys`]).
    pub(super) fn remove(&mut self, key: Vec<u8>) {
        self.writes.delete(key);
    }

    /// Raises a webhook event, when there is one to send.
    pub(super) fn raise(&mut self, event: Option<Vec<u8>>) {
        self.events.extend(event);
    }
}
