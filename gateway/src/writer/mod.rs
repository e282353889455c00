//! The one writer: every mutation of the store goes through this thread, which groups whatever
//! jobs are waiting into one atomic batch and one flush (group commit), then answers each
//! caller on its oneshot and hands the committed entries to live subscribers.
//!
//! A group either commits whole or not at all: on a storage error every caller in the group is
//! told `UNAVAILABLE` and nothing of the group is acknowledged or published.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hotline_federation::model::EntityKey;
use hotline_federation::visibility::Directory;
use hotline_federation::{Change, EntityState, FieldOp, HybridClock};
use hotline_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{Error, Result};
use crate::log::{Committed, CommittedRef, decode_state};
use crate::store::{Batch, Store, keys};
use hotline_federation::authority::{Caller, Refusal};

mod bounds;
mod cache;
mod letters;
mod merge;
mod numbers;

use cache::StateCache;

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
    pub directory: RwLock<Arc<Directory>>,
    /// Tenants and sites.
    pub registry: RwLock<crate::registry::Registry>,
    /// Committed entries for live subscribers.
    pub committed: broadcast::Sender<CommittedRef>,
    /// Refused changes answered `Rejected` but not kept as dead letters, because their site
    /// already had `limits.max_dead_letters_per_site` on record (since start).
    pub dead_letters_not_kept: AtomicU64,
}

impl Shared {
    /// A copy of the current directory.
    pub fn directory(&self) -> Arc<Directory> {
        Arc::clone(&self.directory.read().unwrap_or_else(|p| p.into_inner()))
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
    /// Most refused changes kept per site; beyond, a refusal is answered but not stored.
    pub max_dead_letters_per_site: usize,
    /// Largest refused change (encoded) kept as a dead letter.
    pub max_dead_letter_bytes: usize,
    /// Most leased but unused ticket numbers per site and year.
    pub max_unused_numbers_per_site: u64,
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

/// Where the writer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterMode {
    /// On its own OS thread, so store writes and flushes never block the async runtime. The
    /// production mode.
    Thread,
    /// As a task on the current tokio runtime. Each group's store writes run on the runtime
    /// thread, so this is only for stores that never block (the in-memory one): a simulation
    /// that runs every host on one thread with simulated time (turmoil) needs the writer's
    /// progress to follow that thread and that clock, or runs would not replay.
    Task,
}

/// The running writer, to wait for after [`WriterHandle::stop`].
#[derive(Debug)]
pub enum RunningWriter {
    /// See [`WriterMode::Thread`].
    Thread(std::thread::JoinHandle<()>),
    /// See [`WriterMode::Task`].
    Task(tokio::task::JoinHandle<()>),
}

impl RunningWriter {
    /// Waits until the writer has stopped.
    pub async fn join(self) {
        match self {
            RunningWriter::Thread(thread) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            RunningWriter::Task(task) => {
                let _ = task.await;
            }
        }
    }
}

/// Starts the writer, on its own thread or as a task (see [`WriterMode`]).
pub fn spawn(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    settings: WriterSettings,
    queue: usize,
    mode: WriterMode,
) -> Result<(WriterHandle, RunningWriter)> {
    let head = shared.head.load(Ordering::SeqCst);
    let floor = shared.floor.load(Ordering::SeqCst);
    let seed_seq = read_counter(store.as_ref(), "seed")?;
    let (start, end) = keys::prefix_range(keys::DEAD_LETTER);
    let parked = store
        .range(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let letters = letters::count_by_site(&parked);
    let clock = HybridClock::new(settings.max_skew_ms);
    let unused = numbers::load_unused(store.as_ref())?;
    let writer = Writer {
        store,
        shared,
        settings,
        head,
        floor,
        seed_seq,
        clock,
        lease_next: BTreeMap::new(),
        unused,
        cache: StateCache::default(),
        parked,
        letters,
        needs_recovery: false,
    };
    let (tx, rx) = mpsc::channel(queue);
    let running = match mode {
        WriterMode::Thread => RunningWriter::Thread(
            std::thread::Builder::new()
                .name("hotline-writer".into())
                .spawn(move || writer.run(rx))
                .map_err(|e| Error::Unavailable(format!("cannot start the writer thread: {e}")))?,
        ),
        WriterMode::Task => RunningWriter::Task(tokio::spawn(writer.run_as_task(rx))),
    };
    Ok((WriterHandle { tx }, running))
}

impl Writer {
    /// [`Writer::run`] as a task: the same grouping, awaiting jobs instead of blocking.
    async fn run_as_task(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.recv().await {
            if !self.commit_waiting(first, &mut rx) {
                break;
            }
        }
        tracing::debug!(head = self.head, "writer task stopped");
    }
}

/// What a caller is told when its group could not be stored.
fn refusal_message(error: &Error) -> String {
    let cause = match error {
        Error::Storage(cause) => cause.clone(),
        other => other.to_string(),
    };
    format!("{cause}; nothing of this request was stored, retry later")
}

/// Answers a job that will not be done with the error `fail` makes.
fn fail_job(job: Job, fail: &dyn Fn() -> Error) {
    match job {
        Job::Push { reply, .. } | Job::Seed { reply, .. } | Job::Register { reply, .. } => {
            drop(reply.send(Err(fail())))
        }
        Job::Lease { reply, .. } => drop(reply.send(Err(fail()))),
        Job::Stop => {}
    }
}

/// The tenants and sites, and the visibility directory built from them and the stored focus
/// team policies.
pub fn load_registry_and_directory(
    store: &dyn Store,
) -> Result<(crate::registry::Registry, Directory)> {
    let registry = crate::registry::Registry::load(store)?;
    let mut directory = Directory {
        teams_complete: true,
        sites_complete: true,
        ..Directory::default()
    };
    for site in registry.sites.values() {
        directory
            .site_tenants
            .insert(site.id.clone(), site.tenant.clone());
    }
    let policies_start = keys::entity(&EntityKey::new(
        hotline_federation::model::EntityKind::Policy,
        "",
    ));
    let policies_end = keys::prefix_end(&policies_start);
    for (_, raw) in store.range(&policies_start, &policies_end, usize::MAX)? {
        directory.learn_policy(&decode_state(&raw)?);
    }
    Ok((registry, directory))
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
    /// Leased but unused numbers per (site, year), as committed.
    unused: numbers::Unused,
    cache: StateCache,
    /// Keys of the refused changes on record, so an accepted change clears its dead letter
    /// without a store read.
    parked: HashSet<Vec<u8>>,
    /// Dead letters on record per site (the keys in `parked`, counted).
    letters: HashMap<String, usize>,
    /// A group failed to commit: the store must be reopened and everything the writer keeps
    /// in memory read back before the next group.
    needs_recovery: bool,
}

enum Reply {
    Push(oneshot::Sender<Result<Vec<Outcome>>>, Vec<Outcome>),
    Lease(oneshot::Sender<Result<LeaseGrant>>, Result<LeaseGrant>),
}

/// The work of one group, before it is committed.
struct Group {
    batch: Batch,
    entities: HashMap<EntityKey, Arc<EntityState>>,
    dedupe: HashMap<(String, u64), (u64, [u8; 32])>,
    directory: Directory,
    registry: crate::registry::Registry,
    committed: Vec<Committed>,
    head: u64,
    /// The log floor after this group's pruning.
    floor: u64,
    /// Dead letters this group records (`true`) or clears (`false`), applied on commit.
    parked: Vec<(Vec<u8>, bool)>,
    /// Dead letters per site after this group, for the sites it touched.
    letters: HashMap<String, usize>,
    /// Refused changes of this group not kept as dead letters.
    letters_not_kept: u64,
    seed_seq: u64,
    lease_next: BTreeMap<u32, u64>,
    unused: numbers::Unused,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            if !self.commit_waiting(first, &mut rx) {
                break;
            }
        }
        tracing::debug!(head = self.head, "writer stopped");
    }

    /// Commits `first` with whatever else is waiting, up to [`MAX_GROUP_JOBS`], as one group;
    /// false once a stop was among them.
    fn commit_waiting(&mut self, first: Job, rx: &mut mpsc::Receiver<Job>) -> bool {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP_JOBS {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let stop = jobs.iter().any(|job| matches!(job, Job::Stop));
        self.commit_group(jobs);
        !stop
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        if self.needs_recovery {
            if let Err(error) = self.recover() {
                tracing::error!(%error, "the store is still failing; refusing this group");
                let message = refusal_message(&error);
                for job in jobs {
                    fail_job(job, &|| Error::Storage(message.clone()));
                }
                return;
            }
        }
        let mut group = Group {
            batch: Batch::default(),
            entities: HashMap::new(),
            dedupe: HashMap::new(),
            directory: Directory::clone(&self.shared.directory()),
            registry: self.shared.registry(),
            committed: Vec::new(),
            head: self.head,
            floor: self.floor,
            parked: Vec::new(),
            letters: HashMap::new(),
            letters_not_kept: 0,
            seed_seq: self.seed_seq,
            lease_next: self.lease_next.clone(),
            unused: self.unused.clone(),
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
            let message = refusal_message(&error);
            let fail = || Error::Storage(message.clone());
            for reply in replies {
                match reply {
                    Reply::Push(tx, _) => drop(tx.send(Err(fail()))),
                    Reply::Lease(tx, _) => drop(tx.send(Err(fail()))),
                }
            }
            for job in failed_senders {
                fail_job(job, &fail);
            }
            // The store may hold the failed batch in memory: read back what is durable first.
            self.needs_recovery = true;
            return;
        }
        self.head = group.head;
        self.seed_seq = group.seed_seq;
        self.lease_next = group.lease_next;
        self.unused = group.unused;
        for (key, parked) in group.parked {
            if parked {
                self.parked.insert(key);
            } else {
                self.parked.remove(&key);
            }
        }
        self.letters.extend(group.letters);
        self.shared
            .dead_letters_not_kept
            .fetch_add(group.letters_not_kept, Ordering::SeqCst);
        for (key, state) in group.entities {
            self.cache.put(key, state);
        }
        self.floor = group.floor;
        // Directory and registry first: a subscriber that reads the new head must also see
        // the visibility rules as of that head.
        *self
            .shared
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(group.directory);
        *self
            .shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner()) = group.registry;
        self.shared.head.store(self.head, Ordering::SeqCst);
        self.shared.floor.store(self.floor, Ordering::SeqCst);
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

    /// Reopens the store after a failed group and reloads what the writer and its readers keep
    /// in memory from what is durable. The failed group may or may not have reached the disk;
    /// either way the counters, the dead letters and the visibility rules match the store
    /// again, and subscribers fill any gap in the log from the store.
    fn recover(&mut self) -> Result<()> {
        self.store.recover()?;
        let head = read_counter(self.store.as_ref(), "head")?;
        let floor = read_counter(self.store.as_ref(), "floor")?;
        let seed_seq = read_counter(self.store.as_ref(), "seed")?;
        let (start, end) = keys::prefix_range(keys::DEAD_LETTER);
        let parked = self
            .store
            .range(&start, &end, usize::MAX)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let (registry, directory) = load_registry_and_directory(self.store.as_ref())?;
        let unused = numbers::load_unused(self.store.as_ref())?;
        tracing::warn!(
            head,
            previous_head = self.head,
            "store reopened after a failure"
        );
        self.head = head;
        self.floor = floor;
        self.seed_seq = seed_seq;
        self.letters = letters::count_by_site(&parked);
        self.parked = parked;
        self.lease_next.clear();
        self.unused = unused;
        self.cache = StateCache::default();
        *self
            .shared
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(directory);
        *self
            .shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner()) = registry;
        self.shared.head.store(head, Ordering::SeqCst);
        self.shared.floor.store(floor, Ordering::SeqCst);
        self.needs_recovery = false;
        Ok(())
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

    /// Drops log entries beyond the retention, a step per group.
    /// The new floor takes effect only when the group commits.
    fn prune(&self, group: &mut Group) {
        let keep_from = group.head.saturating_sub(self.settings.log_retention);
        if keep_from <= group.floor {
            return;
        }
        let new_floor = keep_from.min(group.floor + PRUNE_STEP);
        for seq in group.floor + 1..=new_floor {
            group.batch.delete(keys::log(seq));
        }
        group
            .batch
            .put(keys::meta("floor"), keys::encode_u64(new_floor));
        group.floor = new_floor;
    }
}
