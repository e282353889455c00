//! The site's local sled store: the replica of what the site may see, the outbox of local
//! changes, the subscribe cursor, leased ticket numbers, parked (dead-letter) changes and the
//! webhook queue, all in one key space ([`keys`]) so each logical step is one atomic batch
//! ([`Step`]):
//!
//! - a local change = its merged entity + its outbox entry + counters (+ a used ticket number)
//!   + webhook events, flushed before the API answers (concurrent local changes share one
//!     flush: `group`, the group commit, says what readers may see before it; the local
//!     writer's group of them is one batch: `stage`);
//! - a remote entry = the merged entities + the cursor + webhook events.
//!
//! Layout, one concern a file, each an `impl Replica` block or the values it stores:
//! - this file: the [`Replica`] type, opening, reads and the commit of a step;
//! - [`keys`]: the one key table; `entities`: how an entity is stored (a head, one record per
//!   comment and call event) and read back, the only module that knows; [`migrate`]: rewriting
//!   a store of an older layout at open; `records`: stored values ([`Parked`], [`NumberBlock`],
//!   counters); `step`: [`Step`];
//! - `local`: local writes and replays; `writer`: [`LocalWriter`], the thread the API's local
//!   writes go through (a group of them under one hold of the local lock); `stage`: that
//!   group's steps collected and applied as one batch, each step reading through what the
//!   steps before it staged; `numbers`: leased
//!   ticket numbers; `outbox`: the outbox, dead letters and refresh markers; `settle`: push results (with the clock-rewind policy of
//!   `hotline_federation::rewind`);
//! - `remote`: entries and fetch answers from the gateway; `touched`: which entities recent log
//!   entries touched;
//! - `webhook_queue`: [`WebhookQueue`], the narrow view of the store the webhook deliverer gets;
//! - [`integrity`]: the check at every open; `restore`: filling a store rebuilt by
//!   [`crate::recover`]; `rewrite`: the fresh copy of the store an erasure asks for, made at
//!   the next open.
//!
//! Every record is checked when the store is opened ([`integrity`]); a damaged store is
//! refused with `Error::CorruptStore` and rebuilt by [`crate::recover`]. A new store starts
//! its origin sequence and webhook event ids at [`integrity::time_floor`], never at 1, so a store
//! that replaces a lost one cannot reuse a number the old one sent.
//!
//! Every method blocks on sled (reads, and a flush per step): async callers run them on the
//! blocking pool.

#[cfg(test)]
#[path = "api_acknowledgement_tests.rs"]
mod api_acknowledgement_tests;
mod entities;
mod files;
mod group;
mod high_water;
pub mod integrity;
pub(crate) mod keys;
mod local;
pub mod migrate;
mod numbers;
mod outbox;
pub mod receipts;
mod records;
mod remote;
mod restore;
mod rewrite;
mod settle;
mod stage;
mod step;
mod touched;
mod webhook_queue;
mod writer;

use parking_lot::{Mutex, MutexGuard};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::visibility::{Directory, pii_granted, strip};
use hotline_federation::{EntityState, Hlc, HybridClock};

use group::{GroupFlush, Pending};
pub use local::{NO_NUMBERS, OPENING_TEMPLATE, OpeningFace};
pub(crate) use records::decode_counter;
pub use records::{NumberBlock, Parked};
pub use remote::{Fetched, RemoteEntry};
pub use step::Step;
pub use webhook_queue::WebhookQueue;
pub(crate) use webhook_queue::{check_webhook_record, webhook_event_id};
pub use writer::{LocalWriter, NewTicket};

use self::integrity::HighWater;
use self::keys::{customer_key, customer_prefix, meta};
use self::numbers::UseRate;
use self::records::{customer_of, encode_hlc, read_counter, read_hlc};
use self::stage::{Overlay, Source};
use self::touched::Touched;
use crate::error::{Error, Result};
use crate::webhooks::WebhookTarget;
use hotline_runtime::sled_files::LogSync;

/// The local store.
pub struct Replica {
    db: sled::Db,
    /// sled's log file, synced after every flush ([`Replica::flush_durably`]).
    log: Arc<LogSync>,
    dir: PathBuf,
    tenant: String,
    site: String,
    /// Serialises local writes (sequence numbers, clock, numbers).
    local: Mutex<HybridClock>,
    /// The writes of the local writer's group while it is staged ([`stage`]); `Some` only while
    /// the writer holds `local`, and locked only by holders of `local`.
    stage: Mutex<Option<step::Writes>>,
    /// Recent touches by log entries; locked only while `local` is held.
    touched: Mutex<Touched>,
    /// The last leak guard built, with the names and patterns it was built from
    /// ([`Replica::leak_guard`]): built again only when they change.
    guard: Mutex<Option<local::BuiltGuard>>,
    /// The webhook queue, as the deliverer sees it.
    webhooks: WebhookQueue,
    /// The group commit of local steps ([`group`]).
    group: Arc<GroupFlush>,
    /// Ticket numbers taken recently (the lease follows this rate); locked only while `local`
    /// is held, or alone.
    uses: Mutex<UseRate>,
    /// Set when file references may have changed ([`Replica::take_files_changed`]).
    files_changed: std::sync::atomic::AtomicBool,
    /// Wakes the keeper when `files_changed` is set ([`Replica::files_changed`]).
    files_wake: tokio::sync::Notify,
    /// Tests: every flush fails while set.
    #[cfg(test)]
    failing_flushes: std::sync::atomic::AtomicBool,
    /// Tests: the batch of every staged group is refused while set.
    #[cfg(test)]
    failing_applies: std::sync::atomic::AtomicBool,
}

/// A failed sync of sled's log file: the flush before it may not survive a power loss.
fn log_sync_failed(e: std::io::Error) -> Error {
    Error::Storage(format!("cannot sync the local store's log file: {e}"))
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").finish_non_exhaustive()
    }
}

impl Replica {
    /// Opens the store in `dir` for `site` after checking every record
    /// ([`integrity::verify`]): a damaged store is refused with `Error::CorruptStore`, a store
    /// of another site with `Error::Config`, and so is a store whose rebuild by `recover` was
    /// interrupted. A new store is created with its markers and counter floors.
    pub fn open(dir: &Path, site: &str, tenant: &str, max_skew_ms: u64) -> Result<Self> {
        integrity::check_not_recovering(dir)?;
        rewrite::rewrite_if_asked(dir)?;
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
        let log = Arc::new(LogSync::open(dir).map_err(|e| Error::File {
            path: dir.join("db"),
            problem: format!("cannot open sled's log file to sync it: {e}"),
        })?);
        if health.fresh {
            let floor = integrity::time_floor(SystemTime::now());
            let mut batch = sled::Batch::default();
            batch.insert(meta("site"), site.as_bytes());
            batch.insert(meta("format"), integrity::FORMAT);
            batch.insert(meta("seq"), floor.to_be_bytes().to_vec());
            batch.insert(meta("webhook"), floor.to_be_bytes().to_vec());
            batch.insert(meta("confirmed"), encode_hlc(Hlc::default()));
            db.apply_batch(batch)?;
            db.flush()?;
            log.sync().map_err(log_sync_failed)?;
        } else if health.migrate {
            // Not synced chunk by chunk: sled recovers a prefix of its log, the migration
            // resumes from its cursor, and the high-water record below syncs the result.
            migrate::run(&db)?;
        }
        let last = read_hlc(&db, "hlc")?.unwrap_or_default();
        let group = Arc::new(GroupFlush::default());
        let replica = Replica {
            webhooks: WebhookQueue::new(db.clone(), log.clone(), group.clone()),
            log,
            group,
            uses: Mutex::new(UseRate::default()),
            // A store just opened may hold files nothing names any more (a kill between an
            // erasure and the keeper's pass): look at once.
            files_changed: std::sync::atomic::AtomicBool::new(true),
            files_wake: tokio::sync::Notify::new(),
            db,
            dir: dir.to_path_buf(),
            tenant: tenant.to_owned(),
            site: site.to_owned(),
            local: Mutex::new(HybridClock::resume(last, max_skew_ms)),
            stage: Mutex::new(None),
            touched: Mutex::new(Touched::default()),
            guard: Mutex::new(None),
            #[cfg(test)]
            failing_flushes: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            failing_applies: std::sync::atomic::AtomicBool::new(false),
        };
        let cursor = replica.cursor()?;
        replica.touches().forget_up_to(cursor);
        replica.record_high_water()?;
        Ok(replica)
    }

    /// Flushes and writes the counters' high-water marks next to the store (at every start and
    /// every clean stop), so a later start notices when sled lost writes.
    pub fn record_high_water(&self) -> Result<()> {
        let _clock = self.clock();
        self.flush_durably()?;
        let marks = HighWater {
            seq: self.counter("seq")?,
            webhook: self.counter("webhook")?,
        };
        integrity::write_high_water(&self.dir, marks)
    }

    /// The webhook queue: all the webhook deliverer may reach of the store.
    pub fn webhook_queue(&self) -> WebhookQueue {
        self.webhooks.clone()
    }

    /// The local lock: serialises every step that reads and raises counters or the clock.
    fn clock(&self) -> MutexGuard<'_, HybridClock> {
        self.local.lock()
    }

    /// The recent touches (call with the local lock held).
    fn touches(&self) -> MutexGuard<'_, Touched> {
        self.touched.lock()
    }

    pub(crate) fn counter(&self, name: &str) -> Result<u64> {
        read_counter(&self.db, name)
    }

    /// The stored subscribe cursor.
    pub fn cursor(&self) -> Result<u64> {
        self.counter("cursor")
    }

    /// Reads an entity (empty when absent).
    pub fn entity(&self, key: &EntityKey) -> Result<EntityState> {
        entity_in(&self.db, key)
    }

    /// Every entity of a kind.
    pub fn entities(&self, kind: EntityKind) -> Result<Vec<EntityState>> {
        let mut out = Vec::new();
        entities::scan(&self.db, Some(kind), |state| {
            out.push(state);
            Ok(())
        })?;
        Ok(out)
    }

    /// Keys of every entity (for snapshot reconciliation).
    pub fn entity_keys(&self) -> Result<BTreeSet<EntityKey>> {
        entities::keys(&self.db)
    }

    /// The whole replica (for convergence checks).
    pub fn snapshot(&self) -> Result<hotline_federation::Replica> {
        let mut replica = hotline_federation::Replica::default();
        entities::scan(&self.db, None, |state| {
            replica.entities.insert(state.key.clone(), state);
            Ok(())
        })?;
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

    /// What the visibility rules know here: the policies this site holds (a partner holds those
    /// of the focus teams its tenant handles).
    pub fn directory(&self) -> Result<Directory> {
        directory_in(&self.db)
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

    /// Keeps the by-customer index in step with a ticket's customer reference.
    fn index(&self, step: &mut Step, before: &EntityState, after: &EntityState) {
        if after.key.kind != EntityKind::Ticket {
            return;
        }
        let (old, new) = (customer_of(before), customer_of(after));
        if old != new {
            if let Some(old) = old {
                step.remove(customer_key(old, &after.key.id));
            }
            if let Some(new) = new {
                step.put(customer_key(new, &after.key.id), Vec::new());
            }
        }
    }

    /// Applies and flushes a step (see [`Replica::apply`]); the flush may be shared with local
    /// steps applied before it. Its callers (remote entries, restores) hold the local lock, so
    /// they wait for the flush with it held: unlike [`Replica::durable`]'s other callers, no
    /// local write joins their group.
    fn commit(&self, step: Step, targets: &[WebhookTarget]) -> Result<()> {
        let files_changed = step.files_changed;
        let pending = self.apply(step, targets)?;
        self.durable(pending)?;
        if files_changed {
            self.note_files_changed();
        }
        Ok(())
    }

    /// Waits until an applied step is flushed ([`GroupFlush::wait`]): call without the local
    /// lock when others may be waiting to apply theirs, so they join the same flush.
    fn durable(&self, pending: Pending) -> Result<()> {
        self.group.wait(pending, || self.flush_durably())
    }

    /// sled's flush, then the sync of its log file that makes the flush survive a power loss
    /// ([`LogSync`]).
    fn flush_durably(&self) -> Result<()> {
        #[cfg(test)]
        if self
            .failing_flushes
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(Error::Storage(
                "injected: the disk refused the flush".into(),
            ));
        }
        self.db.flush()?;
        self.log.sync().map_err(log_sync_failed)
    }

    /// Flushes every step applied so far, when any is not yet durable: what leaves the site
    /// (outbox push, webhooks) is read after this, so nothing published can be lost.
    pub fn flush_applied(&self) -> Result<()> {
        self.group.flush_applied(|| self.flush_durably())
    }

    /// Flushes made through the group commit since open (a group of writes shares one).
    pub fn group_flushes(&self) -> u64 {
        self.group.flushes()
    }

    /// Applies a step without flushing: its writes and, for each webhook event it raised, the
    /// next event id and one queue entry per target. Call under the local lock, so ids never
    /// collide and places in the group commit follow the apply order; it is acknowledged only
    /// after [`Replica::durable`].
    ///
    /// While the local writer stages its group ([`stage`]), the step is added to the stage and
    /// its place reserved; it counts as applied once the group's batch is.
    fn apply(&self, mut step: Step, targets: &[WebhookTarget]) -> Result<Pending> {
        let mut stage = self.stage.lock();
        if !step.events.is_empty() {
            let mut id = read_counter(&Overlay::new(&self.db, stage.as_ref()), "webhook")?;
            for body in std::mem::take(&mut step.events) {
                id += 1;
                for (key, value) in webhook_queue::queue_writes(targets.len(), id, &body) {
                    step.put(key, value);
                }
            }
            step.put(meta("webhook"), id.to_be_bytes().to_vec());
        }
        if let Some(stage) = stage.as_mut() {
            // A later write of a key replaces an earlier one, as in sled.
            stage.extend(step.writes);
            return Ok(self.group.reserve());
        }
        self.db.apply_batch(step::batch_of(step.writes))?;
        Ok(self.group.applied())
    }
}

/// Reads an entity from `source` (empty when absent).
fn entity_in(source: &impl Source, key: &EntityKey) -> Result<EntityState> {
    Ok(entities::read(source, key)?.unwrap_or_else(|| EntityState::new(key.clone())))
}

/// The policies `source` holds, as the visibility rules know them ([`Replica::directory`]).
fn directory_in(source: &impl Source) -> Result<Directory> {
    let mut directory = Directory::default();
    for policy in entities::read_kind(source, EntityKind::Policy)? {
        directory.learn_policy(&policy);
    }
    Ok(directory)
}
