//! Push results: acknowledged changes leave the outbox, refused ones become dead letters, and
//! after a `CLOCK_SKEW` refusal the clock goes back as `hotline_federation::rewind` decides.

use std::collections::BTreeSet;

use hotline_federation::authority::{Refusal, Rule};
use hotline_federation::model::EntityKey;
use hotline_federation::rewind;
use hotline_federation::{Change, Hlc, HybridClock};
use hotline_proto::v1 as pb;
use prost::Message;

use super::Replica;
use super::keys::{self, meta, refresh_key, seq_key};
use super::records::{Parked, encode_hlc, read_hlc};
use crate::error::Result;

impl Replica {
    /// Records push results: accepted changes `(change, duplicate)` leave the outbox, refused
    /// ones are parked, and the entities of both refused and duplicate ones are marked for
    /// [`Replica::refresh`]: the local copy holds the refused write, and a duplicate means the
    /// gateway had stored a change under that number before, which may be an earlier version
    /// of it (a replay here gives the change a new reading).
    ///
    /// A `CLOCK_SKEW` refusal also turns the clock back, as [`rewind::rewind`] decides: to the
    /// highest reading the gateway accepted or sent (`confirmed`), or of an unpushed change
    /// within the allowed skew of `now_ms`; unpushed changes stamped beyond it are parked too.
    pub fn settle(
        &self,
        accepted: &[(Change, bool)],
        refused: &[(Change, pb::Rejected)],
        now_ms: u64,
    ) -> Result<()> {
        let mut clock = self.clock();
        let mut batch = sled::Batch::default();
        let mut settled = BTreeSet::new();
        let stored = read_hlc(&self.db, "confirmed")?;
        let confirmed = rewind::confirmed_after_push(
            stored.unwrap_or_default(),
            accepted
                .iter()
                .map(|(change, duplicate)| (change.hlc, *duplicate)),
            now_ms,
            clock.max_skew_ms(),
        );
        let mark_stale = |batch: &mut sled::Batch, key: &EntityKey| {
            batch.insert(
                refresh_key(key),
                pb::EntityKey::from(key.clone()).encode_to_vec(),
            );
        };
        let park = |batch: &mut sled::Batch, change: &Change, refusal: &pb::Rejected| {
            batch.remove(seq_key(keys::OUTBOX, change.origin_seq));
            let parked = Parked {
                change: Some(change.clone().into()),
                reason: refusal.reason,
                message: refusal.message.clone(),
                at_ms: now_ms,
                rule: refusal.rule.clone(),
            };
            batch.insert(
                seq_key(keys::PARKED, change.origin_seq),
                parked.encode_to_vec(),
            );
            mark_stale(batch, &change.key);
        };
        for (change, duplicate) in accepted {
            batch.remove(seq_key(keys::OUTBOX, change.origin_seq));
            settled.insert(change.origin_seq);
            if *duplicate {
                // Stored before, perhaps in an earlier version: take the gateway's copy.
                mark_stale(&mut batch, &change.key);
            }
        }
        for (change, refusal) in refused {
            settled.insert(change.origin_seq);
            // Refused after its customer was erased here (the erasure arrived while the push
            // was on its way): parked as an erased ticket keeps changes.
            let erased = change.key.kind == hotline_federation::EntityKind::Ticket
                && hotline_federation::erasure::erased(&self.entity(&change.key)?);
            if erased {
                let kept = hotline_federation::erasure::erase_change(change);
                park(&mut batch, &kept, refusal);
            } else {
                park(&mut batch, change, refusal);
            }
        }
        let skewed = refused
            .iter()
            .any(|(_, refusal)| refusal.reason == pb::RejectReason::ClockSkew as i32);
        let mut rewound = None;
        if skewed {
            let unpushed: Vec<Change> = self
                .outbox(usize::MAX)?
                .into_iter()
                .filter(|change| !settled.contains(&change.origin_seq))
                .collect();
            let readings: Vec<Hlc> = unpushed.iter().map(|change| change.hlc).collect();
            let decided = rewind::rewind(&rewind::RewindInput {
                clock: clock.last(),
                confirmed,
                confirmed_known: stored.is_some(),
                unpushed: &readings,
                now_ms,
                max_skew_ms: clock.max_skew_ms(),
            });
            for change in decided.doomed.iter().map(|&index| &unpushed[index]) {
                let ahead_ms = change.hlc.wall_ms - now_ms;
                let message = format!(
                    "not pushed: stamped {ahead_ms} ms ahead of this site's clock, by the clock the \
                     gateway refused as too far ahead (at most {} ms are allowed); replay it \
                     once the site's clock is right, which gives it a new reading",
                    clock.max_skew_ms()
                );
                park(
                    &mut batch,
                    change,
                    &Refusal::new(Rule::ClockSkew, message).to_wire(),
                );
            }
            if let Some(back_to) = decided.back_to {
                batch.insert(meta("hlc"), encode_hlc(back_to));
                rewound = Some(back_to);
            }
        }
        batch.insert(meta("confirmed"), encode_hlc(confirmed));
        self.db.apply_batch(batch)?;
        self.flush_durably()?;
        if let Some(back_to) = rewound {
            tracing::warn!(
                from_ms = clock.last().wall_ms,
                to_ms = back_to.wall_ms,
                "the gateway refused a change as too far ahead; the clock goes back to the last accepted reading"
            );
            *clock = HybridClock::resume(back_to, clock.max_skew_ms());
        }
        Ok(())
    }
}
