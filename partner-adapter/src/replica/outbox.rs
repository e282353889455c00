//! The outbox (local changes not yet acknowledged by the gateway), the dead letters (changes it
//! refused) and the refresh markers (entities whose local copy waits for the gateway's).

use std::collections::BTreeMap;

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState, Hlc};
use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::{self, seq_key};
use super::records::{Parked, corrupt, stamps};
use super::{Replica, Step};
use crate::error::Result;

impl Replica {
    /// The oldest outbox entries, in order; only flushed ones (a local step applied but not yet
    /// flushed is flushed first), so nothing is pushed that a crash could take back.
    pub fn outbox(&self, limit: usize) -> Result<Vec<Change>> {
        self.flush_applied()?;
        self.db
            .scan_prefix([keys::OUTBOX])
            .take(limit)
            .map(|item| {
                let wire =
                    pb::Change::decode(item?.1.as_ref()).map_err(|e| corrupt("outbox", e))?;
                Change::try_from(wire).map_err(|e| corrupt("outbox", e))
            })
            .collect()
    }

    /// How many changes wait in the outbox.
    pub fn outbox_depth(&self) -> usize {
        self.db.scan_prefix([keys::OUTBOX]).count()
    }

    /// The outbox by entity, oldest first.
    pub(super) fn pending_by_entity(&self) -> Result<BTreeMap<EntityKey, Vec<Change>>> {
        let mut pending: BTreeMap<EntityKey, Vec<Change>> = BTreeMap::new();
        for change in self.outbox(usize::MAX)? {
            pending.entry(change.key.clone()).or_default().push(change);
        }
        Ok(pending)
    }

    /// Parked changes, oldest first.
    pub fn parked(&self) -> Result<Vec<Parked>> {
        self.db
            .scan_prefix([keys::PARKED])
            .map(|item| Parked::decode(item?.1.as_ref()).map_err(|e| corrupt("dead letter", e)))
            .collect()
    }

    /// Rewrites, in `step`, this site's unpushed and refused changes of `key` (a ticket whose
    /// customer was erased) as an erased ticket keeps them: each keeps its place, origin
    /// sequence and clock reading, without the customer's data.
    pub(super) fn erase_pending(&self, step: &mut Step, key: &EntityKey) -> Result<()> {
        use hotline_federation::erasure::erase_change;
        for item in self.db.scan_prefix([keys::OUTBOX]) {
            let (stored, raw) = item?;
            let wire = pb::Change::decode(raw.as_ref()).map_err(|e| corrupt("outbox", e))?;
            let change = Change::try_from(wire).map_err(|e| corrupt("outbox", e))?;
            if change.key == *key {
                let kept = pb::Change::from(erase_change(&change));
                step.put(stored.to_vec(), kept.encode_to_vec());
            }
        }
        for item in self.db.scan_prefix([keys::PARKED]) {
            let (stored, raw) = item?;
            let mut letter = Parked::decode(raw.as_ref()).map_err(|e| corrupt("dead letter", e))?;
            let Some(wire) = letter.change.take() else {
                continue;
            };
            let change = Change::try_from(wire).map_err(|e| corrupt("dead letter", e))?;
            if change.key == *key {
                letter.change = Some(pb::Change::from(erase_change(&change)));
                step.put(stored.to_vec(), letter.encode_to_vec());
            }
        }
        Ok(())
    }

    /// Erases this site's parked changes `seqs` (or their replays waiting in the outbox) as an
    /// erased ticket keeps them (the gateway asked: an erasure rewrote its copies, of a creation
    /// it refused, say, whose ticket this site never holds), and asks for the store's rewrite;
    /// one flushed write, under the local lock (a replay cannot move a letter meanwhile).
    /// Numbers the site holds neither way are done already. Answers the numbers handled (all).
    pub fn erase_parked(&self, seqs: &[u64], now_ms: u64) -> Result<Vec<u64>> {
        use hotline_federation::erasure::erase_change;
        let _local = self.clock();
        let mut step = Step::default();
        let mut erased = 0;
        for &seq in seqs {
            // Parked, or replayed into the outbox before the gateway's request arrived.
            for prefix in [keys::PARKED, keys::OUTBOX] {
                let key = seq_key(prefix, seq);
                let Some(raw) = self.db.get(&key)? else {
                    continue;
                };
                let change = if prefix == keys::PARKED {
                    let mut letter =
                        Parked::decode(raw.as_ref()).map_err(|e| corrupt("dead letter", e))?;
                    let Some(wire) = letter.change.take() else {
                        continue;
                    };
                    let change = Change::try_from(wire).map_err(|e| corrupt("dead letter", e))?;
                    letter.change = Some(pb::Change::from(erase_change(&change)));
                    step.put(key, letter.encode_to_vec());
                    change
                } else {
                    let wire =
                        pb::Change::decode(raw.as_ref()).map_err(|e| corrupt("outbox", e))?;
                    let change = Change::try_from(wire).map_err(|e| corrupt("outbox", e))?;
                    step.put(key, pb::Change::from(erase_change(&change)).encode_to_vec());
                    change
                };
                erased += 1;
                // The tools' undelivered events about a ticket the site does not hold (a
                // refused creation) held the same data; those of a ticket it holds stay.
                if self.entity(&change.key)?.is_empty() {
                    for event in super::webhook_queue::ticket_event_keys(&self.db, &change.key.id)?
                    {
                        step.remove(event);
                    }
                }
            }
        }
        if erased > 0 {
            step.put(
                keys::meta(super::rewrite::REWRITE_ASKED),
                now_ms.to_be_bytes().to_vec(),
            );
            step.files_changed = true;
            self.commit(step, &[])?;
        }
        Ok(seqs.to_vec())
    }

    /// This site's parked changes by clock reading (a site never issues a reading twice), to
    /// notice one the gateway took after all: an operator replayed it there.
    pub(super) fn parked_by_reading(&self) -> Result<BTreeMap<Hlc, u64>> {
        let mut parked = BTreeMap::new();
        for item in self.db.scan_prefix([keys::PARKED]) {
            let letter = Parked::decode(item?.1.as_ref()).map_err(|e| corrupt("dead letter", e))?;
            if let Some(change) = letter.change {
                let change = Change::try_from(change).map_err(|e| corrupt("dead letter", e))?;
                parked.insert(change.hlc, change.origin_seq);
            }
        }
        Ok(parked)
    }

    /// Removes from `parked` (and, in `step`, from the store) the dead letters whose writes
    /// `state` from the gateway holds: the gateway accepted them after all.
    pub(super) fn clear_taken(
        &self,
        step: &mut Step,
        parked: &mut BTreeMap<Hlc, u64>,
        state: &EntityState,
    ) {
        if parked.is_empty() {
            return;
        }
        for stamp in stamps(state) {
            if stamp.site == self.site {
                if let Some(seq) = parked.remove(&stamp.hlc) {
                    tracing::info!(
                        origin_seq = seq,
                        "the gateway took a parked change after all"
                    );
                    step.remove(seq_key(keys::PARKED, seq));
                }
            }
        }
    }

    /// Entities whose local copy waits to be replaced by the gateway's (at most `limit`).
    pub fn stale_entities(&self, limit: usize) -> Result<Vec<EntityKey>> {
        self.db
            .scan_prefix([keys::REFRESH])
            .take(limit)
            .map(|item| {
                let wire =
                    pb::EntityKey::decode(item?.1.as_ref()).map_err(|e| corrupt("refresh", e))?;
                EntityKey::try_from(wire).map_err(|e| corrupt("refresh", e))
            })
            .collect()
    }

    /// How many entities wait for the gateway's copy.
    pub fn stale_count(&self) -> usize {
        self.db.scan_prefix([keys::REFRESH]).count()
    }
}
