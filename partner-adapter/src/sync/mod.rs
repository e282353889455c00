//! The sync loop with the gateway: push the outbox in order, subscribe from the stored cursor
//! and apply with the federation merge, keep the ticket-number lease topped up, and reconnect
//! with jittered exponential backoff when anything fails.
//!
//! [`run`] is the production loop (mTLS from the config, jitter seeded from the clock).
//! [`run_with`] takes [`SyncOptions`], the seam the deterministic simulation tests use: another
//! transport, a seeded jitter, and applying on the runtime thread.
//!
//! Layout: this file (the loop, one session, and [`on_store`], through which every store call
//! leaves the async threads), `status` ([`SyncStatus`]), `dial` (how a session connects),
//! `jitter` ([`Jitter`]), `subscribe` (applying the stream), `push` (the outbox and refreshing
//! refused copies), `lease` (ticket numbers), `report` (the site's sync health for the gateway).

mod dial;
mod jitter;
mod lease;
mod push;
mod report;
mod status;
mod subscribe;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use dial::{Dial, Dialer, connect};
pub use hotline_runtime::clock::now_ms;
pub use jitter::Jitter;
pub use status::{ClockReading, SyncStatus};

use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::replica::Replica;

/// The parts the sync loop works with.
#[derive(Clone, Debug)]
pub struct SyncContext {
    /// The local store.
    pub replica: Arc<Replica>,
    /// Webhook events of applied changes.
    pub events: Arc<TicketEvents>,
    /// Link state.
    pub status: Arc<SyncStatus>,
    /// Woken when the outbox gets an entry.
    pub outbox: Arc<Notify>,
    /// The config.
    pub config: Arc<AdapterConfig>,
    /// The adapter's metrics.
    pub metrics: Arc<crate::metrics::AdapterMetrics>,
    /// The files of the site's comments (uploaded before the changes that name them).
    pub files: Arc<crate::files::Files>,
}

/// Runs a call on the local store off the async threads (sled reads and flushes block), on the
/// blocking pool; or on this thread when `inline` (a deterministic simulation runs every host
/// on one thread, and its progress must follow that thread).
pub(crate) async fn on_store<T: Send + 'static>(
    ctx: &SyncContext,
    inline: bool,
    call: impl FnOnce(&Replica) -> Result<T> + Send + 'static,
) -> Result<T> {
    if inline {
        return call(&ctx.replica);
    }
    let replica = ctx.replica.clone();
    tokio::task::spawn_blocking(move || call(&replica))
        .await
        .map_err(|e| Error::Storage(format!("store task: {e}")))?
}

/// What [`run_with`] varies; [`SyncOptions::production`] is what [`run`] uses.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// How sessions connect.
    pub dialer: Dialer,
    /// The reconnect jitter.
    pub jitter: Jitter,
    /// Apply gateway entries on the runtime thread instead of the blocking pool. Only for a
    /// simulation that runs everything on one thread: there a blocking-pool thread would race
    /// the site's own writes for the replica and make runs differ.
    pub apply_inline: bool,
}

impl SyncOptions {
    /// mTLS from the config, clock-seeded jitter, applies on the blocking pool.
    pub fn production() -> Self {
        SyncOptions {
            dialer: Dialer::Tls,
            jitter: Jitter::from_clock(),
            apply_inline: false,
        }
    }
}

/// Runs sessions with the gateway until `shutdown`.
pub async fn run(ctx: SyncContext, shutdown: CancellationToken) {
    run_with(ctx, SyncOptions::production(), shutdown).await;
}

/// Runs sessions with the gateway until `shutdown`, connecting and pacing as `options` say.
pub async fn run_with(ctx: SyncContext, mut options: SyncOptions, shutdown: CancellationToken) {
    let min = Duration::from_millis(ctx.config.sync.backoff_min_ms);
    let max = Duration::from_millis(ctx.config.sync.backoff_max_ms);
    let mut delay = min;
    // Which of the config's gateways the next session goes to: after a session ends, the next
    // one in turn (a replica), so a site whose gateway is gone carries on with another.
    let urls: Vec<String> = ctx
        .config
        .gateway
        .urls()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut next = 0;
    loop {
        let started = tokio::time::Instant::now();
        let url = &urls[next % urls.len()];
        next += 1;
        let result = tokio::select! {
            result = session(&ctx, url, &options) => result,
            () = shutdown.cancelled() => break,
        };
        ctx.status.set_link(None);
        ctx.files.set_client(None);
        let error = match result {
            Ok(()) => "gateway ended the session".to_owned(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(site = %ctx.config.site, gateway = %url, %error, "sync session ended; reconnecting");
        *ctx.status.last_error.lock() = error;
        if started.elapsed() > Duration::from_secs(10) {
            delay = min;
        }
        let pause = options.jitter.apply(delay);
        delay = (delay * 2).min(max);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

fn status_error(what: &str, status: tonic::Status) -> Error {
    Error::Gateway(format!(
        "{what}: {} ({:?})",
        status.message(),
        status.code()
    ))
}

/// The gateway's advice how long to wait before retrying (`retry-after-ms`), if it gave one.
fn retry_after(status: &tonic::Status) -> Option<Duration> {
    status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}

async fn session(ctx: &SyncContext, url: &str, options: &SyncOptions) -> Result<()> {
    let channel = dial::dial(&ctx.config, url, &options.dialer).await?;
    let limit = ctx.config.sync.max_message_bytes;
    let client = FederationClient::new(channel)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let inline = options.apply_inline;
    let cursor = on_store(ctx, inline, |r| r.cursor()).await?;
    // The gateway stamps no heartbeat of this session before it has the request.
    let asked_ms = now_ms();
    let stream = client
        .clone()
        .subscribe(pb::SubscribeRequest { cursor })
        .await
        .map_err(|s| status_error("subscribe", s))?
        .into_inner();
    // Lazy file reads use this session from the moment it counts as connected.
    ctx.files.set_client(Some(client.clone()));
    ctx.status.set_link(Some(url));
    ctx.status.last_contact_ms.store(now_ms(), Ordering::SeqCst);
    tracing::info!(site = %ctx.config.site, gateway = %url, cursor, "connected to the gateway");
    tokio::select! {
        result = subscribe::subscriber(ctx, stream, inline, asked_ms) => result,
        result = push::pusher(ctx, client.clone(), inline) => result,
        result = lease::leaser(ctx, client.clone(), inline) => result,
        result = report::reporter(ctx, client, inline) => result,
        never = crate::files::keeper(ctx.files.clone(), ctx.replica.clone(), ctx.metrics.clone()) => match never {},
    }
}
