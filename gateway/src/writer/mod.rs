//! The one writer: every mutation of the store goes through this thread, which groups whatever
//! jobs are waiting into one atomic batch and one flush (group commit), then answers each
//! caller on its oneshot and hands the committed entries to live subscribers.
//!
//! A group either commits whole or not at all: on a storage error every caller in the group is
//! told `UNAVAILABLE` and nothing of the group is acknowledged or published.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hotline_federation::model::EntityKey;
use hotline_federation::visibility::Directory;
use hotline_federation::{Change, EntityState, FieldOp, HybridClock};
use hotline_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::store::{Store, entities, keys};
use hotline_federation::audit::{Head, Receipt, Record, SignedCheckpoint};
use hotline_federation::authority::{Caller, Refusal};

pub mod audit;
mod bounds;
mod cache;
mod dropper;
mod erasure;
mod group;
mod handle;
mod lease;
mod letters;
mod merge;
mod numbers;
mod pushed;
mod rating;
mod register;
mod reply;
mod retention;
mod review;
pub mod rules;
mod shared;
mod work;

use cache::StateCache;
use group::Group;

/// The site name the gateway uses for changes it makes itself (policies seeded from config).
pub const GATEWAY_SITE: &str = "gateway";

/// The prefix of the ids of customers' replies (`customer-<n>`), which no site may take as its
/// name, so a reply's comment id can never clash with a site's `<site>-<n>`.
pub const CUSTOMER_SITE: &str = "customer";

pub use erasure::ErasureJob;
pub use register::moves_a_site;
pub use retention::RETENTION_ACTOR;
pub use shared::Shared;

/// Most jobs committed in one group.
const MAX_GROUP_JOBS: usize = 256;

/// How long the idle writer waits before it reads a failing store again, at first and at most
/// (doubling in between). A job arriving meanwhile waits for the pause, and for an attempt
/// under way (on PostgreSQL up to its connect or call timeout).
const RECOVERY_PAUSE_MIN: std::time::Duration = std::time::Duration::from_millis(20);
const RECOVERY_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(500);
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

/// An outcome with the receipt of its audit entry (none for a retried push whose first
/// acceptance predates the audit trail).
pub type Receipted = (Outcome, Option<Receipt>);

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
        /// Each change, prepared on the caller's thread.
        changes: Vec<pushed::Pushed>,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Register {
        actor: String,
        registration: Registration,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Seed {
        actor: String,
        key: EntityKey,
        ops: Vec<FieldOp>,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Audit {
        records: Vec<Record>,
        reply: oneshot::Sender<Result<Vec<Receipt>>>,
    },
    Checkpoint {
        secret: [u8; 32],
        reply: oneshot::Sender<Result<Option<SignedCheckpoint>>>,
    },
    Lease {
        site: String,
        count: u32,
        reply: oneshot::Sender<Result<LeaseGrant>>,
    },
    Reply {
        reply_to: CustomerReply,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Review {
        write: ReviewWrite,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// The file sweep's check of what its pass found ([`crate::files::sweep_these`]), in the
    /// writer so no accepted comment's file can go between its check and its commit.
    SweepFiles {
        found: crate::files::Candidates,
        reply: oneshot::Sender<Result<bool>>,
    },
    Rate {
        rating: CustomerRatingRequest,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Archive {
        tickets: Vec<EntityKey>,
        reply: oneshot::Sender<Result<Vec<Receipted>>>,
    },
    Erase {
        job: Box<ErasureJob>,
        reply: oneshot::Sender<Result<pb::Erasure>>,
    },
    /// A group with nothing to do: it takes the turn, and so reads again what another gateway
    /// sharing the store wrote (see [`crate::store::Store::others_wrote`]).
    Refresh,
    Stop,
}

/// A customer's rating from the status page, to store in the ticket's `rating` register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRatingRequest {
    /// The ticket.
    pub ticket: EntityKey,
    /// 1 to 5.
    pub score: u8,
    /// The customer's remark; may be empty.
    pub remark: String,
    /// When (ms since the epoch).
    pub at_ms: u64,
}

/// A customer's reply from the status page, to add as a public comment of its ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerReply {
    /// The ticket.
    pub ticket: EntityKey,
    /// What the customer wrote.
    pub body: String,
    /// When (ms since the epoch).
    pub at_ms: u64,
}

/// A review record to store (see `crate::review` and the `v` and `q` prefixes of
/// [`keys`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewWrite {
    /// A new report under `key`: stored only when no report is stored there yet, so a
    /// report is never produced twice and never replaced.
    Report {
        /// Its key.
        key: Vec<u8>,
        /// The encoded report.
        value: Vec<u8>,
    },
    /// A score under `key`, replacing an earlier score of the same ticket.
    Score {
        /// Its key.
        key: Vec<u8>,
        /// The encoded score.
        value: Vec<u8>,
    },
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

fn strip(receipted: Vec<Receipted>) -> Vec<Outcome> {
    receipted.into_iter().map(|(outcome, _)| outcome).collect()
}

fn gone() -> Error {
    Error::Unavailable("the gateway is shutting down; retry against the restarted gateway".into())
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
    let durable = group::Durable::load(store.as_ref())?;
    *shared.checkpoint.write() = durable.checkpoint;
    let clock = HybridClock::new(settings.max_skew_ms);
    let writer = Writer {
        store,
        shared,
        settings,
        head: durable.head,
        audit: durable.audit,
        checkpoint: durable.checkpoint,
        floor: durable.floor,
        seed_seq: durable.seed_seq,
        clock,
        lease_next: BTreeMap::new(),
        unused: durable.unused,
        cache: StateCache::default(),
        letters: letters::count_by_site(&durable.parked),
        parked: durable.parked,
        needs_recovery: false,
        salt_key: audit::salt_key()?,
        erased_customers: None,
        dropper: match mode {
            WriterMode::Thread => dropper::Dropper::spawn(),
            WriterMode::Task => dropper::Dropper::inline(),
        },
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
    for policy in entities::scan(store, hotline_federation::model::EntityKind::Policy)? {
        directory.learn_policy(&policy);
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
    /// The audit trail's head, as committed.
    audit: Head,
    /// The latest signed checkpoint, as committed.
    checkpoint: Option<SignedCheckpoint>,
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
    /// The key the audit entries' salts are derived from (see [`audit::entry_salt`]).
    salt_key: [u8; 32],
    /// Erased customers (digest of the reference, erasure time), read from the store at the
    /// first ticket change that needs them; see `erasure::Writer::erase_if_customer_erased`.
    erased_customers: Option<BTreeMap<String, u64>>,
    /// Frees what the writer is done with off its thread.
    dropper: dropper::Dropper,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut pause = RECOVERY_PAUSE_MIN;
        loop {
            let first = if self.needs_recovery {
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // After a failed group, the store is read again at once rather than at
                        // the next job: readers wait for a failed group's rules (`rules`).
                        match self.recover(false) {
                            Ok(()) => pause = RECOVERY_PAUSE_MIN,
                            Err(error) => {
                                tracing::debug!(%error, "the store still fails; trying again");
                                std::thread::sleep(pause);
                                pause = (pause * 2).min(RECOVERY_PAUSE_MAX);
                            }
                        }
                        continue;
                    }
                }
            } else {
                match rx.blocking_recv() {
                    Some(job) => job,
                    None => break,
                }
            };
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

    /// The entity's state as of this point of the group: shared, not copied (a change takes
    /// it over in [`Writer::append`] and copies it only when somebody else still holds it).
    fn load(&self, group: &Group, key: &EntityKey) -> Result<Arc<EntityState>> {
        if let Some(state) = group.entities.get(key).or_else(|| self.cache.get(key)) {
            return Ok(Arc::clone(state));
        }
        match group.stored_entities.get(key) {
            Some(Some(state)) => Ok(Arc::clone(state)),
            Some(None) => Ok(Arc::new(EntityState::new(key.clone()))),
            None => Ok(Arc::new(entities::read_or_new(self.store.as_ref(), key)?)),
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

#[cfg(test)]
mod tests;
