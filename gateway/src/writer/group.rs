//! One group commit: the jobs waiting are done against one [`Group`] (the batch and what the
//! writer will know once it is durable), the batch is applied and flushed once, and only then
//! is anything answered or published. A group commits whole or not at all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hotline_federation::EntityState;
use hotline_federation::audit::{Head, SignedCheckpoint};
use hotline_federation::model::EntityKey;
use hotline_federation::visibility::Directory;

use super::work::Done;
use super::{Job, Writer, letters, numbers, read_counter, refusal_message};
use crate::error::{Error, Result};
use crate::guard::CustomerFace;
use crate::log::Committed;
use crate::registry::Registry;
use crate::store::{Batch, Store, keys};

/// The work of one group, before it is committed.
pub(super) struct Group {
    pub(super) batch: Batch,
    pub(super) entities: HashMap<EntityKey, Arc<EntityState>>,
    /// Dedupe entries this group wrote: global sequence, content digest, audit receipt.
    #[allow(clippy::type_complexity)]
    pub(super) dedupe: HashMap<(String, u64), (u64, [u8; 32], Option<(u64, [u8; 32])>)>,
    /// The stored dedupe entries (raw, `None`: none) of the changes the group's pushes carry,
    /// read in one call before the group starts ([`Writer::prefetch_dedupe`]); a lookup not
    /// found here reads the store itself.
    pub(super) stored_dedupe: HashMap<(String, u64), Option<Vec<u8>>>,
    /// The stored states (`None`: none stored) of the entities the group's pushes change that
    /// the writer's cache did not hold, read at once before the group starts
    /// ([`Writer::prefetch_entities`]); a load not found here reads the store itself.
    pub(super) stored_entities: HashMap<EntityKey, Option<Arc<EntityState>>>,
    pub(super) directory: Arc<Directory>,
    pub(super) registry: Arc<Registry>,
    pub(super) committed: Vec<Committed>,
    pub(super) head: u64,
    /// The audit trail's head after this group's entries so far.
    pub(super) audit: Head,
    /// The latest signed checkpoint after this group.
    pub(super) checkpoint: Option<SignedCheckpoint>,
    /// The log floor after this group's pruning.
    pub(super) floor: u64,
    /// Dead letters this group records (`true`) or clears (`false`), applied on commit.
    pub(super) parked: Vec<(Vec<u8>, bool)>,
    /// Dead letters per site after this group, for the sites it touched.
    pub(super) letters: HashMap<String, usize>,
    /// Refused changes of this group not kept as dead letters.
    pub(super) letters_not_kept: u64,
    pub(super) seed_seq: u64,
    pub(super) lease_next: BTreeMap<u32, u64>,
    pub(super) unused: numbers::Unused,
    /// The brand and leak guard after this group (rebuilt when the brand or registry changes);
    /// read it through [`Group::face`].
    face: Arc<CustomerFace>,
    /// The registry changed since `face` was built: rebuild it before its next use, so a group
    /// of many registrations (a gateway started with a thousand sites) builds it once.
    pub(super) face_stale: bool,
    /// This group erased a ticket or recorded an erasure: live entries committed before it are
    /// checked again, and its writes are read for erasure records.
    pub(super) erased: bool,
    /// Records of comments carrying files that this group deleted (an erasure): the files no
    /// comment carries any more go with the group ([`crate::files::collect`]).
    pub(super) dropped_files: Vec<([u8; 32], Vec<u8>)>,
    /// Files named by changes of a site this group refused: released at the group's end
    /// ([`crate::files::release_refused`]), once every ref the group writes is known.
    pub(super) refused_files: Vec<(String, [u8; 32])>,
    /// The files this group deletes, held from before they are read until the group is
    /// durable or failed (it is dropped then), so no upload writes them meanwhile.
    pub(super) files: crate::files::Claim,
}

impl Group {
    /// The brand and leak guard as of this group's registry and brand.
    pub(super) fn face(&mut self) -> &Arc<CustomerFace> {
        if self.face_stale {
            let brand = hotline_federation::brand::Brand::clone(&self.face.brand);
            self.face = Arc::new(CustomerFace::build(&self.registry, brand));
            self.face_stale = false;
        }
        &self.face
    }

    /// Replaces the brand: the guard is rebuilt from it and the group's registry.
    pub(super) fn set_brand(&mut self, brand: hotline_federation::brand::Brand) {
        self.face = Arc::new(CustomerFace::build(&self.registry, brand));
        self.face_stale = false;
    }
}

/// What the writer keeps in memory of the store, read at start and again after a failed group.
pub(super) struct Durable {
    pub(super) head: u64,
    pub(super) audit: Head,
    pub(super) checkpoint: Option<SignedCheckpoint>,
    pub(super) floor: u64,
    pub(super) seed_seq: u64,
    pub(super) parked: HashSet<Vec<u8>>,
    pub(super) unused: numbers::Unused,
}

impl Durable {
    /// Reads it from the store.
    pub(super) fn load(store: &dyn Store) -> Result<Durable> {
        let (start, end) = keys::prefix_range(keys::DEAD_LETTER);
        let parked = store
            .range(&start, &end, usize::MAX)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        Ok(Durable {
            head: read_counter(store, "head")?,
            audit: super::audit::load_head(store)?,
            checkpoint: super::audit::latest_checkpoint(store)?,
            floor: read_counter(store, "floor")?,
            seed_seq: read_counter(store, "seed")?,
            parked,
            unused: numbers::load_unused(store)?,
        })
    }
}

/// Entities a group reads at once at most ([`Writer::prefetch_entities`]); a group touching
/// more reads them one by one, so the prefetched states are never more than this many.
const PREFETCH_ENTITIES: usize = 1024;

/// The changes `jobs` push that their callers may push: a site's change naming another
/// origin is refused before anything is read for it, so nothing is read for it in advance.
fn own_pushes(jobs: &[Job]) -> impl Iterator<Item = &super::pushed::Pushed> {
    jobs.iter()
        .filter_map(|job| match job {
            Job::Push {
                caller, changes, ..
            } => Some(changes.iter().filter(move |pushed| match caller {
                super::Caller::Site { site, .. } => &pushed.change.origin_site == site,
                _ => true,
            })),
            _ => None,
        })
        .flatten()
}

/// The writer's turn on a store several gateways share ([`Store::begin_group`]), ended when
/// dropped, on every path out of a group.
struct Turn(Arc<dyn crate::store::Store>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.end_group();
    }
}

impl Writer {
    pub(super) fn commit_group(&mut self, jobs: Vec<Job>) {
        // Where several gateways share the store, wait for this one's turn; what another one
        // wrote since this one's last group is read again before anything is decided.
        let others_wrote = self.store.begin_group();
        let turn = Turn(Arc::clone(&self.store));
        let reload = match others_wrote {
            Ok(others) => (self.needs_recovery || others).then_some(others),
            Err(error) => {
                tracing::error!(%error, "no turn to write; refusing this group");
                return self.refuse_group(jobs, error);
            }
        };
        if let Some(others) = reload {
            if let Err(error) = self.recover(others) {
                // Read again at the next group, whatever `begin_group` answers then: what
                // another gateway wrote is not in memory yet.
                self.needs_recovery = true;
                tracing::error!(%error, "the store is still failing; refusing this group");
                return self.refuse_group(jobs, error);
            }
        }
        let mut group = self.new_group();
        if self.store.reads_are_round_trips() {
            group.stored_dedupe = self.prefetch_dedupe(&jobs);
            group.stored_entities = self.prefetch_entities(&jobs);
        }
        let mut group = Some(group);
        let mut failure = None;
        let done: Vec<Done> = jobs
            .into_iter()
            .filter_map(|job| self.work(&mut group, job, &mut failure))
            .collect();
        let Some(mut group) = group else { return };
        let started = std::time::Instant::now();
        // Its states are readable once applied, its rules published only after the flush:
        // readers wait meanwhile (`rules`). Unchanged rules are the very same `Arc`.
        let changes_rules =
            group.erased || !Arc::ptr_eq(&group.directory, &self.shared.directory());
        if changes_rules && failure.is_none() {
            self.shared.rules.begin_change();
        }
        let failure = failure.or_else(|| self.write(&mut group).err());
        drop(turn);
        if let Some(error) = failure {
            self.shared.metrics.group_failures.inc();
            tracing::error!(%error, "group commit failed; nothing of the group was acknowledged");
            let message = refusal_message(&error);
            // Its claims on files end before anyone hears of the failure.
            drop(group);
            for done in done {
                done.fail(Error::Storage(message.clone()));
            }
            // The store may hold the failed batch in memory: read back what is durable first.
            // Until then readers wait if the batch changed the rules (`recover` ends it).
            self.needs_recovery = true;
            return;
        }
        self.shared
            .metrics
            .observe_group(done.len(), started.elapsed());
        let committed = std::mem::take(&mut group.committed);
        if group.erased {
            // Before this group's entries reach subscribers: they and every older entry still
            // in the live tail are checked against the tickets' current state.
            self.shared.erasures.fetch_add(1, Ordering::SeqCst);
        }
        self.adopt(group);
        if changes_rules {
            self.shared.rules.end_change();
        }
        self.shared.metrics.set_dead_letters(&self.letters);
        for done in done {
            done.answer();
        }
        // No live subscriber is fine: they catch up from the store. One that subscribes after
        // this count reads the head adopted above and catches up to it from the store.
        if self.shared.committed.receiver_count() == 0 {
            self.dropper.free(committed);
        } else {
            for committed in committed {
                let _ = self.shared.committed.send(Arc::new(committed));
            }
        }
    }

    /// The stored states of the entities the changes `jobs` push name and the cache does not
    /// hold, in two reads of the store (on PostgreSQL, instead of one to three round trips per
    /// entity; after another replica wrote, the cache is empty). At most
    /// [`PREFETCH_ENTITIES`]; a failed read leaves the loads to read one by one.
    fn prefetch_entities(&self, jobs: &[Job]) -> HashMap<EntityKey, Option<Arc<EntityState>>> {
        let mut wanted: Vec<EntityKey> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pushed in own_pushes(jobs) {
            let key = &pushed.change.key;
            if self.cache.get(key).is_none() && seen.insert(key.clone()) {
                wanted.push(key.clone());
            }
        }
        if wanted.len() < 2 || wanted.len() > PREFETCH_ENTITIES {
            return HashMap::new();
        }
        match crate::store::entities::read_many(self.store.as_ref(), &wanted) {
            Ok(states) => wanted
                .into_iter()
                .zip(states.into_iter().map(|state| state.map(Arc::new)))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "reading the group's entities at once failed; reading them one by one");
                HashMap::new()
            }
        }
    }

    /// The stored dedupe entries of the changes `jobs` push, in one read of the store (on
    /// PostgreSQL one round trip instead of one per change). Read within the turn, after any
    /// reload, so they are what the group's own lookups would find. A failed read leaves the
    /// lookups to read one by one, where the error is reported.
    fn prefetch_dedupe(&self, jobs: &[Job]) -> HashMap<(String, u64), Option<Vec<u8>>> {
        let wanted: Vec<(String, u64)> = own_pushes(jobs)
            .map(|pushed| (pushed.change.origin_site.clone(), pushed.change.origin_seq))
            .collect();
        if wanted.len() < 2 {
            return HashMap::new();
        }
        let keys: Vec<Vec<u8>> = wanted
            .iter()
            .map(|(site, seq)| keys::dedupe(site, *seq))
            .collect();
        match self.store.get_many(&keys) {
            Ok(values) => wanted.into_iter().zip(values).collect(),
            Err(error) => {
                tracing::warn!(%error, "reading the group's dedupe entries at once failed; reading them one by one");
                HashMap::new()
            }
        }
    }

    /// Answers every job of a group that could not start with `error`.
    fn refuse_group(&mut self, jobs: Vec<Job>, error: Error) {
        let message = refusal_message(&error);
        let mut skip = Some(error);
        for done in jobs
            .into_iter()
            .filter_map(|job| self.work(&mut None, job, &mut skip))
        {
            done.fail(Error::Storage(message.clone()));
        }
    }

    fn new_group(&self) -> Group {
        Group {
            batch: Batch::default(),
            entities: HashMap::new(),
            dedupe: HashMap::new(),
            stored_dedupe: HashMap::new(),
            stored_entities: HashMap::new(),
            directory: self.shared.directory(),
            registry: self.shared.registry(),
            committed: Vec::new(),
            head: self.head,
            audit: self.audit,
            checkpoint: self.checkpoint,
            floor: self.floor,
            parked: Vec::new(),
            letters: HashMap::new(),
            letters_not_kept: 0,
            seed_seq: self.seed_seq,
            lease_next: self.lease_next.clone(),
            unused: self.unused.clone(),
            face: self.shared.face(),
            face_stale: false,
            erased: false,
            dropped_files: Vec::new(),
            refused_files: Vec::new(),
            files: crate::files::Claim::none(&self.shared.files),
        }
    }

    /// Prunes, adds the counters and applies and flushes the group's batch.
    fn write(&self, group: &mut Group) -> Result<()> {
        self.prune(group);
        if !group.dropped_files.is_empty() {
            let sites: Vec<String> = group.registry.sites.keys().cloned().collect();
            crate::files::collect(
                self.store.as_ref(),
                &mut group.batch,
                &group.dropped_files,
                &sites,
                &mut group.files,
            )?;
        }
        if !group.refused_files.is_empty() {
            let sites: Vec<String> = group.registry.sites.keys().cloned().collect();
            crate::files::release_refused(
                self.store.as_ref(),
                &mut group.batch,
                &group.refused_files,
                &sites,
                &mut group.files,
            )?;
        }
        if group.head != self.head {
            group
                .batch
                .put(keys::meta("head"), keys::encode_u64(group.head));
        }
        if group.audit != self.audit {
            group.batch.put(
                keys::meta("audit"),
                keys::encode_audit_head(group.audit.seq, &group.audit.hash),
            );
        }
        if group.seed_seq != self.seed_seq {
            group
                .batch
                .put(keys::meta("seed"), keys::encode_u64(group.seed_seq));
        }
        if group.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut group.batch);
        self.store
            .apply_group(batch)
            .and_then(|()| self.store.flush())
    }

    /// Takes over what a durable group changed, and publishes it to readers.
    fn adopt(&mut self, mut group: Group) {
        let face = Arc::clone(group.face());
        self.head = group.head;
        self.audit = group.audit;
        self.checkpoint = group.checkpoint;
        *self.shared.checkpoint.write() = group.checkpoint;
        self.floor = group.floor;
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
        *self.shared.face.write() = face;
        self.publish(group.directory, group.registry);
    }

    /// Hands readers the visibility rules, the registry, the head and the floor. Directory and
    /// registry first: a subscriber that reads the new head must also see the rules as of it.
    fn publish(&self, directory: Arc<Directory>, registry: Arc<Registry>) {
        // A group copies the rules only when it changes them (`Arc::make_mut`), so unchanged
        // rules are handed back as the same `Arc`: subscribers share what they decided under
        // it (`crate::subscribe`), and only a change of the rules makes them decide again.
        *self.shared.directory.write() = directory;
        *self.shared.registry.write() = registry;
        self.shared.head.store(self.head, Ordering::SeqCst);
        self.shared.floor.store(self.floor, Ordering::SeqCst);
    }

    /// Reopens the store after a failed group, or when another gateway sharing it wrote
    /// (`others`), and reloads what the writer and its readers keep in memory from what is
    /// durable. A failed group may or may not have reached the disk; either way the counters,
    /// the dead letters and the visibility rules match the store again, and subscribers are
    /// woken to fill any gap in the log from the store.
    pub(super) fn recover(&mut self, others: bool) -> Result<()> {
        // What is read now may hold rules or erasures newer than those published (another
        // gateway's groups, a failed one): readers' decisions made before must not hold after
        // it (`rules`; ended once the rules read here are published).
        self.shared.rules.begin_change();
        self.store.recover()?;
        let durable = Durable::load(self.store.as_ref())?;
        let (registry, directory) = super::load_registry_and_directory(self.store.as_ref())?;
        // What was read may hold erasures nobody counted (another gateway's groups, or a
        // failed group whose batch reached the store): live entries committed before are
        // checked again against their tickets.
        self.shared.erasures.fetch_add(1, Ordering::SeqCst);
        if others && !self.needs_recovery {
            tracing::debug!(
                head = durable.head,
                previous_head = self.head,
                "another gateway wrote to the store; read again"
            );
        } else {
            tracing::warn!(
                head = durable.head,
                previous_head = self.head,
                audit = durable.audit.seq,
                previous_audit = self.audit.seq,
                "store reopened after a failure"
            );
        }
        self.head = durable.head;
        self.audit = durable.audit;
        // Read again from what is durable (a failed group may have held an erasure).
        self.erased_customers = None;
        self.checkpoint = durable.checkpoint;
        *self.shared.checkpoint.write() = durable.checkpoint;
        self.floor = durable.floor;
        self.seed_seq = durable.seed_seq;
        self.letters = letters::count_by_site(&durable.parked);
        self.parked = durable.parked;
        self.lease_next.clear();
        self.unused = durable.unused;
        self.cache = super::StateCache::default();
        *self.shared.face.write() = Arc::new(CustomerFace::load(self.store.as_ref(), &registry)?);
        self.publish(Arc::new(directory), Arc::new(registry));
        // What the store holds and the rules published agree again (a failed group that
        // changed the rules kept readers waiting until here).
        self.shared.rules.end_change();
        self.needs_recovery = false;
        self.shared.reloaded.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }
}
