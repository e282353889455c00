//! Erasing a customer in the writer: the marker on each of the customer's tickets (a change
//! like any other, so every site receives it in order), and the gateway's own copies of the
//! tickets' earlier changes rewritten as an erased ticket keeps them: the log entries and the
//! dead letters. The entity records are rewritten whole by the marker's change itself
//! (`append`). The bytes the engine kept of the old records leave the files only when the
//! store is compacted.

use std::collections::{BTreeMap, BTreeSet};

use hotline_federation::audit::Record;
use hotline_federation::erasure::{erase_change, erased};
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use prost::Message;

use super::{Group, Outcome, Writer};
use crate::error::{Error, Result};
use crate::log::{LogRecord, decode_record};
use crate::store::{Write, keys};

/// What the caller found before asking: the customer's tickets and the log entries of them up
/// to `scanned_to`; the writer looks at the entries after that itself.
#[derive(Clone, Debug)]
pub struct ErasureJob {
    /// The customer's reference (checked again on each ticket); `None` for the in-house
    /// retention, which erases the tickets it names whoever their customer.
    pub customer_ref: Option<String>,
    /// The tickets.
    pub tickets: Vec<EntityKey>,
    /// Log entries of those tickets found up to `scanned_to`.
    pub log_seqs: Vec<u64>,
    /// The log position the caller's scan reached.
    pub scanned_to: u64,
    /// The record to store: reason, staff, digest (id, time, counts and position are filled
    /// in here).
    pub record: pb::Erasure,
}

/// Notes a customer's erasure (the in-house retention's, without a customer, are not).
fn note_erasure(known: &mut BTreeMap<String, u64>, record: &pb::Erasure) {
    if record.customer_digest.is_empty() {
        return;
    }
    let at = known.entry(record.customer_digest.clone()).or_default();
    *at = (*at).max(record.at_ms);
}

impl Writer {
    /// Erases the job's tickets; answers the stored erasure record.
    pub(super) fn process_erasure(
        &mut self,
        group: &mut Group,
        job: &ErasureJob,
    ) -> Result<pb::Erasure> {
        let actor = job.record.erased_by.clone();
        // The log after the caller's scan (and this group so far): entries about its tickets,
        // and tickets that became the customer's meanwhile.
        let mut tail = Vec::new();
        for (key, raw) in self.store.range(
            &keys::log(job.scanned_to + 1),
            &keys::log(u64::MAX),
            usize::MAX,
        )? {
            let (entity, _) = crate::log::decode_record_head(&raw)?;
            tail.extend(keys::parse_log(&key).map(|seq| (seq, entity)));
        }
        tail.extend(
            group
                .committed
                .iter()
                .map(|c| (c.seq, c.change.key.clone())),
        );
        let mut candidates: BTreeSet<EntityKey> = job.tickets.iter().cloned().collect();
        if job.customer_ref.is_some() {
            candidates.extend(
                tail.iter()
                    .filter(|(_, key)| key.kind == EntityKind::Ticket)
                    .map(|(_, key)| key.clone()),
            );
        }
        // The tickets erased now and those erased before: only theirs are rewritten.
        let mut erased_now = BTreeSet::new();
        let mut erased_all = BTreeSet::new();
        for key in &candidates {
            let before = self.load(group, key)?;
            let same_customer = match &job.customer_ref {
                Some(wanted) => matches!(
                    before.value("customer_ref"),
                    Some(FieldValue::Ticket(TicketField::CustomerRef(r))) if r == wanted
                ),
                None => true,
            };
            if !same_customer {
                continue;
            }
            erased_all.insert(key.clone());
            if erased(&before) {
                continue;
            }
            drop(before);
            let now = (self.settings.now_ms)();
            let ops = vec![FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(now)))];
            let (outcome, _) = self.process_seed(group, &actor, "erasure", key.clone(), ops)?;
            if let Outcome::Rejected(refusal) = outcome {
                return Err(Error::Storage(format!(
                    "erasing {key} was refused: {}",
                    refusal.message
                )));
            }
            erased_now.insert(key.clone());
            group.erased = true;
        }
        let mut seqs: BTreeSet<u64> = job.log_seqs.iter().copied().collect();
        seqs.extend(
            tail.iter()
                .filter(|(_, key)| erased_all.contains(key))
                .map(|(seq, _)| *seq),
        );
        for seq in seqs {
            self.erase_log_entry(group, seq, &erased_all)?;
        }
        self.erase_dead_letters(group, &erased_all, job.customer_ref.as_deref())?;
        let id = self.next_erasure_id(group)?;
        // The trail names the customer by digest only.
        let (action, subject) = match job.customer_ref {
            Some(_) => (
                "customer.erased",
                format!("customer/{}", job.record.customer_digest),
            ),
            None => ("retention.erased", "tickets".to_owned()),
        };
        let audit = Record {
            at_ms: (self.settings.now_ms)(),
            actor: actor.clone(),
            action: action.into(),
            subject,
            detail_json: serde_json::json!({
                "erasure": id,
                "tickets": erased_now.len(),
                "reason": job.record.reason,
            })
            .to_string(),
        };
        self.record(group, audit);
        let record = pb::Erasure {
            id,
            at_ms: (self.settings.now_ms)(),
            tickets: u32::try_from(erased_now.len()).unwrap_or(u32::MAX),
            log_seq: group.head,
            confirmed: Vec::new(),
            pending: Vec::new(),
            ..job.record.clone()
        };
        group.batch.put(keys::erasure(id), record.encode_to_vec());
        group.erased = true;
        // Read again from the store (and this group) when next needed.
        self.erased_customers = None;
        // The old bytes of the rewritten records leave the files when the store is next
        // opened (a fresh copy of the live records).
        group
            .batch
            .put(keys::meta(keys::REWRITE_ASKED), keys::encode_u64(id));
        Ok(record)
    }

    /// Marks `key` erased when it is a ticket of a customer erased after the ticket was
    /// opened (an offline site created it before the erasure and pushed it after): called for
    /// each accepted change that wrote a ticket's customer reference.
    pub(super) fn erase_if_customer_erased(
        &mut self,
        group: &mut Group,
        key: &EntityKey,
    ) -> Result<()> {
        // The usual case, on every creation: nobody was ever erased.
        if self.erased_customers(group)?.is_empty() {
            return Ok(());
        }
        let ticket = self.load(group, key)?;
        if erased(&ticket) {
            return Ok(());
        }
        let Some(FieldValue::Ticket(TicketField::CustomerRef(customer))) =
            ticket.value("customer_ref")
        else {
            return Ok(());
        };
        let digest = crate::erasure::customer_digest(customer);
        let opened = match ticket.value("opened_at_ms") {
            Some(FieldValue::Ticket(TicketField::OpenedAt(at))) => *at,
            _ => 0,
        };
        drop(ticket);
        let erased_at = self.erased_customers(group)?.get(&digest).copied();
        if erased_at.is_none_or(|at| opened > at) {
            return Ok(());
        }
        let now = (self.settings.now_ms)();
        let ops = vec![FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(now)))];
        self.process_seed(group, "erasure", "erasure.late", key.clone(), ops)?;
        group.erased = true;
        group
            .batch
            .put(keys::meta(keys::REWRITE_ASKED), keys::encode_u64(now));
        let only: BTreeSet<EntityKey> = [key.clone()].into();
        let seqs: Vec<u64> = group
            .committed
            .iter()
            .filter(|c| c.change.key == *key)
            .map(|c| c.seq)
            .collect();
        for seq in seqs {
            self.erase_log_entry(group, seq, &only)?;
        }
        self.erase_dead_letters(group, &only, None)
    }

    /// The erased customers by digest with the time of their (latest) erasure: the stored
    /// records, read once, plus those of this group.
    /// True when `change` names a customer erased before it (its `customer_ref`, with an
    /// opening time before the erasure when it carries one): a refused copy of it is kept
    /// erased, and the site that parked it is asked to erase its own.
    pub(super) fn names_erased_customer(&mut self, group: &Group, change: &Change) -> Result<bool> {
        let mut named = None;
        let mut opened = None;
        for op in &change.ops {
            match op {
                FieldOp::Set(FieldValue::Ticket(TicketField::CustomerRef(r))) => named = Some(r),
                FieldOp::Set(FieldValue::Ticket(TicketField::OpenedAt(at))) => opened = Some(*at),
                _ => {}
            }
        }
        let Some(customer) = named else {
            return Ok(false);
        };
        let digest = crate::erasure::customer_digest(customer);
        Ok(self
            .erased_customers(group)?
            .get(&digest)
            .is_some_and(|&erased_at| opened.is_none_or(|at| at <= erased_at)))
    }

    fn erased_customers(&mut self, group: &Group) -> Result<&BTreeMap<String, u64>> {
        if self.erased_customers.is_none() {
            let (start, end) = keys::prefix_range(keys::ERASURE);
            let mut known = BTreeMap::new();
            for (_, raw) in self.store.range(&start, &end, usize::MAX)? {
                let record = pb::Erasure::decode(raw.as_slice())
                    .map_err(|e| Error::Corrupt(format!("erasure record: {e}")))?;
                note_erasure(&mut known, &record);
            }
            self.erased_customers = Some(known);
        }
        let known = self.erased_customers.get_or_insert_with(BTreeMap::new);
        if !group.erased {
            // No erasure record in this group's writes.
            return Ok(known);
        }
        for write in &group.batch.writes {
            if let Write::Put(key, raw) = write {
                if key.first() == Some(&keys::ERASURE) {
                    if let Ok(record) = pb::Erasure::decode(raw.as_slice()) {
                        note_erasure(known, &record);
                    }
                }
            }
        }
        Ok(known)
    }

    /// Log entry `seq` as logged (written earlier in this group, or stored); `None` when
    /// pruned.
    fn logged(&self, group: &Group, seq: u64) -> Result<Option<Vec<u8>>> {
        let key = keys::log(seq);
        let pending = group
            .batch
            .writes
            .iter()
            .rev()
            .find_map(|write| match write {
                Write::Put(k, v) if *k == key => Some(v.clone()),
                Write::Put(..) | Write::Delete(_) => None,
            });
        match pending {
            Some(raw) => Ok(Some(raw)),
            None => self.store.get(&key),
        }
    }

    /// The change of log entry `seq` as logged; `None` when pruned.
    pub(super) fn logged_change(&self, group: &Group, seq: u64) -> Result<Option<Change>> {
        match self.logged(group, seq)? {
            Some(raw) => Ok(Some(decode_record(&raw)?.0)),
            None => Ok(None),
        }
    }

    /// Rewrites log entry `seq` (stored, or written earlier in this group) with its change as
    /// an erased ticket keeps it; the live copy in this group too.
    fn erase_log_entry(
        &self,
        group: &mut Group,
        seq: u64,
        erased: &BTreeSet<EntityKey>,
    ) -> Result<()> {
        let Some(raw) = self.logged(group, seq)? else {
            return Ok(()); // pruned meanwhile
        };
        let (change, record) = decode_record(&raw)?;
        if !erased.contains(&change.key) {
            return Ok(());
        }
        let kept = erase_change(&change);
        if kept == change {
            return Ok(());
        }
        let record = LogRecord {
            change: Some(pb::Change::from(kept.clone())),
            ..record
        };
        group.batch.put(keys::log(seq), record.encode_to_vec());
        for committed in &mut group.committed {
            if committed.seq == seq {
                committed.change = kept.clone();
            }
        }
        Ok(())
    }

    /// Rewrites the dead letters of `tickets` (stored, or written earlier in this group; not
    /// those this group deleted) with their changes as erased tickets keep them.
    /// Rewrites erased the dead letters of `tickets`, and those naming `customer` (a creation
    /// the gateway refused, whose ticket therefore does not exist).
    fn erase_dead_letters(
        &self,
        group: &mut Group,
        tickets: &BTreeSet<EntityKey>,
        customer: Option<&str>,
    ) -> Result<()> {
        let (start, end) = keys::prefix_range(keys::DEAD_LETTER);
        let mut letters: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .store
            .range(&start, &end, usize::MAX)?
            .into_iter()
            .map(|(key, raw)| (key, Some(raw)))
            .collect();
        for write in &group.batch.writes {
            match write {
                Write::Put(key, raw) if key.first() == Some(&keys::DEAD_LETTER) => {
                    letters.insert(key.clone(), Some(raw.clone()));
                }
                Write::Delete(key) if key.first() == Some(&keys::DEAD_LETTER) => {
                    letters.insert(key.clone(), None);
                }
                Write::Put(..) | Write::Delete(_) => {}
            }
        }
        for (key, raw) in letters {
            let Some(raw) = raw else {
                continue;
            };
            let mut letter = pb::DeadLetter::decode(raw.as_slice())
                .map_err(|e| Error::Corrupt(format!("dead letter: {e}")))?;
            let Some(wire) = letter.change.clone() else {
                continue;
            };
            let Ok(change) = Change::try_from(wire) else {
                continue;
            };
            let names_customer = customer.is_some_and(|wanted| {
                change.ops.iter().any(|op| {
                    matches!(op, FieldOp::Set(FieldValue::Ticket(TicketField::CustomerRef(r))) if r == wanted)
                })
            });
            if !tickets.contains(&change.key) && !names_customer {
                continue;
            }
            letter.change = Some(pb::Change::from(erase_change(&change)));
            // The site parked the same change: asked to erase its copy (with its next report),
            // which it may otherwise never learn of (a refused creation has no ticket).
            if let Some((site, seq)) = keys::parse_dead_letter(&key) {
                group.batch.put(keys::erase_letter(site, seq), Vec::new());
            }
            group.batch.put(key, letter.encode_to_vec());
        }
        Ok(())
    }

    /// The next erasure's number: one past the newest stored (or written in this group).
    fn next_erasure_id(&self, group: &Group) -> Result<u64> {
        let (start, end) = keys::prefix_range(keys::ERASURE);
        let stored = self
            .store
            .range(&start, &end, usize::MAX)?
            .last()
            .and_then(|(key, _)| key.get(1..9)?.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let pending = group
            .batch
            .writes
            .iter()
            .filter_map(|write| match write {
                Write::Put(k, _) if k.first() == Some(&keys::ERASURE) => {
                    k.get(1..9)?.try_into().ok().map(u64::from_be_bytes)
                }
                Write::Put(..) | Write::Delete(_) => None,
            })
            .max()
            .unwrap_or(0);
        Ok(stored.max(pending) + 1)
    }
}
