//! The sync loop with the gateway: push the outbox in order, subscribe from the stored cursor
//! and apply with the federation merge, keep the ticket-number lease topped up, and reconnect
//! with jittered exponential backoff when anything fails.
//!
//! [`run`] is the production loop (mTLS from the config, jitter seeded from the clock).
//! [`run_with`] takes [`SyncOptions`], the seam the deterministic simulation tests use: another
//! transport, a seeded jitter, and applying on the runtime thread.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use pb::sync_event::Body;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::replica::{Fetched, RemoteEntry, Replica};

pub use hotline_runtime::clock::now_ms;

/// What the sync loop knows about the link, for `GET /v1/sync/status`.
#[derive(Debug, Default)]
pub struct SyncStatus {
    /// A session with the gateway is up.
    pub connected: AtomicBool,
    /// Last time anything arrived from the gateway, ms (0: never).
    pub last_contact_ms: AtomicU64,
    /// The gateway's head as of the last heartbeat or entry.
    pub head: AtomicU64,
    /// Pushes acknowledged since start.
    pub pushed: AtomicU64,
    /// Of those, changes the gateway already held: re-sent after an acknowledgement was lost.
    pub duplicates: AtomicU64,
    /// Why the last session ended.
    pub last_error: std::sync::Mutex<String>,
    /// This site's clock against the gateway's, as of the last heartbeat (`None` before one).
    pub clock: std::sync::Mutex<Option<ClockReading>>,
    /// Why the gateway refused the last lease of ticket numbers, until a lease succeeds.
    pub lease_refused: std::sync::Mutex<Option<String>>,
}

/// This site's clock against the gateway's at one heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockReading {
    /// How far this site's clock ran ahead of the gateway's, ms (negative: behind; includes
    /// the heartbeat's travel time).
    pub ahead_ms: i64,
    /// How far ahead the gateway accepts a change's clock.
    pub max_skew_ms: u64,
}

impl SyncStatus {
    /// The last clock reading, if any heartbeat carried one.
    pub fn clock(&self) -> Option<ClockReading> {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compares this site's clock with the gateway's `gateway_ms` from a heartbeat.
    fn note_clock(&self, gateway_ms: u64, max_skew_ms: u64) {
        let ahead_ms = i64::try_from(now_ms()).unwrap_or(i64::MAX)
            - i64::try_from(gateway_ms).unwrap_or(i64::MAX);
        let reading = ClockReading {
            ahead_ms,
            max_skew_ms,
        };
        let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        if ahead_ms > max_skew_ms as i64 && *clock != Some(reading) {
            tracing::warn!(
                ahead_ms,
                max_skew_ms,
                "this site's clock runs ahead of the gateway's further than it accepts; local writes are refused until the clock is fixed"
            );
        }
        *clock = Some(reading);
    }
}

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
}

/// Runs a call on the local store off the async threads (sled reads and flushes block), on the
/// blocking pool; or on this thread when `inline` (a deterministic simulation runs every host
/// on one thread, and its progress must follow that thread).
async fn on_store<T: Send + 'static>(
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

/// Opens the channel of a session from an [`Endpoint`] that already carries the gateway URL,
/// timeouts and keepalive of the config.
pub type Dial = Arc<
    dyn Fn(Endpoint) -> BoxFuture<'static, std::result::Result<Channel, tonic::transport::Error>>
        + Send
        + Sync,
>;

/// How a session reaches the gateway.
#[derive(Clone)]
pub enum Dialer {
    /// mTLS with the site's certificate files from the config: the production path.
    Tls,
    /// Any other transport (the tests' simulated network). The gateway side must then vouch for
    /// the caller's identity itself (the gateway's `server::serve_incoming`).
    Custom(Dial),
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialer::Tls => "Dialer::Tls",
            Dialer::Custom(_) => "Dialer::Custom",
        })
    }
}

/// The random part of the reconnect delay: a small xorshift generator, seeded from the clock in
/// production and from a fixed seed in simulations, so a simulated run replays.
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator that always yields the same sequence for `seed`.
    pub fn seeded(seed: u64) -> Self {
        // splitmix64 spreads small seeds; xorshift needs a non-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Jitter {
            state: (z ^ (z >> 31)) | 1,
        }
    }

    /// A generator seeded from the system clock.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::seeded(nanos)
    }

    /// Between half and the full `delay`, so sites that lost the gateway together do not
    /// return in lockstep.
    pub fn apply(&mut self, delay: Duration) -> Duration {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        delay.mul_f64(0.5 + unit / 2.0)
    }
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
    loop {
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            result = session(&ctx, &options) => result,
            () = shutdown.cancelled() => break,
        };
        ctx.status.connected.store(false, Ordering::SeqCst);
        let error = match result {
            Ok(()) => "gateway ended the session".to_owned(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(site = %ctx.config.site, %error, "sync session ended; reconnecting");
        *ctx.status
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = error;
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

/// The gateway endpoint of the config with the session's timeouts and keepalive, no transport
/// security yet.
fn endpoint(config: &AdapterConfig) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(config.gateway.url.clone())
        .map_err(|e| Error::Config {
            field: "gateway.url".into(),
            problem: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10)))
}

/// A channel to the gateway as `dialer` says.
async fn dial(config: &AdapterConfig, dialer: &Dialer) -> Result<Channel> {
    match dialer {
        Dialer::Tls => connect(config).await,
        Dialer::Custom(dial) => dial(endpoint(config)?)
            .await
            .map_err(|e| Error::Gateway(format!("cannot connect to {}: {e}", config.gateway.url))),
    }
}

/// A channel to the gateway with this site's certificate (files read at each connect, so a
/// rotated certificate is used from the next session on).
pub async fn connect(config: &AdapterConfig) -> Result<Channel> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| Error::File {
            path: path.into(),
            problem: e.to_string(),
        })
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&config.tls.ca_cert)?))
        .identity(Identity::from_pem(
            read(&config.tls.cert)?,
            read(&config.tls.key)?,
        ))
        .domain_name(config.gateway.server_name.clone());
    let endpoint = endpoint(config)?
        .tls_config(tls)
        .map_err(|e| Error::Gateway(format!("TLS setup: {e}")))?;
    endpoint
        .connect()
        .await
        .map_err(|e| Error::Gateway(format!("cannot connect to {}: {e}", config.gateway.url)))
}

fn status_error(what: &str, status: tonic::Status) -> Error {
    Error::Gateway(format!(
        "{what}: {} ({:?})",
        status.message(),
        status.code()
    ))
}

async fn session(ctx: &SyncContext, options: &SyncOptions) -> Result<()> {
    let channel = dial(&ctx.config, &options.dialer).await?;
    let limit = ctx.config.sync.max_message_bytes;
    let client = FederationClient::new(channel)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let inline = options.apply_inline;
    let cursor = on_store(ctx, inline, |r| r.cursor()).await?;
    let stream = client
        .clone()
        .subscribe(pb::SubscribeRequest { cursor })
        .await
        .map_err(|s| status_error("subscribe", s))?
        .into_inner();
    ctx.status.connected.store(true, Ordering::SeqCst);
    ctx.status.last_contact_ms.store(now_ms(), Ordering::SeqCst);
    tracing::info!(site = %ctx.config.site, cursor, "connected to the gateway");
    tokio::select! {
        result = subscriber(ctx, stream, inline) => result,
        result = pusher(ctx, client.clone(), inline) => result,
        result = leaser(ctx, client, inline) => result,
    }
}

/// Applies the stream. Events of one log entry are buffered until the event that carries the
/// entry's cursor, then applied with it in one atomic write. Snapshot items replace local
/// states (in chunks); the snapshot's end purges what it did not contain and stores its
/// cursor, even when that is lower than the stored one (a gateway restored from a backup).
async fn subscriber(
    ctx: &SyncContext,
    mut stream: tonic::Streaming<pb::SyncEvent>,
    apply_inline: bool,
) -> Result<()> {
    let mut entry = RemoteEntry::default();
    let mut snapshot: Option<BTreeSet<EntityKey>> = None;
    loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(()),
            Err(status) => return Err(status_error("subscription", status)),
        };
        ctx.status.last_contact_ms.store(now_ms(), Ordering::SeqCst);
        let pb::SyncEvent { cursor, body } = event;
        let mut end_of_snapshot = None;
        match body {
            Some(Body::SnapshotBegin(_)) => {
                snapshot = Some(BTreeSet::new());
                entry = RemoteEntry {
                    replace: true,
                    ..RemoteEntry::default()
                };
            }
            Some(Body::Entity(state)) => {
                let state = EntityState::try_from(state)?;
                if let Some(seen) = snapshot.as_mut() {
                    seen.insert(state.key.clone());
                }
                entry.states.push(state);
            }
            Some(Body::Change(change)) => entry
                .states
                .push(EntityState::delta(&Change::try_from(change)?)),
            Some(Body::Revocation(pb::Revocation { key })) => {
                let key = key.ok_or_else(|| Error::Gateway("revocation without key".into()))?;
                let key = EntityKey::try_from(key)?;
                entry.states.retain(|s| s.key != key);
                entry.purge.push(key);
            }
            Some(Body::SnapshotEnd(pb::SnapshotEnd { as_of })) => {
                if let Some(seen) = snapshot.take() {
                    // Keep what the site changed itself and has not pushed yet.
                    let (outbox, held) = on_store(ctx, apply_inline, |r| {
                        Ok((r.outbox(usize::MAX)?, r.entity_keys()?))
                    })
                    .await?;
                    let pending: BTreeSet<EntityKey> = outbox.into_iter().map(|c| c.key).collect();
                    for key in held {
                        if !seen.contains(&key) && !pending.contains(&key) {
                            entry.purge.push(key);
                        }
                    }
                }
                end_of_snapshot = Some(as_of);
            }
            Some(Body::Heartbeat(pb::Heartbeat {
                head,
                now_ms: gateway_ms,
                max_skew_ms,
            })) => {
                ctx.status.head.store(head, Ordering::SeqCst);
                if gateway_ms > 0 {
                    ctx.status.note_clock(gateway_ms, max_skew_ms);
                }
            }
            None => {}
        }
        let snapshot_chunk = snapshot.is_some() && entry.states.len() >= 256;
        if cursor == 0 && !snapshot_chunk && end_of_snapshot.is_none() {
            continue;
        }
        entry.cursor = match end_of_snapshot {
            Some(as_of) => Some(as_of),
            None if cursor != 0 && cursor > on_store(ctx, apply_inline, |r| r.cursor()).await? => {
                Some(cursor)
            }
            None => None,
        };
        if entry.cursor.is_some() || !entry.states.is_empty() || !entry.purge.is_empty() {
            let replace = snapshot.is_some() || end_of_snapshot.is_some();
            let ready = std::mem::replace(
                &mut entry,
                RemoteEntry {
                    replace,
                    ..RemoteEntry::default()
                },
            );
            let events = ctx.events.clone();
            let changed = on_store(ctx, apply_inline, move |r| {
                r.apply_remote(&ready, &events, now_ms())
            })
            .await?;
            if changed > 0 {
                ctx.events.notify.notify_one();
            }
        }
        if end_of_snapshot.is_some() {
            entry.replace = false;
        }
        if cursor > ctx.status.head.load(Ordering::SeqCst) {
            ctx.status.head.store(cursor, Ordering::SeqCst);
        }
    }
}

/// How long an entity that had to wait for the gateway's copy waits before the next try.
const REFRESH_RETRY: Duration = Duration::from_secs(1);

/// Pushes the outbox in order; acknowledged entries leave it, refused ones are parked.
async fn pusher(
    ctx: &SyncContext,
    mut client: FederationClient<Channel>,
    inline: bool,
) -> Result<()> {
    let mut refresh_after = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= refresh_after {
            // Refreshing never holds up pushing: an entity that must wait, or a gateway that
            // cannot answer, is tried again a little later.
            match refresh_stale(ctx, &mut client, inline).await {
                Ok(true) => {}
                Ok(false) => refresh_after = tokio::time::Instant::now() + REFRESH_RETRY,
                Err(error) => {
                    tracing::warn!(%error, "cannot replace refused local copies with the gateway's yet; pushing on");
                    refresh_after = tokio::time::Instant::now() + REFRESH_RETRY * 5;
                }
            }
        }
        let notified = ctx.outbox.notified();
        let size = ctx.config.sync.push_batch;
        let batch = on_store(ctx, inline, move |r| r.outbox(size)).await?;
        if batch.is_empty() {
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let request = pb::PushRequest {
            changes: batch.iter().cloned().map(Into::into).collect(),
        };
        let response = match client.push(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                // The whole batch was refused as malformed; park the change it names (our own
                // validation should have stopped it) so the rest can go.
                let index = status
                    .metadata()
                    .get("invalid-change-index")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|i| i.parse::<usize>().ok());
                let Some(change) = index.and_then(|i| batch.get(i)) else {
                    return Err(status_error("push", status));
                };
                let refused = vec![(
                    change.clone(),
                    pb::RejectReason::Invalid as i32,
                    status.message().to_owned(),
                )];
                on_store(ctx, inline, move |r| r.settle(&[], &refused, now_ms())).await?;
                continue;
            }
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                // Over the tenant's quota: wait as advised, keep the session.
                let advised = retry_after(&status)
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(10));
                tracing::info!(
                    retry_in_ms = advised.as_millis() as u64,
                    "push over the tenant's quota; waiting"
                );
                tokio::time::sleep(advised).await;
                continue;
            }
            Err(status) => return Err(status_error("push", status)),
        };
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for (change, result) in batch.iter().zip(response.results) {
            match result.outcome {
                Some(pb::change_result::Outcome::Accepted(a)) => {
                    if a.duplicate {
                        ctx.status.duplicates.fetch_add(1, Ordering::SeqCst);
                    }
                    accepted.push((change.clone(), a.duplicate));
                }
                Some(pb::change_result::Outcome::Rejected(r)) => {
                    tracing::warn!(origin_seq = change.origin_seq, reason = r.reason, message = %r.message, "change refused; parked");
                    refused.push((change.clone(), r.reason, r.message));
                }
                None => return Err(Error::Gateway("push result without outcome".into())),
            }
        }
        let pushed = accepted.len() as u64;
        on_store(ctx, inline, move |r| {
            r.settle(&accepted, &refused, now_ms())
        })
        .await?;
        ctx.status.pushed.fetch_add(pushed, Ordering::SeqCst);
    }
}

/// Replaces the local copies of entities a refused change was applied to (or a duplicate
/// acknowledged for) by the gateway's, with the site's unpushed changes on top. `Ok(false)`
/// when some entity has to wait: a log entry the answer may miss touched it meanwhile.
async fn refresh_stale(
    ctx: &SyncContext,
    client: &mut FederationClient<Channel>,
    inline: bool,
) -> Result<bool> {
    loop {
        let size = ctx.config.sync.push_batch;
        let keys = on_store(ctx, inline, move |r| r.stale_entities(size)).await?;
        if keys.is_empty() {
            return Ok(true);
        }
        let response = client
            .fetch(pb::FetchRequest {
                keys: keys.iter().cloned().map(Into::into).collect(),
            })
            .await
            .map_err(|s| status_error("fetch", s))?
            .into_inner();
        let asked: BTreeSet<&EntityKey> = keys.iter().collect();
        let mut answer = Fetched {
            as_of: response.as_of,
            ..Fetched::default()
        };
        for state in response.states {
            let state = EntityState::try_from(state)?;
            if asked.contains(&state.key) {
                answer.states.push(state);
            }
        }
        for key in response.absent {
            let key = EntityKey::try_from(key)?;
            if asked.contains(&key) {
                answer.absent.push(key);
            }
        }
        // Entities the gateway deferred to keep its answer within one message stay stale and
        // are asked for again in the next round.
        let deferred_by_gateway = response
            .deferred
            .into_iter()
            .map(EntityKey::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let answered: BTreeSet<&EntityKey> = answer
            .states
            .iter()
            .map(|s| &s.key)
            .chain(&answer.absent)
            .chain(&deferred_by_gateway)
            .collect();
        if let Some(missing) = keys.iter().find(|k| !answered.contains(k)) {
            return Err(Error::Gateway(format!(
                "fetch answer names neither a state nor absence for {}/{}",
                missing.kind.as_str(),
                missing.id
            )));
        }
        let events = ctx.events.clone();
        let deferred =
            on_store(ctx, inline, move |r| r.refresh(&answer, &events, now_ms())).await?;
        ctx.events.notify.notify_one();
        tracing::info!(
            entities = keys.len() - deferred.len(),
            "replaced refused local copies with the gateway's"
        );
        if !deferred.is_empty() {
            return Ok(false);
        }
    }
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

/// First and longest wait before asking again for ticket numbers the gateway refused.
const LEASE_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// Keeps enough ticket numbers for offline work. A refused lease (the site holds as many unused
/// numbers as the gateway allows, or the gateway cannot grant now) never ends the session:
/// pushing and receiving go on, the refusal is logged and shown in the sync status, and the
/// lease is asked for again after a growing pause (or the gateway's advice).
async fn leaser(
    ctx: &SyncContext,
    mut client: FederationClient<Channel>,
    inline: bool,
) -> Result<()> {
    let mut pause = LEASE_RETRY.0;
    loop {
        let left = on_store(ctx, inline, |r| r.numbers_left()).await?;
        if left < u64::from(ctx.config.sync.lease_low_water) {
            let request = pb::LeaseRequest {
                count: ctx.config.sync.lease_size,
            };
            match client.lease(request).await {
                Ok(response) => {
                    let block = response
                        .into_inner()
                        .block
                        .ok_or_else(|| Error::Gateway("lease without block".into()))?;
                    tracing::info!(
                        first = block.first,
                        count = block.count,
                        year = block.year,
                        "leased ticket numbers"
                    );
                    on_store(ctx, inline, move |r| r.add_numbers(&block)).await?;
                    *ctx.status
                        .lease_refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = None;
                    pause = LEASE_RETRY.0;
                    continue;
                }
                Err(status) => {
                    let wait = retry_after(&status).unwrap_or(pause).min(LEASE_RETRY.1);
                    tracing::warn!(
                        code = ?status.code(),
                        message = status.message(),
                        retry_in_ms = wait.as_millis() as u64,
                        "the gateway refused ticket numbers; syncing on, asking again later"
                    );
                    *ctx.status
                        .lease_refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        Some(status_error("lease", status).to_string());
                    pause = (pause * 2).min(LEASE_RETRY.1);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded jitter replays exactly and stays between half and the full delay, so a
    /// simulated run that fails can be replayed and real sites still spread out.
    #[test]
    fn seeded_jitter_replays_within_bounds() {
        let delay = Duration::from_millis(1000);
        let run = |seed| {
            let mut jitter = Jitter::seeded(seed);
            (0..100).map(|_| jitter.apply(delay)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for pause in run(7) {
            assert!(pause >= delay / 2 && pause <= delay, "{pause:?}");
        }
    }
}
