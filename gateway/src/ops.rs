//! The gateway's operations port: `run(listener, state, shutdown)` serves `/metrics`,
//! `/healthz` and `/readyz` (the HTTP side is `hotline_runtime::ops`). Ready means the store
//! answers a read and the writer still takes jobs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_runtime::ops::{Check, Probe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::keys;

/// How long the store may take to answer the readiness read.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operations port asks of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayProbe {
    state: Arc<GatewayState>,
}

impl GatewayProbe {
    /// A probe over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        GatewayProbe { state }
    }

    /// Whether the store answers a read of the log head within [`STORE_CHECK_TIMEOUT`].
    async fn store_check(&self) -> Check {
        let store = self.state.store.clone();
        let read = tokio::task::spawn_blocking(move || store.get(&keys::meta("head")));
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, read).await {
            Ok(Ok(Ok(_))) => Check::ok("store"),
            Ok(Ok(Err(error))) => Check::failed("store", format!("cannot read: {error}")),
            Ok(Err(error)) => Check::failed("store", format!("the read task failed: {error}")),
            Err(_) => Check::failed(
                "store",
                format!(
                    "a read took longer than {} ms",
                    STORE_CHECK_TIMEOUT.as_millis()
                ),
            ),
        }
    }
}

impl Probe for GatewayProbe {
    async fn metrics(&self) -> String {
        let metrics = &self.state.shared.metrics;
        let head = self.state.shared.head.load(Ordering::SeqCst);
        metrics
            .log_head
            .set(i64::try_from(head).unwrap_or(i64::MAX));
        metrics.encode()
    }

    async fn readiness(&self) -> Vec<Check> {
        let writer = if self.state.writer.is_running() {
            Check::ok("writer")
        } else {
            Check::failed(
                "writer",
                "the writer has stopped; nothing can be stored (the gateway is shutting down \
                 or its writer failed)",
            )
        };
        vec![self.store_check().await, writer]
    }
}

/// Serves the operations port on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<()> {
    hotline_runtime::ops::serve(listener, Arc::new(GatewayProbe::new(state)), shutdown)
        .await
        .map_err(|e| Error::Unavailable(format!("operations port failed: {e}")))
}
