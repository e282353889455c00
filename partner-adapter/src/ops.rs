//! The adapter's operations port: [`run`] serves `/metrics`, `/healthz` and `/readyz` (the
//! HTTP side is `hotline_runtime::ops`). Ready means the local store answers a read: the site
//! works offline, so a lost link to the gateway shows in `hotline_adapter_sync_connected`, not
//! as unreadiness that would take the partner's local API out of service.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_runtime::ops::{Check, Probe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::metrics::{AdapterMetrics, Snapshot};
use crate::replica::Replica;
use crate::sync::SyncStatus;

/// How long the store may take to answer a scrape's or a readiness check's reads.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operations port asks of the adapter.
#[derive(Debug, Clone)]
pub struct AdapterProbe {
    replica: Arc<Replica>,
    status: Arc<SyncStatus>,
    metrics: Arc<AdapterMetrics>,
}

impl AdapterProbe {
    /// A probe over the adapter's store, link state and metrics.
    pub fn new(
        replica: Arc<Replica>,
        status: Arc<SyncStatus>,
        metrics: Arc<AdapterMetrics>,
    ) -> Self {
        AdapterProbe {
            replica,
            status,
            metrics,
        }
    }

    /// Runs `read` on the store off the async threads, within [`STORE_TIMEOUT`].
    async fn on_store<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Replica) -> Result<T> + Send + 'static,
    ) -> std::result::Result<T, String> {
        let replica = self.replica.clone();
        let task = tokio::task::spawn_blocking(move || read(&replica));
        match tokio::time::timeout(STORE_TIMEOUT, task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(format!("cannot read: {error}")),
            Ok(Err(error)) => Err(format!("the read task failed: {error}")),
            Err(_) => Err(format!(
                "a read took longer than {} ms",
                STORE_TIMEOUT.as_millis()
            )),
        }
    }
}

impl Probe for AdapterProbe {
    async fn metrics(&self) -> String {
        let read = self
            .on_store(|replica| {
                let queue = replica.webhook_queue();
                Ok((
                    replica.cursor()?,
                    replica.outbox_depth() as u64,
                    replica.parked()?.len() as u64,
                    replica.numbers_left()?,
                    crate::webhooks::pending(&queue)? as u64,
                    crate::webhooks::dead_letters(&queue)?.len() as u64,
                ))
            })
            .await;
        match read {
            Ok((cursor, outbox_depth, dead_letters, numbers, backlog, hooks_dead)) => {
                let head = self.status.head.load(Ordering::SeqCst).max(cursor);
                self.metrics.refresh(&Snapshot {
                    outbox_depth,
                    dead_letters,
                    webhook_backlog: backlog,
                    webhook_dead_letters: hooks_dead,
                    ticket_numbers_left: numbers,
                    connected: self.status.connected.load(Ordering::SeqCst),
                    sync_lag: head - cursor,
                });
            }
            // The counters still answer; the store gauges keep their last values.
            Err(problem) => tracing::warn!(%problem, "metrics: the store could not be read"),
        }
        self.metrics.encode()
    }

    async fn readiness(&self) -> Vec<Check> {
        match self.on_store(|replica| replica.cursor()).await {
            Ok(_) => vec![Check::ok("store")],
            Err(problem) => vec![Check::failed("store", problem)],
        }
    }
}

/// Serves the operations port on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    probe: AdapterProbe,
    shutdown: CancellationToken,
) -> Result<()> {
    hotline_runtime::ops::serve(listener, Arc::new(probe), shutdown)
        .await
        .map_err(|e| Error::Storage(format!("operations port failed: {e}")))
}
