//! The gateway's shared state: config, store, the writer and what it shares with readers.
//! Opening it loads the counters, builds the visibility directory and seeds the focus team
//! policies from config.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::{Mutex, RwLock};

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, ReviewCadence};
use hotline_federation::{EntityState, FieldOp};
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use crate::config::{FocusTeamConfig, GatewayConfig};
use crate::error::{Error, Result};
use crate::guard::CustomerFace;
use crate::store::memory::MemoryStore;
use crate::store::postgres::PostgresStore;
use crate::store::{Store, engine, entities};
use crate::writer::{
    self, Outcome, Registration, RunningWriter, Shared, WriterHandle, WriterMode, WriterSettings,
    read_counter,
};
use hotline_proto::v1 as pb;

pub use hotline_runtime::clock::now_ms as system_now_ms;

/// Everything the services share.
pub struct GatewayState {
    /// The validated config.
    pub config: GatewayConfig,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Head, floor, directory and the live feed.
    pub shared: Arc<Shared>,
    /// The one writer.
    pub writer: WriterHandle,
    /// Subscription tasks, awaited on shutdown.
    pub tasks: TaskTracker,
    /// Per-tenant push quotas.
    pub quotas: crate::quota::Quotas,
    /// Per-tenant Fetch quotas (entities fetched).
    pub fetch_quotas: crate::quota::Quotas,
    /// Per-tenant open subscriptions.
    pub subscriptions: Arc<crate::quota::Slots>,
    /// Sync health per site: last seen and the sites' own reports (staff dashboard).
    pub sites: crate::health::SiteBoard,
    /// The staff dashboard's one-time sign-in links and sessions.
    pub staff_sessions: crate::web::staff::StaffSessions,
    /// The key that signs audit checkpoints.
    pub audit_key: crate::audit::AuditKey,
    running_writer: Mutex<Option<RunningWriter>>,
    /// The gateway's clock (ms since the Unix epoch).
    clock: fn() -> u64,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("federation", &self.config.federation)
            .finish()
    }
}

impl GatewayState {
    /// Opens the store named by the config and starts the writer.
    pub async fn open(config: GatewayConfig) -> Result<Arc<Self>> {
        Self::open_with_clock(config, system_now_ms).await
    }

    /// Like [`GatewayState::open`], with the gateway's clock read from `clock` (tests: a
    /// gateway whose clock differs from its sites').
    pub async fn open_with_clock(config: GatewayConfig, clock: fn() -> u64) -> Result<Arc<Self>> {
        let store: Arc<dyn Store> = match config.storage.as_str() {
            "memory" => Arc::new(MemoryStore::new()),
            "postgres" => {
                let pg = &config.postgres;
                let store = PostgresStore::connect(pg)?;
                tracing::info!(
                    engine = "postgres",
                    schema = pg.schema,
                    pool_size = pg.pool_size,
                    "store opened"
                );
                Arc::new(store)
            }
            storage => {
                let (engine, store) =
                    engine::open(storage, &config.data_dir, config.storage_cache_mib << 20)?;
                tracing::info!(engine, data_dir = %config.data_dir.display(), "store opened");
                store
            }
        };
        Self::start(config, store, WriterMode::Thread, clock).await
    }

    /// Starts the gateway on a given store (tests use [`MemoryStore`]).
    pub async fn open_with_store(
        config: GatewayConfig,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Self>> {
        Self::open_with_writer(config, store, WriterMode::Thread).await
    }

    /// Starts the gateway on a given store with the writer running as `mode` says. Only a
    /// deterministic simulation over a non-blocking store (the [`MemoryStore`]) wants
    /// [`WriterMode::Task`]; see there.
    pub async fn open_with_writer(
        config: GatewayConfig,
        store: Arc<dyn Store>,
        mode: WriterMode,
    ) -> Result<Arc<Self>> {
        Self::start(config, store, mode, system_now_ms).await
    }

    async fn start(
        config: GatewayConfig,
        store: Arc<dyn Store>,
        mode: WriterMode,
        clock: fn() -> u64,
    ) -> Result<Arc<Self>> {
        migrate_layout(&store, &mode).await?;
        let head = read_counter(store.as_ref(), "head")?;
        let floor = read_counter(store.as_ref(), "floor")?;
        let (registry, directory) = writer::load_registry_and_directory(store.as_ref())?;
        let face = CustomerFace::load(store.as_ref(), &registry)?;
        let (committed, _) = broadcast::channel(config.limits.broadcast_capacity);
        let shared = Arc::new(Shared {
            head: AtomicU64::new(head),
            floor: AtomicU64::new(floor),
            directory: RwLock::new(Arc::new(directory)),
            registry: RwLock::new(Arc::new(registry)),
            committed,
            dead_letters_not_kept: AtomicU64::new(0),
            erasures: AtomicU64::new(0),
            reloaded: tokio::sync::watch::channel(0).0,
            face: RwLock::new(Arc::new(face)),
            metrics: crate::metrics::GatewayMetrics::new(),
            checkpoint: RwLock::new(None),
            files: crate::files::Claims::new(),
            rules: Default::default(),
        });
        let settings = WriterSettings {
            ticket_prefix: config.ticket_prefix.clone(),
            max_skew_ms: config.max_skew_ms,
            log_retention: config.limits.log_retention,
            max_dead_letters_per_site: config.limits.max_dead_letters_per_site,
            max_dead_letter_bytes: config.limits.max_dead_letter_bytes,
            max_unused_numbers_per_site: config.limits.max_unused_numbers_per_site,
            now_ms: clock,
        };
        let limits = &config.limits;
        let quotas =
            crate::quota::Quotas::new(limits.tenant_changes_per_second, limits.tenant_burst);
        let fetch_quotas =
            crate::quota::Quotas::new(limits.tenant_fetches_per_second, limits.tenant_fetch_burst);
        let subscriptions = crate::quota::Slots::new(limits.tenant_subscriptions);
        let ephemeral_key = config.storage == "memory" && config.audit.signing_key.is_none();
        let audit_key = crate::audit::load_key(config.audit_key_path(), ephemeral_key).await?;
        if store.others_wrote().is_some() {
            one_audit_key(store.as_ref(), &audit_key.public)?;
        }
        let (writer, running) = writer::spawn(store.clone(), shared.clone(), settings, 1024, mode)?;
        if let Some(mut others) = store.others_wrote() {
            // Another gateway sharing the store wrote: a group of this one reads it again and
            // wakes the subscribers (see `Shared::reloaded`).
            let writer = writer.clone();
            tokio::spawn(
                async move { while others.changed().await.is_ok() && writer.refresh() {} },
            );
        }
        let staff_sessions = crate::web::staff::StaffSessions::new(&config.dashboard);
        let state = Arc::new(GatewayState {
            config,
            store,
            shared,
            writer,
            tasks: TaskTracker::new(),
            quotas,
            fetch_quotas,
            subscriptions,
            sites: crate::health::SiteBoard::default(),
            staff_sessions,
            audit_key,
            running_writer: Mutex::new(Some(running)),
            clock,
        });
        state.seed_registry().await?;
        state.seed_policies().await?;
        Ok(state)
    }

    /// Writes each configured tenant and site where the store differs from the config. The
    /// writes are sent together, so the writer commits them in few groups (one flush for many
    /// sites, not one each); tenants go first, as a site names its tenant.
    async fn seed_registry(&self) -> Result<()> {
        let registry = self.shared.registry();
        let tenants: Vec<Registration> = self
            .config
            .tenants
            .iter()
            .map(|tenant| pb::Tenant {
                id: tenant.id.clone(),
                display_name: tenant.name.clone(),
            })
            .filter(|record| registry.tenants.get(&record.id) != Some(record))
            .map(Registration::Tenant)
            .collect();
        // A site's tenant cannot change (Admin.UpsertSite says why): the config may not move
        // one either.
        for (i, site) in self.config.sites.iter().enumerate() {
            let record = Registration::Site(pb::Site {
                id: site.id.clone(),
                tenant: site.tenant.clone(),
                display_name: String::new(),
            });
            if let Some(refusal) = writer::moves_a_site(&registry, &record) {
                return Err(Error::Config {
                    field: format!("sites[{i}].tenant"),
                    problem: refusal,
                });
            }
        }
        let sites: Vec<Registration> = self
            .config
            .sites
            .iter()
            .map(|site| pb::Site {
                id: site.id.clone(),
                tenant: site.tenant.clone(),
                display_name: site.name.clone().unwrap_or_else(|| site.id.clone()),
            })
            .filter(|record| {
                !registry.sites.get(&record.id).is_some_and(|s| {
                    s.tenant == record.tenant && s.display_name == record.display_name
                })
            })
            .map(Registration::Site)
            .collect();
        for registrations in [tenants, sites] {
            futures_util::future::try_join_all(
                registrations
                    .into_iter()
                    .map(|registration| self.writer.register(registration)),
            )
            .await?;
        }
        Ok(())
    }

    /// Writes each configured focus team's policy where the store differs from the config.
    async fn seed_policies(&self) -> Result<()> {
        for team in &self.config.focus_teams {
            let key = EntityKey::new(EntityKind::Policy, team.id.clone());
            let stored = self.entity(&key)?;
            let ops: Vec<FieldOp> = policy_fields(team)?
                .into_iter()
                .filter(|value| stored.value(&value.register()) != Some(value))
                .map(FieldOp::Set)
                .collect();
            if stored.deleted.is_some() {
                tracing::warn!(team = %team.id, "focus team policy was deleted; config entry ignored");
                continue;
            }
            if ops.is_empty() {
                continue;
            }
            if let Some(Outcome::Rejected(refusal)) = self.writer.seed(key, ops).await?.pop() {
                return Err(Error::Config {
                    field: format!("focus_teams ({})", team.id),
                    problem: refusal.message,
                });
            }
        }
        Ok(())
    }

    /// What the gateway holds for `tenant`, redacted: what that tenant's replicas must equal
    /// once quiet (the convergence check of DESIGN.md section 4).
    pub fn view(&self, tenant: &str) -> Result<hotline_federation::Replica> {
        let directory = self.shared.directory();
        let mut replica = hotline_federation::Replica::default();
        for entity in entities::scan_all(self.store.as_ref())? {
            if let Some(view) = hotline_federation::visibility::redact(tenant, &entity, &directory)
            {
                replica.entities.insert(view.key.clone(), view);
            }
        }
        Ok(replica)
    }

    /// The stored state of an entity (empty when nothing is stored).
    pub fn entity(&self, key: &EntityKey) -> Result<EntityState> {
        entities::read_or_new(self.store.as_ref(), key)
    }

    /// The gateway's clock, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The newest global sequence number.
    pub fn head(&self) -> u64 {
        self.shared.head.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops the writer after the jobs already queued and waits for it, so the store is closed
    /// when this returns.
    pub async fn close(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        // The head moved since the last checkpoint: sign one more, so a restarted gateway (and
        // every site holding a receipt) has a checkpoint covering everything recorded.
        if let Err(error) = self.writer.checkpoint(self.audit_key.secret()).await {
            tracing::warn!(%error, "no audit checkpoint at shutdown");
        }
        self.writer.stop().await;
        let running = self.running_writer.lock().take();
        if let Some(running) = running {
            running.join().await;
        }
        if let Err(error) = self.store.flush() {
            tracing::error!(%error, "final flush failed");
        }
    }
}

/// On a store several gateways share, the trail is one chain signed with one key: the first
/// gateway records its public key, and one with another key is refused at start (its
/// checkpoints would not verify against the others'). Two gateways with different keys starting
/// on a new store at the same moment are not caught here.
fn one_audit_key(store: &dyn Store, public: &[u8; 32]) -> Result<()> {
    let key = crate::store::keys::meta("audit_public_key");
    match store.get(&key)? {
        Some(recorded) if recorded.as_slice() == public.as_slice() => Ok(()),
        Some(recorded) => Err(Error::Config {
            field: "audit.signing_key".into(),
            problem: format!(
                "the store's audit trail is signed with key {}, this gateway's is {}: every \
                 gateway on one database needs the same audit.signing_key",
                hotline_federation::audit::hex(&recorded),
                hotline_federation::audit::hex(public)
            ),
        }),
        None => {
            let mut batch = crate::store::Batch::default();
            batch.put(key, public.to_vec());
            store.apply(batch)?;
            store.flush()
        }
    }
}

fn policy_fields(team: &FocusTeamConfig) -> Result<Vec<FieldValue>> {
    let cadence = ReviewCadence::parse("review_cadence", &team.review_cadence)?;
    let sorted = |list: &[String]| {
        let mut list = list.to_vec();
        list.sort();
        list.dedup();
        list
    };
    Ok([
        PolicyField::DisplayName(team.name.clone()),
        PolicyField::Handlers(sorted(&team.handlers)),
        PolicyField::SlaAnswerSeconds(team.sla_answer_seconds),
        PolicyField::SlaTargetPercent(team.sla_target_percent),
        PolicyField::FcrTargetPercent(team.fcr_target_percent),
        PolicyField::ReviewCadence(cadence),
        PolicyField::PiiGrants(sorted(&team.pii_grants)),
    ]
    .into_iter()
    .chain(
        team.partner_retention_days
            .map(PolicyField::PartnerRetentionDays),
    )
    .map(FieldValue::Policy)
    .collect())
}

/// Brings the store to the current storage layout before anything reads it (see
/// [`crate::store::layout`]): off the runtime on a blocking thread, except for the simulation's
/// in-memory store, whose writer runs on the runtime too.
async fn migrate_layout(store: &Arc<dyn Store>, mode: &WriterMode) -> Result<()> {
    let chunk = crate::store::layout::MIGRATION_CHUNK;
    match mode {
        WriterMode::Task => crate::store::layout::migrate(store.as_ref(), chunk, None)?,
        WriterMode::Thread => {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                crate::store::layout::migrate(store.as_ref(), chunk, None)
            })
            .await
            .map_err(|e| Error::Unavailable(format!("the storage migration stopped: {e}")))??
        }
    };
    Ok(())
}
