//! Webhooks: a signed JSON POST to the partner's own tools for every change to a ticket the site
//! can see.
//!
//! The store queues one entry per configured target in the same atomic batch as the change
//! itself (see [`crate::replica`]), so no change is stored without its webhooks. A [`Deliverer`]
//! then sends the entries: per target in event-id order, with exponential backoff and jitter
//! after a failure, moving an entry to a dead letter after the target's `max_attempts` failed
//! attempts. Delivery is at least once (a crash between the partner's answer and the entry's
//! removal sends it again), so partners de-duplicate by [`EVENT_ID_HEADER`].
//!
//! The deliverer reaches the store only through [`DeliveryQueue`] (implemented by
//! [`crate::replica::WebhookQueue`]), and only from the blocking pool. Entries are kept by the
//! target's index in the configuration, so reordering or removing targets while entries are
//! queued sends them to another target or leaves them queued.
//!
//! Layout: `target` ([`WebhookTarget`], the configured targets and their checks), `sign`
//! ([`sign`], [`verify`]), `record` (the stored values: queue entries and
//! [`WebhookDeadLetter`]), `deliver` ([`Deliverer`]).

mod deliver;
pub(crate) mod record;
mod sign;
mod target;

pub use deliver::Deliverer;
pub use record::WebhookDeadLetter;
pub use sign::{sign, verify};
pub use target::WebhookTarget;

use crate::error::{Error, Result};

/// The header carrying the body's signature: `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-hotline-signature";

/// The header carrying the event id; the same event may arrive more than once.
pub const EVENT_ID_HEADER: &str = "x-hotline-event-id";

/// All the deliverer may do with the store: read and settle the queue of one target (by its
/// index in the configuration), bury an entry as a dead letter, and count. Values are opaque
/// to the store (their format is `record`'s); keys are the store's. Every call blocks on the
/// store, so async code calls it on the blocking pool.
pub trait DeliveryQueue: Send + Sync {
    /// The oldest entry queued for `target`: its event id and stored value.
    fn head(&self, target: u16) -> Result<Option<(u64, Vec<u8>)>>;

    /// Replaces a queued entry (after a failed attempt).
    fn requeue(&self, target: u16, event_id: u64, entry: Vec<u8>) -> Result<()>;

    /// Removes a delivered entry.
    fn remove(&self, target: u16, event_id: u64) -> Result<()>;

    /// Replaces a queued entry by a dead letter, atomically.
    fn bury(&self, target: u16, event_id: u64, letter: Vec<u8>) -> Result<()>;

    /// How many entries are queued for the targets from index `first` on (all: 0).
    fn queued_from(&self, first: u16) -> Result<usize>;

    /// Every dead letter, ordered by target, then event id: its target index, event id and
    /// stored value.
    fn dead_letters(&self) -> Result<Vec<(u16, u64, Vec<u8>)>>;
}

/// All dead letters, ordered by target (its index in the configuration), then event id.
pub fn dead_letters(queue: &dyn DeliveryQueue) -> Result<Vec<WebhookDeadLetter>> {
    queue
        .dead_letters()?
        .into_iter()
        .map(|(target, event_id, value)| {
            serde_json::from_slice(&value).map_err(|e| {
                Error::Corrupt(format!(
                    "webhook dead letter of target {target}, event {event_id}: {e}"
                ))
            })
        })
        .collect()
}

/// How many deliveries are queued, over all targets.
pub fn pending(queue: &dyn DeliveryQueue) -> Result<usize> {
    queue.queued_from(0)
}
