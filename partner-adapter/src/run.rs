//! The adapter as a whole: open the store, then run the sync loop, the webhook deliverer and
//! the local API until shutdown. `main` only parses config and calls this.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{self, App};
use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::mapping::Mapping;
use crate::metrics::AdapterMetrics;
use crate::ops::AdapterProbe;
use crate::replica::{LocalWriter, Replica};
use crate::sync::{self, SyncContext, SyncStatus};
use crate::webhooks::Deliverer;

/// An opened adapter, ready to run.
#[derive(Debug)]
pub struct Adapter {
    /// The local store.
    pub replica: Arc<Replica>,
    /// Link state.
    pub status: Arc<SyncStatus>,
    /// The metrics (`/metrics` on the operations port).
    pub metrics: Arc<AdapterMetrics>,
    config: Arc<AdapterConfig>,
    events: Arc<TicketEvents>,
    outbox: Arc<Notify>,
    mapping: Mapping,
}

impl Adapter {
    /// Validates the config and opens the local store.
    pub fn open(config: AdapterConfig) -> Result<Adapter> {
        config.validate()?;
        let mapping = Mapping::new(&config.mapping)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| Error::File {
            path: config.data_dir.clone(),
            problem: format!("cannot create the data directory: {e}"),
        })?;
        let replica = Arc::new(Replica::open(
            &config.data_dir,
            &config.site,
            &config.tenant,
            hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
        )?);
        let events = Arc::new(TicketEvents::new(
            config.webhooks.clone(),
            mapping.clone(),
            config.site.clone(),
            Arc::new(Notify::new()),
        ));
        Ok(Adapter {
            replica,
            status: Arc::new(SyncStatus::default()),
            metrics: Arc::new(AdapterMetrics::new(&config.tenant, &config.site)),
            config: Arc::new(config),
            events,
            outbox: Arc::new(Notify::new()),
            mapping,
        })
    }

    /// What the operations port asks of this adapter; serve it with [`crate::ops::run`] beside
    /// [`Adapter::run`].
    pub fn probe(&self) -> AdapterProbe {
        AdapterProbe::new(
            self.replica.clone(),
            self.status.clone(),
            self.metrics.clone(),
        )
    }

    /// Runs until `shutdown`: sync, webhooks and the API on `listener`.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
        let Adapter {
            replica,
            status,
            metrics,
            config,
            events,
            outbox,
            mapping,
        } = self;
        // Before any task is spawned, so a failure to start it leaves nothing running.
        let writer = LocalWriter::start(&replica)?;
        let deliverer = Deliverer::new(
            replica.webhook_queue(),
            config.webhooks.clone(),
            Duration::from_millis(config.sync.webhook_backoff_min_ms),
            Duration::from_millis(config.sync.webhook_backoff_max_ms),
        );
        let hooks_notify = deliverer.notifier();
        // Events wake the deliverer through the events' own notifier; forward it.
        let forward = {
            let from = events.notify.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = from.notified() => hooks_notify.notify_one(),
                        () = shutdown.cancelled() => break,
                    }
                }
            })
        };
        let hooks = tokio::spawn(deliverer.run(shutdown.clone()));
        let files = Arc::new(crate::files::Files::open(&config.data_dir, &config.files)?);
        // Files an erasure or purge left unnamed before a kill go now, before the API serves.
        crate::files::keep_once(&files, &replica).await?;
        let sync_task = tokio::spawn(sync::run(
            SyncContext {
                files: files.clone(),
                replica: replica.clone(),
                events: events.clone(),
                status: status.clone(),
                outbox: outbox.clone(),
                config: config.clone(),
                metrics: metrics.clone(),
            },
            shutdown.clone(),
        ));
        let stopping_replica = replica.clone();
        let knowledge = {
            let replica = replica.clone();
            let dir = config.data_dir.clone();
            tokio::task::spawn_blocking(move || crate::kb::KnowledgeIndex::open(&dir, &replica))
                .await
                .map_err(|e| Error::Storage(format!("store task: {e}")))??
        };
        let app = Arc::new(App {
            knowledge: Arc::new(knowledge),
            writer,
            replica,
            config: config.clone(),
            mapping,
            events,
            status,
            outbox,
            metrics,
            files,
            decisions: Default::default(),
        });
        let api_addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(site = %config.site, addr = %api_addr, "adapter API listening");
        let served = api::serve(listener, app, shutdown.clone()).await;
        shutdown.cancel();
        let _ = tokio::join!(sync_task, hooks, forward);
        // A flush and a file write: off the async threads like every store call.
        let recorded = tokio::task::spawn_blocking(move || stopping_replica.record_high_water())
            .await
            .map_err(|e| Error::Storage(format!("store task: {e}")))
            .and_then(|recorded| recorded);
        if let Err(e) = recorded {
            tracing::warn!(site = %config.site, error = %e, "cannot record the store's high-water marks");
        }
        tracing::info!(site = %config.site, "adapter stopped");
        served.map_err(|e| Error::Storage(format!("API server failed: {e}")))
    }
}
