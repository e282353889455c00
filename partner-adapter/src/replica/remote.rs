//! What arrives from the gateway: log entries and snapshot chunks from the subscription
//! ([`Replica::apply_remote`]) and fetch answers that replace refused local copies
//! ([`Replica::refresh`]). Remote changes never enter the outbox.

use std::collections::{BTreeMap, BTreeSet};

use hotline_federation::erasure;
use hotline_federation::model::EntityKey;
use hotline_federation::visibility::Directory;
use hotline_federation::{Change, EntityState, Hlc, HybridClock};

use super::keys::{customer_key, meta, refresh_key};
use super::records::{customer_of, encode_hlc, read_hlc, stamps};
use super::{Replica, Step};
use crate::error::Result;
use crate::events::TicketEvents;

/// The counter of tickets purged because partners' retention of them ended.
const RETENTION_PURGED: &str = "retention_purged";
/// When the last of them was purged (ms).
const RETENTION_PURGED_AT: &str = "retention_purged_at";

/// What one log entry (or one chunk of a snapshot) does to the replica.
#[derive(Clone, Debug, Default)]
pub struct RemoteEntry {
    /// Entities to store: joined with the local state, or replacing it (`replace`).
    pub states: Vec<EntityState>,
    /// Entities to purge (applied first).
    pub purge: Vec<EntityKey>,
    /// Of `purge`, the tickets purged because partners' retention of them ended (the gateway
    /// keeps them in-house); counted for the sync status and named in `ticket.revoked`.
    pub expired: BTreeSet<EntityKey>,
    /// The cursor to store with the entry, when it carries one.
    pub cursor: Option<u64>,
    /// Snapshot items replace local states instead of joining them.
    pub replace: bool,
}

/// The gateway's answer to a fetch (`hotline.v1.FetchResponse`, decoded).
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// Every log entry up to this global sequence number is reflected.
    pub as_of: u64,
    /// The entities the site may see, redacted for it.
    pub states: Vec<EntityState>,
    /// The entities the site may not see or that do not exist.
    pub absent: Vec<EntityKey>,
}

/// Raises the clock past every write `state` holds (causality: a local write made after seeing
/// them is stamped after them) and returns the highest of their stamps and `highest`.
fn observe_state(clock: &mut HybridClock, state: &EntityState, highest: Hlc) -> Hlc {
    let newest = stamps(state).max_by_key(|stamp| stamp.hlc);
    match newest {
        Some(stamp) => {
            // A far-ahead clock elsewhere is the gateway's problem, not a reason to refuse data.
            let _ = clock.observe(&stamp.site, stamp.hlc, stamp.hlc.wall_ms);
            highest.max(stamp.hlc)
        }
        None => highest,
    }
}

impl Replica {
    /// How many closed tickets this site purged because partners' retention of them ended,
    /// and when it last did (ms; `None`: never).
    pub fn retention_purges(&self) -> Result<(u64, Option<u64>)> {
        let count = self.counter(RETENTION_PURGED)?;
        let at = self.counter(RETENTION_PURGED_AT)?;
        Ok((count, (at > 0).then_some(at)))
    }

    /// Applies one log entry from the gateway, in one flushed batch with the cursor (when the
    /// entry carries one) and the webhook events. Purges run first, so an entity revoked and
    /// re-sent in the same entry (a changed grant) is replaced, not deleted. With `replace`
    /// (snapshot items) an incoming state replaces the local one instead of joining it, so
    /// fields the site may no longer see do not survive. Remote changes never enter the outbox.
    pub fn apply_remote(
        &self,
        remote: &RemoteEntry,
        events: &TicketEvents,
        now_ms: u64,
    ) -> Result<usize> {
        let mut step = Step::default();
        let mut changed = 0;
        let mut clock = self.clock();
        let mut purged = BTreeSet::new();
        let mut retention_purged = 0u64;
        let mut confirmed = read_hlc(&self.db, "confirmed")?.unwrap_or_default();
        let mut pending = None;
        let mut directory = None;
        let mut parked = self.parked_by_reading()?;
        for key in &remote.purge {
            let before = self.entity(key)?;
            purged.insert(key.clone());
            if before.is_empty() {
                continue;
            }
            if let Some(customer) = customer_of(&before) {
                step.remove(customer_key(customer, &key.id));
            }
            step.remove_entity(&before);
            let expired = remote.expired.contains(key);
            if expired {
                retention_purged += 1;
                // Undelivered and dead events about the ticket hold its content: withdrawn.
                for event in super::webhook_queue::ticket_event_keys(&self.db, &key.id)? {
                    step.remove(event);
                }
            }
            // A purge the same entry re-sends is a replacement (a changed grant): the tools
            // hear of the new state, not of a revocation.
            if !remote.states.iter().any(|s| s.key == *key) {
                step.raise(events.revoked(key, expired, now_ms));
            }
            changed += 1;
        }
        let carries_files = remote
            .states
            .iter()
            .any(|s| s.comments.values().any(|c| !c.value.attachments.is_empty()));
        step.files_changed = !remote.purge.is_empty() || carries_files;
        if retention_purged > 0 {
            let total = self.counter(RETENTION_PURGED)? + retention_purged;
            step.put(meta(RETENTION_PURGED), total.to_be_bytes().to_vec());
            step.put(meta(RETENTION_PURGED_AT), now_ms.to_be_bytes().to_vec());
        }
        for incoming in &remote.states {
            let before = if purged.contains(&incoming.key) {
                EntityState::new(incoming.key.clone())
            } else {
                self.entity(&incoming.key)?
            };
            let rules = match &directory {
                Some(read) => read,
                None => directory.insert(self.directory()?),
            };
            let after = if remote.replace {
                // Replace, but keep showing what the site changed itself and has not pushed.
                // Only a replacement reads the outbox (all of it, once per entry): a join must
                // not, or a site with a deep outbox would decode all of it for every entry the
                // gateway sends back while it drains (the likely cause of a 1,000-cycle crash
                // run's slow drain; BENCHMARKS.md).
                let outbox = match &pending {
                    Some(read) => read,
                    None => pending.insert(self.pending_by_entity()?),
                };
                self.with_pending(incoming.clone(), outbox.get(&incoming.key), rules)
            } else {
                let mut after = before.clone();
                after.join(incoming);
                // Keep only what the gateway's view for this tenant holds (no superseded
                // writes at a partner), so the replica still equals that view.
                self.visible(&after, rules)
            };
            confirmed = observe_state(&mut clock, incoming, confirmed);
            self.clear_taken(&mut step, &mut parked, incoming);
            if erasure::erased(&after) && !erasure::erased(&before) {
                self.on_erased(&mut step, &incoming.key, now_ms)?;
            }
            if after != before {
                self.index(&mut step, &before, &after);
                step.put_entity(&before, &after);
                step.raise(events.changed(&after, now_ms));
                changed += 1;
            }
        }
        if let Some(cursor) = remote.cursor {
            step.put(meta("cursor"), cursor.to_be_bytes().to_vec());
        }
        step.put(meta("hlc"), encode_hlc(clock.last()));
        step.put(meta("confirmed"), encode_hlc(confirmed));
        self.commit(step, events.targets())?;
        let mut touched = self.touches();
        match (remote.replace, remote.cursor) {
            (true, None) => touched.snapshot_begun(),
            (true, Some(as_of)) => touched.snapshot_ended(as_of),
            (false, Some(position)) => {
                for key in remote
                    .purge
                    .iter()
                    .chain(remote.states.iter().map(|s| &s.key))
                {
                    touched.record(position, key);
                }
            }
            (false, None) => {}
        }
        Ok(changed)
    }

    /// Replaces the local copies of the entities in the gateway's answer to a fetch: `states`
    /// it holds (redacted for this site) and the `absent` rest, each with the site's unpushed
    /// changes applied again; clears their refresh markers. One flushed batch with the webhook
    /// events. An entity that a log entry after `as_of` has touched since (or while a snapshot
    /// is being applied) is left as it is, marker and all, and returned: the answer may miss
    /// that entry, so the caller asks again.
    pub fn refresh(
        &self,
        answer: &Fetched,
        events: &TicketEvents,
        now_ms: u64,
    ) -> Result<Vec<EntityKey>> {
        let mut clock = self.clock();
        let cursor = self.cursor()?;
        let touched = self.touches();
        let mut incoming: BTreeMap<EntityKey, EntityState> = answer
            .absent
            .iter()
            .map(|key| (key.clone(), EntityState::new(key.clone())))
            .collect();
        for state in &answer.states {
            incoming.insert(state.key.clone(), state.clone());
        }
        let (incoming, deferred): (BTreeMap<_, _>, BTreeMap<_, _>) = incoming
            .into_iter()
            .partition(|(key, _)| touched.current(key, answer.as_of, cursor));
        drop(touched);
        let pending = self.pending_by_entity()?;
        let directory = self.directory()?;
        let mut step = Step::default();
        let mut confirmed = read_hlc(&self.db, "confirmed")?.unwrap_or_default();
        let mut parked = self.parked_by_reading()?;
        for (key, gateway) in incoming {
            confirmed = observe_state(&mut clock, &gateway, confirmed);
            self.clear_taken(&mut step, &mut parked, &gateway);
            let after = self.with_pending(gateway, pending.get(&key), &directory);
            let before = self.entity(&key)?;
            step.remove(refresh_key(&key));
            if erasure::erased(&after) && !erasure::erased(&before) {
                self.on_erased(&mut step, &key, now_ms)?;
            }
            if after == before {
                continue;
            }
            self.index(&mut step, &before, &after);
            step.files_changed = true;
            if after.is_empty() {
                step.remove_entity(&before);
                step.raise(events.revoked(&key, false, now_ms));
            } else {
                step.put_entity(&before, &after);
                step.raise(events.changed(&after, now_ms));
            }
        }
        step.put(meta("confirmed"), encode_hlc(confirmed));
        step.put(meta("hlc"), encode_hlc(clock.last()));
        self.commit(step, events.targets())?;
        Ok(deferred.into_keys().collect())
    }

    /// The customer of ticket `key` was erased (its marker just arrived, by the subscription
    /// or a fetch): so are this site's own copies of the ticket's changes (unpushed and
    /// refused) and the webhook events about it not yet delivered (the event raised with the
    /// erased ticket follows), and the store asks to be rewritten at its next open, so the old
    /// bytes leave its files.
    fn on_erased(&self, step: &mut Step, key: &EntityKey, now_ms: u64) -> Result<()> {
        self.erase_pending(step, key)?;
        // The erased comments' files: deleted by the files' keeper once nothing names them.
        step.files_changed = true;
        for event in super::webhook_queue::ticket_event_keys(&self.db, &key.id)? {
            step.remove(event);
        }
        step.put(
            meta(super::rewrite::REWRITE_ASKED),
            now_ms.to_be_bytes().to_vec(),
        );
        Ok(())
    }

    /// `base` (the gateway's copy) with the site's unpushed `changes` to it applied, as much
    /// as the site may hold.
    pub(super) fn with_pending(
        &self,
        base: EntityState,
        changes: Option<&Vec<Change>>,
        directory: &Directory,
    ) -> EntityState {
        let Some(changes) = changes else {
            return base;
        };
        let mut state = base;
        for change in changes {
            state.apply(change);
        }
        self.visible(&state, directory)
    }
}
