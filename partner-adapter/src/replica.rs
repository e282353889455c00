//! The site's local sled store: the replica of what the site may see, the outbox of local
//! changes, the subscribe cursor, leased ticket numbers, parked (dead-letter) changes and the
//! webhook queue, all in one key space so each logical step is one atomic batch:
//!
//! - a local change = its merged entity + its outbox entry + counters (+ a used ticket number)
//!   + webhook events, flushed before the API answers;
//! - a remote entry = the merged entities + the cursor + webhook events.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `e` | kind, `/`, id | `hotline.v1.EntityState` |
//! | `o` | origin sequence (u64) | `hotline.v1.Change` (the outbox) |
//! | `p` | origin sequence (u64) | [`Parked`] (dead letters) |
//! | `n` | year (u32), first (u64) | [`NumberBlock`] |
//! | `i` | customer ref, 0, ticket id | empty (find by customer) |
//! | `m` | name | counters: `cursor`, `seq`, `hlc`, `webhook`; markers `site`, `format` |
//! | `w`, `y` | see [`crate::webhooks`] | webhook queue and dead letters |
//!
//! Every record is checked when the store is opened ([`crate::integrity`]); a damaged store is
//! refused with [`Error::CorruptStore`] and rebuilt by [`crate::recover`]. A new store starts
//! its origin sequence and webhook event ids at [`integrity::time_floor`], never at 1, so a store
//! that replaces a lost one cannot reuse a number the old one sent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{Directory, pii_granted, strip};
use hotline_federation::{Change, EntityState, Hlc, HybridClock};
use hotline_proto::v1 as pb;
use prost::Message;

use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::integrity::{self, HighWater};

/// A change the gateway refused, kept for an operator.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Parked {
    /// The change.
    #[prost(message, optional, tag = "1")]
    pub change: Option<pb::Change>,
    /// The gateway's reason (`hotline.v1.RejectReason`).
    #[prost(int32, tag = "2")]
    pub reason: i32,
    /// The gateway's message.
    #[prost(string, tag = "3")]
    pub message: String,
    /// When it was parked, ms.
    #[prost(uint64, tag = "4")]
    pub at_ms: u64,
}

/// A leased block of ticket numbers and how many are used.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberBlock {
    /// Prefix, e.g. ASZ.
    #[prost(string, tag = "1")]
    pub prefix: String,
    /// Year.
    #[prost(uint32, tag = "2")]
    pub year: u32,
    /// First number.
    #[prost(uint64, tag = "3")]
    pub first: u64,
    /// Size.
    #[prost(uint32, tag = "4")]
    pub count: u32,
    /// Numbers handed out so far.
    #[prost(uint32, tag = "5")]
    pub used: u32,
}

/// The writes of one atomic step, built by the caller and applied by [`Replica::commit`].
#[derive(Default)]
pub struct Step {
    batch: sled::Batch,
    /// The last webhook event id reserved in this step.
    webhook_id: Option<u64>,
}

impl Step {
    /// Stores an entity.
    pub fn put_entity(&mut self, state: &EntityState) {
        self.batch.insert(
            entity_key(&state.key),
            pb::EntityState::from(state.clone()).encode_to_vec(),
        );
    }

    /// Removes an entity.
    pub fn remove_entity(&mut self, key: &EntityKey) {
        self.batch.remove(entity_key(key));
    }

    /// Any other write (webhook queue entries).
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(key, value);
    }

    /// A removal.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.batch.remove(key);
    }
}

/// What one log entry (or one chunk of a snapshot) does to the replica.
#[derive(Clone, Debug, Default)]
pub struct RemoteEntry {
    /// Entities to store: joined with the local state, or replacing it (`replace`).
    pub states: Vec<EntityState>,
    /// Entities to purge (applied first).
    pub purge: Vec<EntityKey>,
    /// The cursor to store with the entry, when it carries one.
    pub cursor: Option<u64>,
    /// Snapshot items replace local states instead of joining them.
    pub replace: bool,
}

/// The local store.
pub struct Replica {
    db: sled::Db,
    dir: PathBuf,
    tenant: String,
    /// Serialises local writes (sequence numbers, clock, numbers).
    local: Mutex<HybridClock>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").finish_non_exhaustive()
    }
}

fn entity_key(key: &EntityKey) -> Vec<u8> {
    let mut out = vec![b'e'];
    out.extend_from_slice(key.kind.as_str().as_bytes());
    out.push(b'/');
    out.extend_from_slice(key.id.as_bytes());
    out
}

/// The key of an outbox entry (`o`) or dead letter (`p`).
pub(crate) fn seq_key(prefix: u8, seq: u64) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The key of a counter or marker.
pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut out = vec![b'm'];
    out.extend_from_slice(name.as_bytes());
    out
}

fn customer_key(customer: &str, id: &str) -> Vec<u8> {
    let mut out = customer_prefix(customer);
    out.extend_from_slice(id.as_bytes());
    out
}

fn customer_prefix(customer: &str) -> Vec<u8> {
    let mut out = vec![b'i'];
    out.extend_from_slice(customer.as_bytes());
    out.push(0);
    out
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

fn customer_of(state: &EntityState) -> Option<&str> {
    match state.value("customer_ref") {
        Some(FieldValue::Ticket(TicketField::CustomerRef(c))) => Some(c),
        _ => None,
    }
}

impl Replica {
    /// Opens the store in `dir` for `site` after checking every record
    /// ([`integrity::verify`]): a damaged store is refused with [`Error::CorruptStore`], a store
    /// of another site with [`Error::Config`], and so is a store whose rebuild by `recover` was
    /// interrupted. A new store is created with its markers and counter floors.
    pub fn open(dir: &Path, site: &str, tenant: &str, max_skew_ms: u64) -> Result<Self> {
        integrity::check_not_recovering(dir)?;
        Self::open_checked(dir, site, tenant, max_skew_ms)
    }

    /// [`Replica::open`] without the check for an interrupted rebuild (for `recover` itself).
    pub(crate) fn open_checked(
        dir: &Path,
        site: &str,
        tenant: &str,
        max_skew_ms: u64,
    ) -> Result<Self> {
        let existed = integrity::holds_store(dir);
        let db = integrity::open_db(dir)?;
        let health = integrity::verify(&db, dir, site, existed)?;
        if health.fresh {
            let floor = integrity::time_floor(SystemTime::now());
            let mut batch = sled::Batch::default();
            batch.insert(meta("site"), site.as_bytes());
            batch.insert(meta("format"), integrity::FORMAT);
            batch.insert(meta("seq"), floor.to_be_bytes().to_vec());
            batch.insert(meta("webhook"), floor.to_be_bytes().to_vec());
            db.apply_batch(batch)?;
            db.flush()?;
        } else if health.legacy {
            db.insert(meta("format"), integrity::FORMAT)?;
            db.flush()?;
        }
        let last = match db.get(meta("hlc"))? {
            Some(raw) => {
                let wire = pb::Hlc::decode(raw.as_ref()).map_err(|e| corrupt("clock", e))?;
                Hlc::from(wire)
            }
            None => Hlc::default(),
        };
        let replica = Replica {
            db,
            dir: dir.to_path_buf(),
            tenant: tenant.to_owned(),
            local: Mutex::new(HybridClock::resume(last, max_skew_ms)),
        };
        replica.record_high_water()?;
        Ok(replica)
    }

    /// Flushes and writes the counters' high-water marks next to the store (at every start and
    /// every clean stop), so a later start notices when sled lost writes.
    pub fn record_high_water(&self) -> Result<()> {
        let _clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        self.db.flush()?;
        let marks = HighWater {
            seq: self.counter("seq")?,
            webhook: self.counter("webhook")?,
        };
        integrity::write_high_water(&self.dir, marks)
    }

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
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
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
            after = strip(
                &self.tenant,
                &after,
                pii_granted(&self.tenant, &after, &directory),
            );
            states.insert(change.key.clone(), after);
            step.batch.insert(
                seq_key(b'o', change.origin_seq),
                pb::Change::from(change.clone()).encode_to_vec(),
            );
        }
        for after in states.values() {
            let before = self.entity(&after.key)?;
            self.index(&mut step, &before, after);
            step.put_entity(after);
        }
        for (key, value) in records {
            step.batch.insert(key.clone(), value.clone());
        }
        let seq = self.counter("seq")?.max(floors.seq);
        let webhook = self.counter("webhook")?.max(floors.webhook);
        step.batch.insert(meta("seq"), seq.to_be_bytes().to_vec());
        step.batch
            .insert(meta("webhook"), webhook.to_be_bytes().to_vec());
        step.batch
            .insert(meta("cursor"), 0u64.to_be_bytes().to_vec());
        let hlc = hlc.max(clock.last());
        step.batch
            .insert(meta("hlc"), pb::Hlc::from(hlc).encode_to_vec());
        self.commit(step)?;
        *clock = HybridClock::resume(hlc, clock.max_skew_ms());
        drop(clock);
        self.record_high_water()?;
        Ok(HighWater { seq, webhook })
    }

    /// The underlying database (for the webhook deliverer).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    fn counter(&self, name: &str) -> Result<u64> {
        match self.db.get(meta(name))? {
            None => Ok(0),
            Some(raw) => {
                let bytes: [u8; 8] = raw
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt(name, "not a number"))?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The stored subscribe cursor.
    pub fn cursor(&self) -> Result<u64> {
        self.counter("cursor")
    }

    /// Reads an entity (empty when absent).
    pub fn entity(&self, key: &EntityKey) -> Result<EntityState> {
        match self.db.get(entity_key(key))? {
            Some(raw) => decode_state(&raw),
            None => Ok(EntityState::new(key.clone())),
        }
    }

    /// Every entity of a kind.
    pub fn entities(&self, kind: EntityKind) -> Result<Vec<EntityState>> {
        let mut prefix = vec![b'e'];
        prefix.extend_from_slice(kind.as_str().as_bytes());
        prefix.push(b'/');
        self.db
            .scan_prefix(prefix)
            .map(|item| decode_state(&item?.1))
            .collect()
    }

    /// The whole replica (for convergence checks).
    pub fn snapshot(&self) -> Result<hotline_federation::Replica> {
        let mut replica = hotline_federation::Replica::default();
        for item in self.db.scan_prefix([b'e']) {
            let state = decode_state(&item?.1)?;
            replica.entities.insert(state.key.clone(), state);
        }
        Ok(replica)
    }

    /// Ticket ids of a customer.
    pub fn tickets_of_customer(&self, customer: &str) -> Result<Vec<String>> {
        let prefix = customer_prefix(customer);
        self.db
            .scan_prefix(&prefix)
            .map(|item| Ok(String::from_utf8_lossy(&item?.0[prefix.len()..]).into_owned()))
            .collect()
    }

    /// Makes a local change: `build` gets the origin sequence number, the HLC reading and the
    /// current state, and returns the change (validated here). The merged entity, the outbox
    /// entry, the counters and the webhook events are written and flushed together.
    pub fn local_change(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        self.finish_local(&mut clock, Step::default(), key, now_ms, events, build)
    }

    /// Creates a ticket with the next leased number: `build` gets the number too. Refused with
    /// `Conflict` when the lease is used up (the site has been offline too long).
    pub fn local_change_new_ticket(
        &self,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let mut step = Step::default();
        let number = self.take_number(&mut step)?.ok_or_else(|| {
            Error::Conflict(
                "no ticket numbers left at this site: the lease is used up and the gateway has not been \
                 reachable to grant more; tickets can be created again once it is"
                    .into(),
            )
        })?;
        let key = EntityKey::new(EntityKind::Ticket, number.clone());
        self.finish_local(
            &mut clock,
            step,
            &key,
            now_ms,
            events,
            |seq, hlc, before, _| build(&number, seq, hlc, before),
        )
    }

    fn finish_local(
        &self,
        clock: &mut HybridClock,
        mut step: Step,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let seq = self.counter("seq")? + 1;
        let before = self.entity(key)?;
        let mut trial = clock.clone();
        let hlc = trial.now(now_ms);
        let change = build(seq, hlc, &before, &mut step)?;
        change.validate()?;
        let mut after = before.clone();
        after.apply(&change);
        // Hold only what this tenant may see, exactly as the gateway will send it back: PII the
        // focus team does not grant us goes out in the change but stays out of the replica.
        let directory = self.directory()?;
        after = strip(
            &self.tenant,
            &after,
            pii_granted(&self.tenant, &after, &directory),
        );
        self.index(&mut step, &before, &after);
        step.put_entity(&after);
        events.changed(self, &mut step, &after, now_ms)?;
        step.batch.insert(
            seq_key(b'o', seq),
            pb::Change::from(change.clone()).encode_to_vec(),
        );
        step.batch.insert(meta("seq"), seq.to_be_bytes().to_vec());
        step.batch
            .insert(meta("hlc"), pb::Hlc::from(hlc).encode_to_vec());
        self.commit(step)?;
        *clock = trial;
        Ok((change, after))
    }

    /// Takes the next free ticket number into `step`; call under the local lock. `None` when
    /// the lease is used up.
    fn take_number(&self, step: &mut Step) -> Result<Option<String>> {
        for item in self.db.scan_prefix([b'n']) {
            let (key, raw) = item?;
            let mut block =
                NumberBlock::decode(raw.as_ref()).map_err(|e| corrupt("number block", e))?;
            if block.used < block.count {
                let number = block.first + u64::from(block.used);
                block.used += 1;
                if block.used == block.count {
                    step.batch.remove(key.to_vec());
                } else {
                    step.batch.insert(key.to_vec(), block.encode_to_vec());
                }
                return Ok(Some(format!(
                    "{}-{:04}-{:06}",
                    block.prefix, block.year, number
                )));
            }
        }
        Ok(None)
    }

    /// Ticket numbers still free.
    pub fn numbers_left(&self) -> Result<u64> {
        let mut left = 0;
        for item in self.db.scan_prefix([b'n']) {
            let block =
                NumberBlock::decode(item?.1.as_ref()).map_err(|e| corrupt("number block", e))?;
            left += u64::from(block.count - block.used);
        }
        Ok(left)
    }

    /// Stores a newly leased block.
    pub fn add_numbers(&self, block: &pb::LeaseBlock) -> Result<()> {
        let mut key = vec![b'n'];
        key.extend_from_slice(&block.year.to_be_bytes());
        key.extend_from_slice(&block.first.to_be_bytes());
        let value = NumberBlock {
            prefix: block.prefix.clone(),
            year: block.year,
            first: block.first,
            count: block.count,
            used: 0,
        };
        self.db.insert(key, value.encode_to_vec())?;
        self.db.flush()?;
        Ok(())
    }

    /// The oldest outbox entries, in order.
    pub fn outbox(&self, limit: usize) -> Result<Vec<Change>> {
        self.db
            .scan_prefix([b'o'])
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
        self.db.scan_prefix([b'o']).count()
    }

    /// Records push results: accepted changes leave the outbox, refused ones are parked.
    pub fn settle(
        &self,
        accepted: &[u64],
        refused: &[(Change, i32, String)],
        now_ms: u64,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for seq in accepted {
            batch.remove(seq_key(b'o', *seq));
        }
        for (change, reason, message) in refused {
            batch.remove(seq_key(b'o', change.origin_seq));
            let parked = Parked {
                change: Some(change.clone().into()),
                reason: *reason,
                message: message.clone(),
                at_ms: now_ms,
            };
            batch.insert(seq_key(b'p', change.origin_seq), parked.encode_to_vec());
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Parked changes, oldest first.
    pub fn parked(&self) -> Result<Vec<Parked>> {
        self.db
            .scan_prefix([b'p'])
            .map(|item| Parked::decode(item?.1.as_ref()).map_err(|e| corrupt("dead letter", e)))
            .collect()
    }

    /// Puts a parked change back at its place in the outbox (after its cause was fixed).
    pub fn replay(&self, origin_seq: u64) -> Result<()> {
        let key = seq_key(b'p', origin_seq);
        let raw = self.db.get(&key)?.ok_or_else(|| {
            Error::NotFound(format!("no dead letter with origin_seq {origin_seq}"))
        })?;
        let parked = Parked::decode(raw.as_ref()).map_err(|e| corrupt("dead letter", e))?;
        let change = parked
            .change
            .ok_or_else(|| corrupt("dead letter", "without change"))?;
        let mut batch = sled::Batch::default();
        batch.remove(key);
        batch.insert(seq_key(b'o', origin_seq), change.encode_to_vec());
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
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
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let mut purged = BTreeSet::new();
        for key in &remote.purge {
            let before = self.entity(key)?;
            purged.insert(key.clone());
            if before.is_empty() {
                continue;
            }
            if let Some(customer) = customer_of(&before) {
                step.batch.remove(customer_key(customer, &key.id));
            }
            step.remove_entity(key);
            events.revoked(self, &mut step, key, now_ms)?;
            changed += 1;
        }
        for incoming in &remote.states {
            let before = if purged.contains(&incoming.key) {
                EntityState::new(incoming.key.clone())
            } else {
                self.entity(&incoming.key)?
            };
            let after = if remote.replace {
                incoming.clone()
            } else {
                let mut after = before.clone();
                after.join(incoming);
                after
            };
            for register in incoming.registers.values() {
                // Keep local readings after remote ones (causality); a far-ahead clock elsewhere
                // is the gateway's problem, not a reason to refuse data.
                let stamp = &register.winner.stamp;
                let _ = clock.observe(&stamp.site, stamp.hlc, stamp.hlc.wall_ms);
            }
            if after != before {
                self.index(&mut step, &before, &after);
                step.put_entity(&after);
                events.changed(self, &mut step, &after, now_ms)?;
                changed += 1;
            }
        }
        if let Some(cursor) = remote.cursor {
            step.batch
                .insert(meta("cursor"), cursor.to_be_bytes().to_vec());
        }
        step.batch
            .insert(meta("hlc"), pb::Hlc::from(clock.last()).encode_to_vec());
        self.commit(step)?;
        Ok(changed)
    }

    /// Keys of every entity (for snapshot reconciliation).
    pub fn entity_keys(&self) -> Result<BTreeSet<EntityKey>> {
        let mut keys = BTreeSet::new();
        for item in self.db.scan_prefix([b'e']) {
            keys.insert(decode_state(&item?.1)?.key);
        }
        Ok(keys)
    }

    /// The next webhook event id, reserved durably with the step it is written in. Steps are
    /// built under the local lock, so ids never collide.
    pub fn next_webhook_id(&self, step: &mut Step) -> Result<u64> {
        let id = match step.webhook_id {
            Some(last) => last + 1,
            None => self.counter("webhook")? + 1,
        };
        step.webhook_id = Some(id);
        step.batch
            .insert(meta("webhook"), id.to_be_bytes().to_vec());
        Ok(id)
    }

    /// What the visibility rules know here: the policies this site holds.
    fn directory(&self) -> Result<Directory> {
        let mut directory = Directory::default();
        for policy in self.entities(EntityKind::Policy)? {
            directory.learn_policy(&policy);
        }
        Ok(directory)
    }

    fn index(&self, step: &mut Step, before: &EntityState, after: &EntityState) {
        if after.key.kind != EntityKind::Ticket {
            return;
        }
        let (old, new) = (customer_of(before), customer_of(after));
        if old != new {
            if let Some(old) = old {
                step.batch.remove(customer_key(old, &after.key.id));
            }
            if let Some(new) = new {
                step.batch
                    .insert(customer_key(new, &after.key.id), Vec::new());
            }
        }
    }

    /// Applies and flushes a step.
    pub fn commit(&self, step: Step) -> Result<()> {
        self.db.apply_batch(step.batch)?;
        self.db.flush()?;
        Ok(())
    }
}

/// Decodes a stored entity state.
pub fn decode_state(raw: &[u8]) -> Result<EntityState> {
    let wire = pb::EntityState::decode(raw).map_err(|e| corrupt("entity", e))?;
    EntityState::try_from(wire).map_err(|e| corrupt("entity", e))
}
