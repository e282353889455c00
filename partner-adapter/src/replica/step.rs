//! One atomic step of the store: the writes a logical step makes and the webhook events it
//! raises, collected as values and written in the same batch at commit
//! ([`Replica::commit`](super::Replica)).

use hotline_federation::EntityState;

use super::entities;

/// The writes of one atomic step, built by the caller and applied by the store's commit.
#[derive(Default)]
pub struct Step {
    pub(super) batch: sled::Batch,
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
        entities::write(&mut self.batch, before, after);
    }

    /// Removes an entity: `before` is the state stored now.
    pub fn remove_entity(&mut self, before: &EntityState) {
        entities::remove(&mut self.batch, before);
    }

    /// Any other write (a key built in [`super::keys`]).
    pub(super) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(key, value);
    }

    /// Any other removal (a key built in [`super::keys`]).
    pub(super) fn remove(&mut self, key: Vec<u8>) {
        self.batch.remove(key);
    }

    /// Raises a webhook event, when there is one to send.
    pub(super) fn raise(&mut self, event: Option<Vec<u8>>) {
        self.events.extend(event);
    }
}
