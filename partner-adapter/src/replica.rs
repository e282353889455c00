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
//! | `r` | kind, `/`, id | `hotline.v1.EntityKey`: a change to it was refused, so the local copy waits to be replaced by the gateway's ([`Replica::refresh`]) |
//! | `m` | name | counters: `cursor`, `seq`, `hlc`, `confirmed`, `webhook`; markers `site`, `format` |
//! | `w`, `y` | see [`crate::webhooks`] | webhook queue and dead letters |
//!
//! Every record is checked when the store is opened ([`crate::integrity`]); a damaged store is
//! refused with [`Error::CorruptStore`] and rebuilt by [`crate::recover`]. A new store starts
//! its origin sequence and webhook event ids at [`integrity::time_floor`], never at 1, so a store
//! that replaces a lost one cannot reuse a number the old one sent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use hotline_federation::authority::{Caller, authorize};
use hotline_federation::ids::PublicNumber;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::rewind;
use hotline_federation::visibility::{Directory, pii_granted, strip};
use hotline_federation::{Change, EntityState, Hlc, HybridClock, Stamp};
use hotline_proto::v1 as pb;
use prost::Message;

use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::integrity::{self, HighWater};
use crate::keys::{self, customer_key, customer_prefix, entity_key, meta, refresh_key, seq_key};

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
    /// The origin sequence number a replayed dead letter keeps, instead of the next one.
    replayed: Option<u64>,
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

/// How many recent (log position, entity) touches the replica remembers.
const TOUCHES_KEPT: usize = 65_536;

/// Which entities the latest log entries touched, so a fetch answer that is older than the
/// replica's cursor can still be used for an entity no later entry touched.
#[derive(Debug, Default)]
struct Touched {
    /// (log position, entity), oldest first.
    recent: VecDeque<(u64, EntityKey)>,
    /// Touches up to this position are not remembered (before the start, evicted, or behind
    /// a snapshot).
    forgotten_up_to: u64,
    /// Snapshot chunks have replaced local states but its end has not arrived.
    snapshot_open: bool,
}

impl Touched {
    fn record(&mut self, position: u64, key: &EntityKey) {
        self.recent.push_back((position, key.clone()));
        while self.recent.len() > TOUCHES_KEPT {
            if let Some((evicted, _)) = self.recent.pop_front() {
                self.forgotten_up_to = self.forgotten_up_to.max(evicted);
            }
        }
    }

    /// Whether an answer reflecting the log up to `as_of` holds everything the replica (at
    /// `cursor`) has applied to `key`.
    fn current(&self, key: &EntityKey, as_of: u64, cursor: u64) -> bool {
        if self.snapshot_open {
            return false;
        }
        if as_of >= cursor {
            return true;
        }
        as_of >= self.forgotten_up_to
            && !self
                .recent
                .iter()
                .rev()
                .take_while(|(position, _)| *position > as_of)
                .any(|(_, touched)| touched == key)
    }
}

/// The local store.
pub struct Replica {
    db: sled::Db,
    dir: PathBuf,
    tenant: String,
    site: String,
    /// Serialises local writes (sequence numbers, clock, numbers).
    local: Mutex<HybridClock>,
    /// Recent touches by log entries; locked only while `local` is held.
    touched: Mutex<Touched>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").finish_non_exhaustive()
    }
}

fn read_hlc(db: &sled::Db, name: &str) -> Result<Option<Hlc>> {
    db.get(meta(name))?
        .map(|raw| {
            let wire = pb::Hlc::decode(raw.as_ref()).map_err(|e| corrupt("clock", e))?;
            Ok(Hlc::from(wire))
        })
        .transpose()
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

/// Every write position a state holds: register winners and the superseded writes kept,
/// comments, call events and the delete.
fn stamps(state: &EntityState) -> impl Iterator<Item = &Stamp> {
    state
        .registers
        .values()
        .flat_map(|r| std::iter::once(&r.winner.stamp).chain(r.superseded.iter().map(|w| &w.stamp)))
        .chain(state.comments.values().map(|c| &c.stamp))
        .chain(state.call_events.values().map(|e| &e.stamp))
        .chain(state.deleted.iter())
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
            batch.insert(
                meta("confirmed"),
                pb::Hlc::from(Hlc::default()).encode_to_vec(),
            );
            db.apply_batch(batch)?;
            db.flush()?;
        } else if health.legacy {
            db.insert(meta("format"), integrity::FORMAT)?;
            db.flush()?;
        }
        let last = read_hlc(&db, "hlc")?.unwrap_or_default();
        let replica = Replica {
            db,
            dir: dir.to_path_buf(),
            tenant: tenant.to_owned(),
            site: site.to_owned(),
            local: Mutex::new(HybridClock::resume(last, max_skew_ms)),
            touched: Mutex::new(Touched::default()),
        };
        let cursor = replica.cursor()?;
        replica.touches().forgotten_up_to = cursor;
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
            states.insert(change.key.clone(), self.visible(&after, &directory));
            step.batch.insert(
                seq_key(keys::OUTBOX, change.origin_seq),
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
        if !records.iter().any(|(key, _)| *key == meta("confirmed")) {
            // Unknown which readings were accepted: a CLOCK_SKEW refusal then goes back no
            // further than the bound (see `settle`).
            step.batch.remove(meta("confirmed"));
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
        let mut prefix = vec![keys::ENTITY];
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
        for item in self.db.scan_prefix([keys::ENTITY]) {
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
    /// entry, the counters and the webhook events are written and flushed together. The
    /// federation's authority is not asked: this stores what the site wrote, and the gateway
    /// decides (replays, and tests that exercise the gateway's refusals, use it); the local API
    /// uses [`Replica::checked_change`].
    pub fn local_change(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        self.finish_local(
            &mut clock,
            Step::default(),
            key,
            now_ms,
            events,
            false,
            build,
        )
    }

    /// Like [`Replica::local_change`], but refuses at once a change the gateway's authority
    /// would refuse, as far as this site can know (see [`Replica::authorize`]).
    pub fn checked_change(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        self.finish_local(
            &mut clock,
            Step::default(),
            key,
            now_ms,
            events,
            true,
            build,
        )
    }

    /// Creates a ticket with the next leased number: `build` gets the number too. Refused with
    /// `Conflict` when the lease is used up (the site has been offline too long), and, like
    /// [`Replica::checked_change`], when the gateway's authority would refuse it.
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
            true,
            |seq, hlc, before, _| build(&number, seq, hlc, before),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_local(
        &self,
        clock: &mut HybridClock,
        mut step: Step,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        checked: bool,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let seq = match step.replayed {
            Some(seq) => seq,
            None => self.counter("seq")? + 1,
        };
        let before = self.entity(key)?;
        let mut trial = clock.clone();
        let hlc = trial.now(now_ms);
        let change = build(seq, hlc, &before, &mut step)?;
        change.validate()?;
        hotline_federation::limits::check_change(&before, &change)?;
        let directory = self.directory()?;
        if checked {
            self.authorize(&change, &before, &directory)?;
        }
        let mut after = before.clone();
        after.apply(&change);
        // Hold only what this tenant may see, exactly as the gateway will send it back: PII the
        // focus team does not grant us goes out in the change but stays out of the replica.
        after = self.visible(&after, &directory);
        self.index(&mut step, &before, &after);
        step.put_entity(&after);
        events.changed(self, &mut step, &after, now_ms)?;
        step.batch.insert(
            seq_key(keys::OUTBOX, seq),
            pb::Change::from(change.clone()).encode_to_vec(),
        );
        if step.replayed.is_none() {
            step.batch.insert(meta("seq"), seq.to_be_bytes().to_vec());
        }
        step.batch
            .insert(meta("hlc"), pb::Hlc::from(hlc).encode_to_vec());
        self.commit(step)?;
        *clock = trial;
        Ok((change, after))
    }

    /// Takes the next free ticket number into `step`; call under the local lock. `None` when
    /// the lease is used up.
    fn take_number(&self, step: &mut Step) -> Result<Option<String>> {
        for item in self.db.scan_prefix([keys::NUMBERS]) {
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
        for item in self.db.scan_prefix([keys::NUMBERS]) {
            let block =
                NumberBlock::decode(item?.1.as_ref()).map_err(|e| corrupt("number block", e))?;
            left += u64::from(block.count - block.used);
        }
        Ok(left)
    }

    /// Stores a newly leased block.
    pub fn add_numbers(&self, block: &pb::LeaseBlock) -> Result<()> {
        let mut key = vec![keys::NUMBERS];
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
        refused: &[(Change, i32, String)],
        now_ms: u64,
    ) -> Result<()> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
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
        let park = |batch: &mut sled::Batch, change: &Change, reason: i32, message: &str| {
            batch.remove(seq_key(keys::OUTBOX, change.origin_seq));
            let parked = Parked {
                change: Some(change.clone().into()),
                reason,
                message: message.to_owned(),
                at_ms: now_ms,
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
        for (change, reason, message) in refused {
            settled.insert(change.origin_seq);
            park(&mut batch, change, *reason, message);
        }
        let skewed = refused
            .iter()
            .any(|(_, reason, _)| *reason == pb::RejectReason::ClockSkew as i32);
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
                    pb::RejectReason::ClockSkew as i32,
                    &message,
                );
            }
            if let Some(back_to) = decided.back_to {
                batch.insert(meta("hlc"), pb::Hlc::from(back_to).encode_to_vec());
                rewound = Some(back_to);
            }
        }
        batch.insert(meta("confirmed"), pb::Hlc::from(confirmed).encode_to_vec());
        self.db.apply_batch(batch)?;
        self.db.flush()?;
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
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
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
            step.batch.remove(refresh_key(&key));
            if after == before {
                continue;
            }
            self.index(&mut step, &before, &after);
            if after.is_empty() {
                step.remove_entity(&key);
                events.revoked(self, &mut step, &key, now_ms)?;
            } else {
                step.put_entity(&after);
                events.changed(self, &mut step, &after, now_ms)?;
            }
        }
        step.batch
            .insert(meta("confirmed"), pb::Hlc::from(confirmed).encode_to_vec());
        step.batch
            .insert(meta("hlc"), pb::Hlc::from(clock.last()).encode_to_vec());
        self.commit(step)?;
        Ok(deferred.into_keys().collect())
    }

    /// The recent touches (call with the local lock held).
    fn touches(&self) -> std::sync::MutexGuard<'_, Touched> {
        self.touched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The outbox by entity, oldest first.
    fn pending_by_entity(&self) -> Result<BTreeMap<EntityKey, Vec<Change>>> {
        let mut pending: BTreeMap<EntityKey, Vec<Change>> = BTreeMap::new();
        for change in self.outbox(usize::MAX)? {
            pending.entry(change.key.clone()).or_default().push(change);
        }
        Ok(pending)
    }

    /// `base` (the gateway's copy) with the site's unpushed `changes` to it applied, as much
    /// as the site may hold.
    fn with_pending(
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

    /// What of `state` this site holds: PII the focus team does not grant its tenant is left
    /// out, exactly as the gateway leaves it out of what it sends.
    fn visible(&self, state: &EntityState, directory: &Directory) -> EntityState {
        strip(
            &self.tenant,
            state,
            pii_granted(&self.tenant, state, directory),
        )
    }

    /// Parked changes, oldest first.
    pub fn parked(&self) -> Result<Vec<Parked>> {
        self.db
            .scan_prefix([keys::PARKED])
            .map(|item| Parked::decode(item?.1.as_ref()).map_err(|e| corrupt("dead letter", e)))
            .collect()
    }

    /// This site's parked changes by clock reading (a site never issues a reading twice), to
    /// notice one the gateway took after all: an operator replayed it there.
    fn parked_by_reading(&self) -> Result<BTreeMap<Hlc, u64>> {
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
    fn clear_taken(&self, step: &mut Step, parked: &mut BTreeMap<Hlc, u64>, state: &EntityState) {
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
                    step.batch.remove(seq_key(keys::PARKED, seq));
                }
            }
        }
    }

    /// Offers a parked change again (after its cause was fixed): it keeps its origin sequence
    /// number and its place in the outbox, and is applied to the local copy again, which the
    /// refusal had replaced by the gateway's. It keeps its clock reading, so it wins over no
    /// write made after it, unless that reading was the cause (`CLOCK_SKEW`): then it gets a
    /// new one. Checked like a new local change, so a change that is still malformed stays
    /// parked with the error.
    pub fn replay(&self, origin_seq: u64, now_ms: u64, events: &TicketEvents) -> Result<Change> {
        let mut clock = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let key = seq_key(keys::PARKED, origin_seq);
        let raw = self.db.get(&key)?.ok_or_else(|| {
            Error::NotFound(format!("no dead letter with origin_seq {origin_seq}"))
        })?;
        let parked = Parked::decode(raw.as_ref()).map_err(|e| corrupt("dead letter", e))?;
        let wire = parked
            .change
            .ok_or_else(|| corrupt("dead letter", "without change"))?;
        let change = Change::try_from(wire).map_err(|e| corrupt("dead letter", e))?;
        let mut step = Step {
            replayed: Some(origin_seq),
            ..Step::default()
        };
        step.batch.remove(key);
        let (change, _) = self.finish_local(
            &mut clock,
            step,
            &change.key.clone(),
            now_ms,
            events,
            // The gateway refused it; whether it takes it now is the gateway's to decide.
            false,
            |_, hlc, _, _| {
                if parked.reason == pb::RejectReason::ClockSkew as i32 {
                    Ok(Change { hlc, ..change })
                } else {
                    Ok(change)
                }
            },
        )?;
        Ok(change)
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
        let mut confirmed = read_hlc(&self.db, "confirmed")?.unwrap_or_default();
        let mut pending = None;
        let mut parked = self.parked_by_reading()?;
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
            // A purge the same entry re-sends is a replacement (a changed grant): the tools
            // hear of the new state, not of a revocation.
            if !remote.states.iter().any(|s| s.key == *key) {
                events.revoked(self, &mut step, key, now_ms)?;
            }
            changed += 1;
        }
        for incoming in &remote.states {
            let before = if purged.contains(&incoming.key) {
                EntityState::new(incoming.key.clone())
            } else {
                self.entity(&incoming.key)?
            };
            let after = if remote.replace {
                // Replace, but keep showing what the site changed itself and has not pushed.
                let (outbox, directory) = match &pending {
                    Some(read) => read,
                    None => pending.insert((self.pending_by_entity()?, self.directory()?)),
                };
                self.with_pending(incoming.clone(), outbox.get(&incoming.key), directory)
            } else {
                let mut after = before.clone();
                after.join(incoming);
                // Keep only what the gateway's view for this tenant holds (no superseded
                // writes at a partner), so the replica still equals that view.
                let (_, directory) = match &pending {
                    Some(read) => read,
                    None => pending.insert((self.pending_by_entity()?, self.directory()?)),
                };
                self.visible(&after, directory)
            };
            confirmed = observe_state(&mut clock, incoming, confirmed);
            self.clear_taken(&mut step, &mut parked, incoming);
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
        step.batch
            .insert(meta("confirmed"), pb::Hlc::from(confirmed).encode_to_vec());
        self.commit(step)?;
        let mut touched = self.touches();
        match (remote.replace, remote.cursor) {
            (true, None) => touched.snapshot_open = true,
            (true, Some(as_of)) => {
                // Everything up to the snapshot's position came whole; nothing older is known.
                touched.snapshot_open = false;
                touched.recent.clear();
                touched.forgotten_up_to = touched.forgotten_up_to.max(as_of);
            }
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

    /// Keys of every entity (for snapshot reconciliation).
    pub fn entity_keys(&self) -> Result<BTreeSet<EntityKey>> {
        let mut keys = BTreeSet::new();
        for item in self.db.scan_prefix([keys::ENTITY]) {
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

    /// Refuses at once a local change the gateway's authority would refuse, with the same rule
    /// (`hotline_federation::authority`), as far as this site can know: it holds the policies of
    /// the teams it may see and knows its own site, so names it does not know are left to the
    /// gateway. Numbers come from the site's own lease, so a new ticket counts as leased.
    fn authorize(
        &self,
        change: &Change,
        before: &EntityState,
        directory: &Directory,
    ) -> Result<()> {
        let mut directory = directory.clone();
        directory
            .site_tenants
            .insert(self.site.clone(), self.tenant.clone());
        // In-house sees every policy, so it knows every team; a partner only its own.
        directory.teams_complete = self.tenant == hotline_federation::ids::INHOUSE;
        let prefix = match PublicNumber::parse("id", &change.key.id) {
            Ok(number) if change.key.kind == EntityKind::Ticket => number.prefix,
            _ => String::new(),
        };
        let caller = Caller::Site {
            tenant: self.tenant.clone(),
            site: self.site.clone(),
        };
        authorize(&caller, change, before, &directory, &prefix, |_| true).map_err(Error::Refused)
    }

    /// What the visibility rules know here: the policies this site holds (a partner holds those
    /// of the focus teams its tenant handles).
    pub fn directory(&self) -> Result<Directory> {
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
