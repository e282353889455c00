//! Filling a new store rebuilt by [`crate::recover`] with what could be read from the old one.

use std::collections::BTreeMap;

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState, Hlc, HybridClock};
use hotline_proto::v1 as pb;
use prost::Message;

use super::integrity::HighWater;
use super::keys::{self, meta, seq_key};
use super::records::encode_hlc;
use super::{Replica, Step};
use crate::error::Result;

impl Replica {
    /// Fills a new store rebuilt by `recover`: the outbox entries kept from the old store (in
    /// origin-sequence order, with their effect on the local entities, so the site sees its own
    /// unpushed work), its readable dead letters and webhook records, the counters raised to
    /// `floors`, the clock to at least `hlc`, and the cursor at 0 so the next start re-syncs
    /// everything from the gateway. One flushed batch. Returns the counters as set.
    pub(crate) fn restore(
        &self,
        outbox: &[Change],
        records: &[(Vec<u8>, Vec<u8>)],
        floors: HighWater,
        hlc: Hlc,
    ) -> Result<HighWater> {
        let mut clock = self.clock();
        let mut step = Step::default();
        let mut states: BTreeMap<EntityKey, EntityState> = BTreeMap::new();
        let directory = self.directory()?;
        for change in outbox {
            let state = match states.remove(&change.key) {
                Some(state) => state,
                None => self.entity(&change.key)?,
            };
            let mut after = state;
            after.apply(change);
            states.insert(change.key.clone(), self.visible(&after, &directory));
            step.put(
                seq_key(keys::OUTBOX, change.origin_seq),
                pb::Change::from(change.clone()).encode_to_vec(),
            );
        }
        for after in states.values() {
            let before = self.entity(&after.key)?;
            self.index(&mut step, &before, after);
            step.put_entity(&before, after);
        }
        for (key, value) in records {
            step.put(key.clone(), value.clone());
        }
        if !records.iter().any(|(key, _)| *key == meta("confirmed")) {
            // Unknown which readings were accepted: a CLOCK_SKEW refusal then goes back no
            // further than the bound (see `settle`).
            step.remove(meta("confirmed"));
        }
        let seq = self.counter("seq")?.max(floors.seq);
        let webhook = self.counter("webhook")?.max(floors.webhook);
        step.put(meta("seq"), seq.to_be_bytes().to_vec());
        step.put(meta("webhook"), webhook.to_be_bytes().to_vec());
        step.put(meta("cursor"), 0u64.to_be_bytes().to_vec());
        let hlc = hlc.max(clock.last());
        step.put(meta("hlc"), encode_hlc(hlc));
        self.commit(step, &[])?;
        *clock = HybridClock::resume(hlc, clock.max_skew_ms());
        drop(clock);
        self.record_high_water()?;
        Ok(HighWater { seq, webhook })
    }
}
