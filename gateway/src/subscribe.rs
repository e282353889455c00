//! One subscription: snapshot when the cursor is older than the retained log, then the log from
//! the cursor, then the live tail, each entry filtered and redacted for the subscriber's tenant.
//!
//! Memory stays bounded: the live feed is a bounded broadcast and each subscriber has a bounded
//! buffer. A subscriber whose buffer stays full for the stall timeout, or that falls further
//! behind than the broadcast holds, is ended with `RESOURCE_EXHAUSTED` and resumes from its
//! cursor; the writer and the other subscribers never wait for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hotline_federation::Change;
use hotline_federation::ids::INHOUSE;
use hotline_federation::model::EntityKind;
use hotline_federation::visibility::{Access, Directory, head_access, strip_change};
use hotline_proto::prepared::PreparedSyncEvent;
use hotline_proto::v1 as pb;
use pb::sync_event::Body;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::log::{Committed, Prepared};
use crate::state::GatewayState;

type Item = std::result::Result<PreparedSyncEvent, tonic::Status>;

/// The response stream: events from the subscription task, or its final error status.
pub struct Subscription {
    events: mpsc::Receiver<Item>,
    abort: Option<oneshot::Receiver<tonic::Status>>,
}

impl Stream for Subscription {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if let Some(abort) = self.abort.as_mut() {
            if let Poll::Ready(result) = Pin::new(abort).poll(cx) {
                self.abort = None;
                if let Ok(status) = result {
                    self.events.close();
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
        self.events.poll_recv(cx)
    }
}

/// Starts a subscription for `tenant` from `cursor`.
pub fn start(
    state: Arc<GatewayState>,
    tenant: String,
    site: String,
    cursor: u64,
    shutdown: CancellationToken,
) -> Subscription {
    let (tx, events) = mpsc::channel(state.config.limits.subscriber_buffer);
    let (abort_tx, abort) = oneshot::channel();
    let tracker = state.tasks.clone();
    tracker.spawn(async move {
        let _streaming = Streaming::new(state.clone());
        let mut feed = Feed {
            stall: Duration::from_millis(state.config.limits.stall_timeout_ms),
            state,
            tenant,
            tx,
            sent: cursor,
        };
        let result = tokio::select! {
            result = feed.run() => result,
            () = shutdown.cancelled() => Ok(()),
        };
        if let Err(error) = result {
            tracing::info!(site = %site, %error, cursor = feed.sent, "subscription ended");
            let _ = abort_tx.send(tonic::Status::from(error));
        }
    });
    Subscription {
        events,
        abort: Some(abort),
    }
}

/// Counts a subscription in `hotline_gateway_subscribers` while it lives.
struct Streaming(Arc<GatewayState>);

impl Streaming {
    fn new(state: Arc<GatewayState>) -> Streaming {
        state.shared.metrics.subscribers.inc();
        Streaming(state)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.shared.metrics.subscribers.dec();
    }
}

struct Feed {
    state: Arc<GatewayState>,
    tenant: String,
    tx: mpsc::Sender<Item>,
    /// The last global sequence number this subscriber has been given.
    sent: u64,
    stall: Duration,
}

impl Feed {
    async fn run(&mut self) -> Result<()> {
        let shared = self.state.shared.clone();
        let mut live = shared.committed.subscribe();
        let mut reloaded = shared.reloaded.subscribe();
        let mut head = shared.head.load(Ordering::SeqCst);
        if self.sent > head && self.state.store.others_wrote().is_some() {
            // A site coming over from another gateway of the same database may be ahead of
            // what this one has read yet: read again before taking its cursor for a foreign one.
            self.state.writer.refresh();
            let caught_up = async {
                while shared.head.load(Ordering::SeqCst) < self.sent {
                    if reloaded.changed().await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), caught_up).await;
            head = shared.head.load(Ordering::SeqCst);
        }
        if self.sent < shared.floor.load(Ordering::SeqCst) || self.sent > head {
            self.snapshot().await?;
        }
        self.catch_up(shared.head.load(Ordering::SeqCst)).await?;
        let mut heartbeat = tokio::time::interval(Duration::from_millis(
            self.state.config.limits.heartbeat_interval_ms,
        ));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A heartbeat opens the live tail, so a site learns the gateway's clock and its
        // tenant's sites as soon as it has caught up. It is sent here, not left to the
        // interval's first tick: an entry arriving first would reset the interval, and under
        // steady traffic the site would never hear one.
        self.send(self.heartbeat()).await?;
        heartbeat.reset();
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(entry) => {
                        if entry.seq <= self.sent {
                            continue;
                        }
                        if entry.seq > self.sent + 1 {
                            self.catch_up(entry.seq - 1).await?;
                        }
                        if let Some(touches) = self.access_touches(&entry)? {
                            // It changed this tenant's access: the entities whole, decided
                            // when each can be sent.
                            self.send_touched(&touches, entry.seq).await?;
                        } else {
                            // Decided once there is room for its first event. Encoded by the
                            // first subscriber of this tenant that reached the entry under the
                            // same rules, or here (and kept for the others).
                            let permit = self.room().await?;
                            let events = self.live_prepared(&entry)?;
                            match events.split_first() {
                                Some((first, rest)) => {
                                    permit.send(Ok(first.clone()));
                                    for event in rest {
                                        self.send_prepared(event.clone()).await?;
                                    }
                                }
                                None => drop(permit),
                            }
                            self.delivered(entry.seq);
                        }
                        // The heartbeat keeps a quiet stream alive; under traffic the entries do.
                        // (Heartbeats between entries made seed 8 of sync_turmoil diverge: see
                        // the closing note of issue 13.)
                        heartbeat.reset();
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Err(Error::ResourceExhausted(format!(
                            "subscriber fell {missed} entries behind the live log; resubscribe from cursor {}",
                            self.sent
                        )));
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    self.send(self.heartbeat()).await?;
                }
                // The writer read the store again (another gateway sharing it wrote, or after
                // a failure): what it found is not on the live broadcast, so read it here.
                Ok(()) = reloaded.changed() => {
                    let head = shared.head.load(Ordering::SeqCst);
                    if head > self.sent {
                        self.catch_up(head).await?;
                        heartbeat.reset();
                    }
                }
            }
        }
    }

    async fn send(&self, event: pb::SyncEvent) -> Result<()> {
        self.send_prepared(PreparedSyncEvent::new(&event)).await
    }

    async fn send_prepared(&self, event: PreparedSyncEvent) -> Result<()> {
        self.room().await?.send(Ok(event));
        Ok(())
    }

    /// Room for one event in the subscriber's buffer, waited for at most the stall timeout: an
    /// event decided once it has room is sent under the rules of that moment.
    async fn room(&self) -> Result<mpsc::Permit<'_, Item>> {
        match tokio::time::timeout(self.stall, self.tx.reserve()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::Unavailable("subscriber went away".into())),
            Err(_) => Err(Error::ResourceExhausted(format!(
                "subscriber stalled: its buffer stayed full for {} ms; resubscribe from cursor {}",
                self.stall.as_millis(),
                self.sent
            ))),
        }
    }

    /// Log entry `seq` has been handed to the subscriber whole (its last event carries the
    /// cursor, [`encode_entry`], so a site that stores it has applied the whole entry).
    fn delivered(&mut self, seq: u64) {
        self.sent = seq;
        let head = self.state.shared.head.load(Ordering::SeqCst);
        let metrics = &self.state.shared.metrics;
        metrics
            .subscriber_lag
            .observe(head.saturating_sub(seq) as f64);
    }

    /// A heartbeat as of now: the head, the gateway's clock and skew bound, the tenant's sites
    /// and the names the sites' leak guard needs.
    fn heartbeat(&self) -> pb::SyncEvent {
        pb::SyncEvent {
            cursor: self.sent,
            body: Some(Body::Heartbeat(pb::Heartbeat {
                head: self.state.shared.head.load(Ordering::SeqCst),
                now_ms: self.state.now_ms(),
                max_skew_ms: self.state.config.max_skew_ms,
                tenant_sites: self.tenant_sites(),
                guard_terms: self.state.shared.registry().guard_terms(),
            })),
        }
    }

    /// The sites the subscriber's tenant may name as a ticket's handling site, for the
    /// heartbeat: its own registered sites; every registered site for in-house.
    fn tenant_sites(&self) -> Vec<String> {
        let directory = self.state.shared.directory();
        let sites = directory.site_tenants.iter();
        sites
            .filter(|(_, tenant)| **tenant == self.tenant || self.tenant == INHOUSE)
            .map(|(site, _)| site.clone())
            .collect()
    }

    /// What this tenant receives for a live entry that did not change its access (see
    /// [`Feed::access_touches`]), encoded, the entry's cursor on the last event: the change as
    /// it may read it, both at the entry and now.
    fn live_prepared(&self, entry: &Committed) -> Result<Arc<[PreparedSyncEvent]>> {
        let tenant = self.tenant.as_str();
        let directory = self.state.shared.directory();
        if let Some(kept) = self.erased_since(entry)? {
            // Committed before its ticket was erased: sent as the ticket keeps it now, and
            // never shared (it was not decided on the entry alone).
            return Ok(encode_entry(
                entry.seq,
                self.change_events(entry, &kept, &directory),
            ));
        }
        // Held while deciding (microseconds, no await): subscribers of one tenant arriving
        // together decide once.
        let mut prepared = entry.prepared.lock();
        let mine = |p: &&Prepared| p.tenant == tenant && Arc::ptr_eq(&p.directory, &directory);
        if let Some(found) = prepared.iter().find(mine) {
            return Ok(found.events.clone());
        }
        let events = encode_entry(
            entry.seq,
            self.change_events(entry, &entry.change, &directory),
        );
        prepared.push(Prepared {
            tenant: tenant.to_owned(),
            directory,
            events: events.clone(),
        });
        Ok(events)
    }

    /// The entities of a live entry that changed this tenant's access (the entity, and the
    /// team's tickets whose access changed), each purged first where that is due; `None` for
    /// an entry that did not. They are sent whole as the tenant may read them when sent, read
    /// from the store then, so never shared with other subscribers.
    fn access_touches(&self, entry: &Committed) -> Result<Option<Touches>> {
        let tenant = self.tenant.as_str();
        let named = |list: &[String]| list.iter().any(|t| t == tenant);
        let lost = named(&entry.lost);
        let team_reset = !entry.team.team.is_empty() && named(&entry.team.access_changed);
        if !(lost || named(&entry.gained) || team_reset) {
            return Ok(None);
        }
        let mut touches = Touches::default();
        if lost && entry.expired {
            touches.expire(&entry.change.key);
        } else {
            touches.touch(&entry.change.key, lost);
        }
        self.team_touches(entry.seq, &entry.team, &mut touches)?;
        Ok(Some(touches))
    }

    /// The erased copy of a live ticket entry whose ticket was erased after it was committed
    /// (a subscriber behind in the live tail); `None` otherwise. Reads the ticket only when a
    /// group erased something since the entry.
    fn erased_since(&self, entry: &Committed) -> Result<Option<Change>> {
        let key = &entry.change.key;
        let erasures = self.state.shared.erasures.load(Ordering::SeqCst);
        if key.kind != EntityKind::Ticket || erasures <= entry.erasures_before {
            return Ok(None);
        }
        let current = crate::store::entities::read_head(self.state.store.as_ref(), key)?;
        Ok(current
            .filter(hotline_federation::erasure::erased)
            .map(|_| hotline_federation::erasure::erase_change(&entry.change)))
    }

    /// The change of a live entry that did not change this tenant's access, as the tenant may
    /// read it both at the entry and under `directory`.
    fn change_events(
        &self,
        entry: &Committed,
        change: &Change,
        directory: &Directory,
    ) -> Vec<Body> {
        let tenant = self.tenant.as_str();
        let at_entry = entry
            .readers
            .iter()
            .find(|(t, _)| t == tenant)
            .map_or(Access::Hidden, |(_, a)| *a);
        let now = head_access(tenant, &entry.after, entry.after_empty, directory);
        let allowed = at_entry.min(now);
        if allowed == Access::Hidden {
            return Vec::new();
        }
        let view = strip_change(tenant, change, allowed == Access::Full, &entry.after);
        if view.ops.is_empty() {
            Vec::new()
        } else {
            vec![Body::Change(view.into())]
        }
    }
}

/// The events of log entry `seq`, encoded; only the last carries the cursor, so a site that
/// stores it has applied the whole entry.
fn encode_entry(seq: u64, bodies: Vec<Body>) -> Arc<[PreparedSyncEvent]> {
    let count = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            PreparedSyncEvent::new(&pb::SyncEvent {
                cursor: if i + 1 == count { seq } else { 0 },
                body: Some(body),
            })
        })
        .collect()
}

mod catch_up;

use self::catch_up::Touches;

#[cfg(test)]
#[path = "subscribe_tests.rs"]
mod tests;
