//! The one writer: every mutation of the store goes through this thread, which groups whatever
//! jobs are waiting into one atomic batch and one flush (group commit), then answers each
//! caller on its oneshot and hands the committed entries to live subscribers.
//!
//! A group either commits whole or not at all: on a storage error every caller in the group is
//! told `UNAVAILABLE` and nothing of the group is acknowledged or published.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hotline_federation::ids::{MAX_TICKET_NUMBER, PublicNumber};
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{Directory, sees};
use hotline_federation::{Change, EntityState, FieldOp, HybridClock};
use hotline_proto::v1 as pb;
use prost::Message;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::authorize::{Caller, Refusal, authorize};
use crate::error::{Error, Result};
use crate::log::{
    Committed, CommittedRef, LeaseRecord, LogRecord, decode, decode_state, encode_state,
};
use crate::store::{Batch, Store, keys};

/// The site name the gateway uses for changes it makes itself (policies seeded from config).
pub const GATEWAY_SITE: &str = "gateway";

/// Most jobs committed in one group.
const MAX_GROUP_JOBS: usize = 256;
/// Most old log entries pruned per group.
const PRUNE_STEP: u64 = 4096;

/// The result of one pushed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Durably stored.
    Accepted {
        /// Position in the global log.
        global_seq: u64,
        /// Accepted before; this push was a retry.
        duplicate: bool,
    },
    /// Refused; nothing stored.
    Rejected(Refusal),
}

/// A block of ticket numbers granted to a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// Number prefix.
    pub prefix: String,
    /// Year.
    pub year: u32,
    /// First number.
    pub first: u64,
    /// How many.
    pub count: u32,
}

/// A tenant or site record to store.
#[derive(Clone, Debug)]
pub enum Registration {
    /// A tenant.
    Tenant(pb::Tenant),
    /// A site.
    Site(pb::Site),
}

enum Job {
    Push {
        caller: Caller,
        changes: Vec<Change>,
        reply: oneshot::Sender<Result<Vec<Outcome>>>,
    },
    Register {
        registration: Registration,
        reply: oneshot::Sender<Result<Vec<Outcome>>>,
    },
    Seed {
        key: EntityKey,
        ops: Vec<FieldOp>,
        reply: oneshot::Sender<Result<Vec<Outcome>>>,
    },
    Lease {
        site: String,
        count: u32,
        reply: oneshot::Sender<Result<LeaseGrant>>,
    },
    Stop,
}

/// State the writer shares with readers (subscribers, handlers).
#[derive(Debug)]
pub struct Shared {
    /// The newest committed global sequence number.
    pub head: AtomicU64,
    /// Every log entry at or below this number has been pruned.
    pub floor: AtomicU64,
    /// Focus team access and site tenants, as of `head`.
    pub directory: RwLock<Directory>,
    /// Tenants and sites.
    pub registry: RwLock<crate::registry::Registry>,
    /// Committed entries for live subscribers.
    pub committed: broadcast::Sender<CommittedRef>,
}

impl Shared {
    /// A copy of the current directory.
    pub fn directory(&self) -> Directory {
        self.directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of the current registry.
    pub fn registry(&self) -> crate::registry::Registry {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What the writer needs to know from the config.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Public ticket number prefix.
    pub ticket_prefix: String,
    /// Allowed clock lead of a site, ms.
    pub max_skew_ms: u64,
    /// Log entries kept.
    pub log_retention: u64,
    /// Physical clock, ms since the epoch.
    pub now_ms: fn() -> u64,
}

/// The handle callers use to reach the writer.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

fn gone() -> Error {
    Error::Unavailable("the gateway is shutting down; retry against the restarted gateway".into())
}

impl WriterHandle {
    /// Stores changes of `caller`; answers once they are durable.
    pub async fn push(&self, caller: Caller, changes: Vec<Change>) -> Result<Vec<Outcome>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Push {
                caller,
                changes,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Stores a tenant or site record; answers once durable.
    pub async fn register(&self, registration: Registration) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Register {
                registration,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?.map(|_| ())
    }

    /// Writes the gateway's own change to an entity (config seeding).
    pub async fn seed(&self, key: EntityKey, ops: Vec<FieldOp>) -> Result<Vec<Outcome>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Seed { key, ops, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Grants `site` a block of `count` ticket numbers; answers once durable.
    pub async fn lease(&self, site: String, count: u32) -> Result<LeaseGrant> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Lease { site, count, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Asks the writer to finish the jobs queued so far and stop.
    pub async fn stop(&self) {
        let _ = self.tx.send(Job::Stop).await;
    }
}

/// Starts the writer thread.
pub fn spawn(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    settings: WriterSettings,
    queue: usize,
) -> Result<(WriterHandle, std::thread::JoinHandle<()>)> {
    let head = shared.head.load(Ordering::SeqCst);
    let floor = shared.floor.load(Ordering::SeqCst);
    let seed_seq = read_counter(store.as_ref(), "seed")?;
    let clock = HybridClock::new(settings.max_skew_ms);
    let writer = Writer {
        store,
        shared,
        settings,
        head,
        floor,
        seed_seq,
        clock,
        lease_next: BTreeMap::new(),
        cache: StateCache::default(),
    };
    let (tx, rx) = mpsc::channel(queue);
    let thread = std::thread::Builder::new()
        .name("hotline-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| Error::Unavailable(format!("cannot start the writer thread: {e}")))?;
    Ok((WriterHandle { tx }, thread))
}

/// Reads a counter from the `m` key space (0 when absent).
pub fn read_counter(store: &dyn Store, name: &str) -> Result<u64> {
    match store.get(&keys::meta(name))? {
        None => Ok(0),
        Some(raw) => keys::decode_u64(&raw)
            .ok_or_else(|| Error::Corrupt(format!("counter {name} is not a number"))),
    }
}

struct Writer {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    settings: WriterSettings,
    head: u64,
    floor: u64,
    seed_seq: u64,
    clock: HybridClock,
    lease_next: BTreeMap<u32, u64>,
    cache: StateCache,
}

/// Entity states the writer merged lately, so a busy ticket is not decoded from the store for
/// every change. Only the writer changes entities, and it fills the cache only after a group
/// committed, so the cache never holds what the store does not.
#[derive(Default)]
struct StateCache {
    states: HashMap<EntityKey, Arc<EntityState>>,
    order: std::collections::VecDeque<EntityKey>,
}

/// Most entity states the writer keeps decoded.
const CACHED_STATES: usize = 4096;

impl StateCache {
    fn get(&self, key: &EntityKey) -> Option<&Arc<EntityState>> {
        self.states.get(key)
    }

    fn put(&mut self, key: EntityKey, state: Arc<EntityState>) {
        if self.states.insert(key.clone(), state).is_none() {
            self.order.push_back(key);
            while self.order.len() > CACHED_STATES {
                if let Some(old) = self.order.pop_front() {
                    self.states.remove(&old);
                }
            }
        }
    }
}

enum Reply {
    Push(oneshot::Sender<Result<Vec<Outcome>>>, Vec<Outcome>),
    Lease(oneshot::Sender<Result<LeaseGrant>>, Result<LeaseGrant>),
}

/// The work of one group, before it is committed.
struct Group {
    batch: Batch,
    entities: HashMap<EntityKey, Arc<EntityState>>,
    dedupe: HashMap<(String, u64), u64>,
    directory: Directory,
    registry: crate::registry::Registry,
    committed: Vec<Committed>,
    head: u64,
    seed_seq: u64,
    lease_next: BTreeMap<u32, u64>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP_JOBS {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let stop = jobs.iter().any(|job| matches!(job, Job::Stop));
            self.commit_group(jobs);
            if stop {
                break;
            }
        }
        tracing::debug!(head = self.head, "writer stopped");
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        let mut group = Group {
            batch: Batch::default(),
            entities: HashMap::new(),
            dedupe: HashMap::new(),
            directory: self.shared.directory(),
            registry: self.shared.registry(),
            committed: Vec::new(),
            head: self.head,
            seed_seq: self.seed_seq,
            lease_next: self.lease_next.clone(),
        };
        let mut replies = Vec::with_capacity(jobs.len());
        let mut failure: Option<Error> = None;
        let mut failed_senders = Vec::new();
        for job in jobs {
            if failure.is_some() {
                failed_senders.push(job);
                continue;
            }
            let result = match job {
                Job::Push {
                    caller,
                    changes,
                    reply,
                } => {
                    match changes
                        .iter()
                        .map(|c| self.process(&mut group, &caller, c))
                        .collect()
                    {
                        Ok(outcomes) => Ok(Reply::Push(reply, outcomes)),
                        Err(e) => Err((
                            e,
                            Job::Push {
                                caller,
                                changes: Vec::new(),
                                reply,
                            },
                        )),
                    }
                }
                Job::Register {
                    registration,
                    reply,
                } => {
                    self.process_registration(&mut group, &registration);
                    Ok(Reply::Push(reply, Vec::new()))
                }
                Job::Seed { key, ops, reply } => {
                    match self.process_seed(&mut group, key.clone(), ops) {
                        Ok(outcome) => Ok(Reply::Push(reply, vec![outcome])),
                        Err(e) => Err((
                            e,
                            Job::Seed {
                                key,
                                ops: Vec::new(),
                                reply,
                            },
                        )),
                    }
                }
                Job::Lease { site, count, reply } => {
                    match self.process_lease(&mut group, &site, count) {
                        Ok(grant) => Ok(Reply::Lease(reply, grant)),
                        Err(e) => Err((e, Job::Lease { site, count, reply })),
                    }
                }
                Job::Stop => continue,
            };
            match result {
                Ok(reply) => replies.push(reply),
                Err((e, job)) => {
                    failure = Some(e);
                    failed_senders.push(job);
                }
            }
        }
        if failure.is_none() {
            self.prune(&mut group);
            if group.head != self.head {
                group
                    .batch
                    .put(keys::meta("head"), keys::encode_u64(group.head));
            }
            if group.seed_seq != self.seed_seq {
                group
                    .batch
                    .put(keys::meta("seed"), keys::encode_u64(group.seed_seq));
            }
            if !group.batch.is_empty() {
                let batch = std::mem::take(&mut group.batch);
                if let Err(e) = self.store.apply(batch).and_then(|()| self.store.flush()) {
                    failure = Some(e);
                }
            }
        }
        if let Some(error) = failure {
            tracing::error!(%error, "group commit failed; nothing of the group was acknowledged");
            let message = error.to_string();
            let fail = || Error::Storage(message.clone());
            for reply in replies {
                match reply {
                    Reply::Push(tx, _) => drop(tx.send(Err(fail()))),
                    Reply::Lease(tx, _) => drop(tx.send(Err(fail()))),
                }
            }
            for job in failed_senders {
                match job {
                    Job::Push { reply, .. }
                    | Job::Seed { reply, .. }
                    | Job::Register { reply, .. } => drop(reply.send(Err(fail()))),
                    Job::Lease { reply, .. } => drop(reply.send(Err(fail()))),
                    Job::Stop => {}
                }
            }
            return;
        }
        self.head = group.head;
        self.seed_seq = group.seed_seq;
        self.lease_next = group.lease_next;
        for (key, state) in group.entities {
            self.cache.put(key, state);
        }
        self.shared.head.store(self.head, Ordering::SeqCst);
        self.shared.floor.store(self.floor, Ordering::SeqCst);
        *self
            .shared
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner()) = group.directory;
        *self
            .shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner()) = group.registry;
        for reply in replies {
            match reply {
                Reply::Push(tx, outcomes) => drop(tx.send(Ok(outcomes))),
                Reply::Lease(tx, grant) => drop(tx.send(grant)),
            }
        }
        for committed in group.committed {
            // No live subscriber is fine: they catch up from the store.
            let _ = self.shared.committed.send(Arc::new(committed));
        }
    }

    fn load(&self, group: &Group, key: &EntityKey) -> Result<EntityState> {
        if let Some(state) = group.entities.get(key).or_else(|| self.cache.get(key)) {
            return Ok(EntityState::clone(state));
        }
        match self.store.get(&keys::entity(key))? {
            Some(raw) => decode_state(&raw),
            None => Ok(EntityState::new(key.clone())),
        }
    }

    fn process(&mut self, group: &mut Group, caller: &Caller, change: &Change) -> Result<Outcome> {
        let outcome = self.decide(group, caller, change)?;
        if let Caller::Site { site, .. } = caller {
            let key = keys::dead_letter(site, change.origin_seq);
            match &outcome {
                Outcome::Rejected(refusal) => {
                    let letter = pb::DeadLetter {
                        change: Some(pb::Change::from(change.clone())),
                        rejection: Some(pb::Rejected {
                            reason: refusal.reason as i32,
                            message: refusal.message.clone(),
                        }),
                        at_ms: (self.settings.now_ms)(),
                    };
                    group.batch.put(key, letter.encode_to_vec());
                }
                Outcome::Accepted {
                    duplicate: false, ..
                } => {
                    if self.store.get(&key)?.is_some() {
                        group.batch.delete(key);
                    }
                }
                Outcome::Accepted {
                    duplicate: true, ..
                } => {}
            }
        }
        Ok(outcome)
    }

    fn process_registration(&mut self, group: &mut Group, registration: &Registration) {
        match registration {
            Registration::Tenant(tenant) => {
                group.batch.put(
                    keys::record(keys::TENANT, &tenant.id),
                    tenant.encode_to_vec(),
                );
                group
                    .registry
                    .tenants
                    .insert(tenant.id.clone(), tenant.clone());
            }
            Registration::Site(site) => {
                group
                    .batch
                    .put(keys::record(keys::SITE, &site.id), site.encode_to_vec());
                group
                    .directory
                    .site_tenants
                    .insert(site.id.clone(), site.tenant.clone());
                group.registry.sites.insert(site.id.clone(), site.clone());
            }
        }
    }

    fn decide(&mut self, group: &mut Group, caller: &Caller, change: &Change) -> Result<Outcome> {
        let now = (self.settings.now_ms)();
        if let Caller::Site { site, .. } = caller {
            if &change.origin_site != site {
                return Ok(Outcome::Rejected(Refusal {
                    reason: pb::RejectReason::OriginMismatch,
                    message: format!(
                        "origin_site {:?} is not your site; your certificate names site {site:?}",
                        change.origin_site
                    ),
                }));
            }
        }
        let dedupe = (change.origin_site.clone(), change.origin_seq);
        if let Some(&global_seq) = group.dedupe.get(&dedupe) {
            return Ok(Outcome::Accepted {
                global_seq,
                duplicate: true,
            });
        }
        if let Some(raw) = self.store.get(&keys::dedupe(&dedupe.0, dedupe.1))? {
            let global_seq = keys::decode_u64(&raw)
                .ok_or_else(|| Error::Corrupt("dedupe entry is not a number".into()))?;
            return Ok(Outcome::Accepted {
                global_seq,
                duplicate: true,
            });
        }
        if let Err(e) = self.clock.observe(&change.origin_site, change.hlc, now) {
            return Ok(Outcome::Rejected(Refusal {
                reason: pb::RejectReason::ClockSkew,
                message: e.to_string(),
            }));
        }
        let before = self.load(group, &change.key)?;
        let leased = match (caller, change.key.kind, before.is_empty()) {
            (Caller::Site { site, .. }, EntityKind::Ticket, true) => {
                match PublicNumber::parse("id", &change.key.id) {
                    Ok(number) => self.is_leased(&number, site)?,
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if let Err(refusal) = authorize(
            caller,
            change,
            &before,
            &group.directory,
            &self.settings.ticket_prefix,
            |_| leased,
        ) {
            return Ok(Outcome::Rejected(refusal));
        }
        let global_seq = self.append(group, change, before, now);
        group.dedupe.insert(dedupe.clone(), global_seq);
        group.batch.put(
            keys::dedupe(&dedupe.0, dedupe.1),
            keys::encode_u64(global_seq),
        );
        Ok(Outcome::Accepted {
            global_seq,
            duplicate: false,
        })
    }

    /// Merges an accepted change, computes its visibility effects and adds its writes.
    fn append(&mut self, group: &mut Group, change: &Change, before: EntityState, now: u64) -> u64 {
        let mut after = before.clone();
        after.apply(change);
        let tenants = group.registry.tenant_ids();
        let saw: Vec<bool> = tenants
            .iter()
            .map(|t| !before.is_empty() && sees(t, &before, &group.directory))
            .collect();
        let (mut team, mut access_changed) = (String::new(), Vec::new());
        if change.key.kind == EntityKind::Policy {
            let old = group
                .directory
                .teams
                .get(&change.key.id)
                .cloned()
                .unwrap_or_default();
            group.directory.learn_policy(&after);
            let new = group
                .directory
                .teams
                .get(&change.key.id)
                .cloned()
                .unwrap_or_default();
            team = change.key.id.clone();
            access_changed = tenants
                .iter()
                .filter(|t| {
                    old.handlers.contains(*t) != new.handlers.contains(*t)
                        || old.pii_grants.contains(*t) != new.pii_grants.contains(*t)
                })
                .cloned()
                .collect();
        }
        let (mut gained, mut lost) = (Vec::new(), Vec::new());
        for (tenant, saw) in tenants.iter().zip(saw) {
            let sees_now = sees(tenant, &after, &group.directory);
            if sees_now && !saw {
                gained.push(tenant.clone());
            } else if saw && !sees_now {
                lost.push(tenant.clone());
            }
        }
        if change.key.kind == EntityKind::Ticket {
            let (old, new) = (focus_team(&before), focus_team(&after));
            if old != new {
                if let Some(old) = old {
                    group.batch.delete(keys::team_ticket(old, &change.key.id));
                }
                if let Some(new) = new {
                    group
                        .batch
                        .put(keys::team_ticket(new, &change.key.id), Vec::new());
                }
            }
        }
        group.head += 1;
        let seq = group.head;
        let record = LogRecord {
            change: Some(pb::Change::from(change.clone())),
            gained: gained.clone(),
            lost: lost.clone(),
            team: team.clone(),
            access_changed: access_changed.clone(),
            at_ms: now,
        };
        group.batch.put(keys::log(seq), record.encode_to_vec());
        group
            .batch
            .put(keys::entity(&change.key), encode_state(&after));
        let after = Arc::new(after);
        group.entities.insert(change.key.clone(), after.clone());
        group.committed.push(Committed {
            seq,
            change: change.clone(),
            after,
            gained,
            lost,
            team,
            access_changed,
        });
        seq
    }

    fn process_seed(
        &mut self,
        group: &mut Group,
        key: EntityKey,
        ops: Vec<FieldOp>,
    ) -> Result<Outcome> {
        let now = (self.settings.now_ms)();
        let before = self.load(group, &key)?;
        // The seed must win over every write already stored for the entity.
        for register in before.registers.values() {
            if register.winner.stamp.hlc > self.clock.last() {
                self.clock =
                    HybridClock::resume(register.winner.stamp.hlc, self.settings.max_skew_ms);
            }
        }
        group.seed_seq += 1;
        let change = Change {
            key,
            ops,
            origin_site: GATEWAY_SITE.into(),
            origin_seq: group.seed_seq,
            hlc: self.clock.now(now),
        };
        if let Err(e) = change.validate() {
            return Ok(Outcome::Rejected(Refusal {
                reason: pb::RejectReason::Invalid,
                message: e.to_string(),
            }));
        }
        let global_seq = self.append(group, &change, before, now);
        group.batch.put(
            keys::dedupe(GATEWAY_SITE, change.origin_seq),
            keys::encode_u64(global_seq),
        );
        Ok(Outcome::Accepted {
            global_seq,
            duplicate: false,
        })
    }

    fn process_lease(
        &mut self,
        group: &mut Group,
        site: &str,
        count: u32,
    ) -> Result<Result<LeaseGrant>> {
        let (year, _, _) = hotline_federation::calendar::civil_date((self.settings.now_ms)());
        let next = match group.lease_next.get(&year) {
            Some(next) => *next,
            None => read_counter(self.store.as_ref(), &format!("lease.{year}"))?.max(1),
        };
        let last = next + u64::from(count) - 1;
        if last > MAX_TICKET_NUMBER {
            return Ok(Err(Error::ResourceExhausted(format!(
                "only {} ticket numbers are left for {year}; ask for at most that many",
                (MAX_TICKET_NUMBER + 1).saturating_sub(next)
            ))));
        }
        let record = LeaseRecord {
            site: site.to_owned(),
            first: next,
            count,
        };
        group
            .batch
            .put(keys::lease_block(year, last), record.encode_to_vec());
        group.batch.put(
            keys::meta(&format!("lease.{year}")),
            keys::encode_u64(last + 1),
        );
        group.lease_next.insert(year, last + 1);
        Ok(Ok(LeaseGrant {
            prefix: self.settings.ticket_prefix.clone(),
            year,
            first: next,
            count,
        }))
    }

    fn is_leased(&self, number: &PublicNumber, site: &str) -> Result<bool> {
        let start = keys::lease_block(number.year, number.number);
        let end = keys::lease_year_end(number.year);
        let Some((_, raw)) = self.store.range(&start, &end, 1)?.into_iter().next() else {
            return Ok(false);
        };
        let record: LeaseRecord = decode("lease record", &raw)?;
        Ok(record.site == site && record.first <= number.number)
    }

    /// Drops log entries beyond the retention, a step per group.
    fn prune(&mut self, group: &mut Group) {
        let keep_from = group.head.saturating_sub(self.settings.log_retention);
        if keep_from <= self.floor {
            return;
        }
        let new_floor = keep_from.min(self.floor + PRUNE_STEP);
        for seq in self.floor + 1..=new_floor {
            group.batch.delete(keys::log(seq));
        }
        group
            .batch
            .put(keys::meta("floor"), keys::encode_u64(new_floor));
        self.floor = new_floor;
    }
}

fn focus_team(state: &EntityState) -> Option<&str> {
    match state.value("focus_team") {
        Some(FieldValue::Ticket(TicketField::FocusTeam(team))) => Some(team),
        _ => None,
    }
}
