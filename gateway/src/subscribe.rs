//! One subscription: snapshot when the cursor is older than the retained log, then the log from
//! the cursor, then the live tail, each entry filtered and redacted for the subscriber's tenant.
//!
//! Memory stays bounded: the live feed is a bounded broadcast and each subscriber has a bounded
//! buffer. A subscriber whose buffer stays full for the stall timeout, or that falls further
//! behind than the broadcast holds, is ended with `RESOURCE_EXHAUSTED` and resumes from its
//! cursor; the writer and the other subscribers never wait for it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hotline_federation::Change;
use hotline_federation::ids::INHOUSE;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{
    Access, Directory, access, effect, head_access, redact, strip_change,
};
use hotline_proto::prepared::PreparedSyncEvent;
use hotline_proto::v1 as pb;
use pb::sync_event::Body;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::log::{Committed, Prepared, TeamChange, decode_record_head};
use crate::state::GatewayState;
use crate::store::{entities, keys};

/// How many log entries or entities are read from the store at a time.
const READ_CHUNK: usize = 512;

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
                        // Encoded by the first subscriber of this tenant that reached the
                        // entry under the same rules, or here (and kept for the others).
                        let events = self.live_prepared(&entry)?;
                        self.send_entry(entry.seq, &events).await?;
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
        match tokio::time::timeout(self.stall, self.tx.send(Ok(event))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::Unavailable("subscriber went away".into())),
            Err(_) => Err(Error::ResourceExhausted(format!(
                "subscriber stalled: its buffer stayed full for {} ms; resubscribe from cursor {}",
                self.stall.as_millis(),
                self.sent
            ))),
        }
    }

    /// Sends the encoded events of log entry `seq` ([`encode_entry`]: only the last one
    /// carries the cursor, so a site that stores it has applied the whole entry).
    async fn send_entry(&mut self, seq: u64, events: &[PreparedSyncEvent]) -> Result<()> {
        for event in events {
            self.send_prepared(event.clone()).await?;
        }
        self.sent = seq;
        let head = self.state.shared.head.load(Ordering::SeqCst);
        let metrics = &self.state.shared.metrics;
        metrics
            .subscriber_lag
            .observe(head.saturating_sub(seq) as f64);
        Ok(())
    }

    async fn snapshot(&mut self) -> Result<()> {
        let as_of = self.state.shared.head.load(Ordering::SeqCst);
        self.send(pb::SyncEvent {
            cursor: 0,
            body: Some(Body::SnapshotBegin(pb::SnapshotBegin { as_of })),
        })
        .await?;
        // One chunk of whole states at a time: the snapshot of a large store is never held
        // in memory whole.
        let mut chunks = entities::Chunks::new(READ_CHUNK);
        while let Some(chunk) = chunks.next_chunk(self.state.store.as_ref())? {
            for entity in chunk {
                // The rules as they are now, not as they were when the snapshot began: a slow
                // reader must not receive what a policy change has withdrawn meanwhile.
                let directory = self.state.shared.directory();
                if let Some(view) = redact(&self.tenant, &entity, &directory) {
                    let body = Body::Entity(pb::EntityState::from(view));
                    self.send(pb::SyncEvent {
                        cursor: 0,
                        body: Some(body),
                    })
                    .await?;
                }
            }
        }
        self.send(pb::SyncEvent {
            cursor: as_of,
            body: Some(Body::SnapshotEnd(pb::SnapshotEnd { as_of })),
        })
        .await?;
        self.sent = as_of;
        Ok(())
    }

    /// Sends log entries after `self.sent` up to `target` from the store, a chunk at a time.
    /// A chunk is sent as the current state of each entity it touched, as the tenant may see it
    /// now (plus the purges its entries call for), and carries the cursor of its last entry. So a
    /// site catching up never receives a value that was superseded before it asked, in particular
    /// none written while the entity was hidden from it (draft edits, customer data before a
    /// grant).
    async fn catch_up(&mut self, target: u64) -> Result<()> {
        while self.sent < target {
            let start = keys::log(self.sent + 1);
            let end = keys::log(target + 1);
            let chunk = self.state.store.range(&start, &end, READ_CHUNK)?;
            let first = chunk.first().and_then(|(k, _)| keys::parse_log(k));
            if first != Some(self.sent + 1) {
                // Pruned underneath us: start over from a snapshot.
                self.snapshot().await?;
                continue;
            }
            let mut touches = Touches::default();
            let mut last = self.sent;
            for (key, raw) in chunk {
                last = keys::parse_log(&key)
                    .ok_or_else(|| Error::Corrupt("log key without sequence".into()))?;
                let (key, record) = decode_record_head(&raw)?;
                let purge = record.lost.contains(&self.tenant);
                if purge && record.expired {
                    touches.expire(&key);
                } else {
                    touches.touch(&key, purge);
                }
                self.team_touches(last, &TeamChange::from(record), &mut touches)?;
            }
            let events = encode_entry(last, self.emit(touches)?);
            self.send_entry(last, &events).await?;
        }
        Ok(())
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

    /// What this tenant receives for a live entry, encoded, the entry's cursor on the last
    /// event: the change as it may read it, both at the entry and now; or, when the entry
    /// changed the tenant's access, the entities whole ([`Feed::access_events`]). Those are
    /// read from the store now and may be newer for a later subscriber: never shared.
    fn live_prepared(&self, entry: &Committed) -> Result<Arc<[PreparedSyncEvent]>> {
        let tenant = self.tenant.as_str();
        let named = |list: &[String]| list.iter().any(|t| t == tenant);
        let team_reset = !entry.team.team.is_empty() && named(&entry.team.access_changed);
        if named(&entry.lost) || named(&entry.gained) || team_reset {
            let events = self.access_events(entry, named(&entry.lost))?;
            return Ok(encode_entry(entry.seq, events));
        }
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

    /// The events of a live entry that changed this tenant's access: the entity (and the
    /// team's tickets whose access changed) whole, as the tenant may read them now, each
    /// purged first where that is due.
    fn access_events(&self, entry: &Committed, lost: bool) -> Result<Vec<Body>> {
        let mut touches = Touches::default();
        if lost && entry.expired {
            touches.expire(&entry.change.key);
        } else {
            touches.touch(&entry.change.key, lost);
        }
        self.team_touches(entry.seq, &entry.team, &mut touches)?;
        self.emit(touches)
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
        let view = strip_change(tenant, change, allowed == Access::Full);
        if view.ops.is_empty() {
            Vec::new()
        } else {
            vec![Body::Change(view.into())]
        }
    }

    /// Adds the tickets of a focus team whose access changed for this tenant at entry `seq`:
    /// each is purged where the tenant could read it (or its PII) before and cannot now, and
    /// resent. The tickets are those the entry recorded as in the team at that moment, so a
    /// ticket moved or deleted since is still purged (its own later entries were decided
    /// under the new rules and purge nothing). Records from before the list was kept fall back
    /// to the tickets in the team now that joined it no later than `seq`.
    fn team_touches(&self, seq: u64, change: &TeamChange, touches: &mut Touches) -> Result<()> {
        let tenant = self.tenant.as_str();
        if change.team.is_empty() || !change.access_changed.iter().any(|t| t == tenant) {
            return Ok(());
        }
        let fallback;
        let ids: &[String] = if change.recorded {
            &change.tickets
        } else {
            let prefix = keys::team_prefix(&change.team);
            let end = keys::prefix_end(&prefix);
            let mut ids = Vec::new();
            for (key, joined) in self.state.store.range(&prefix, &end, usize::MAX)? {
                if keys::decode_u64(&joined).is_some_and(|joined| joined > seq) {
                    continue;
                }
                ids.push(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
            }
            fallback = ids;
            &fallback
        };
        let directory = self.state.shared.directory();
        for id in ids {
            let ticket = self
                .state
                .entity(&EntityKey::new(EntityKind::Ticket, id.as_str()))?;
            let before = if !change.recorded {
                // An old record: what the tenant held is unknown, so purge and resend.
                Access::Full
            } else {
                let origin = matches!(
                    ticket.value("origin_tenant"),
                    Some(FieldValue::Ticket(TicketField::OriginTenant(t))) if t == tenant
                );
                let handled = change.handlers_before.iter().any(|t| t == tenant);
                let granted = change.pii_before.iter().any(|t| t == tenant);
                match (origin || handled, granted) {
                    (false, _) => Access::Hidden,
                    (true, false) => Access::Redacted,
                    (true, true) => Access::Full,
                }
            };
            let now = access(tenant, &ticket, &directory);
            let effect = effect(before, now);
            if effect.purge || effect.resend {
                touches.touch(&ticket.key, effect.purge);
            }
        }
        Ok(())
    }

    /// The events for touched entities: a purge where one is due, then the current state as
    /// the tenant may read it now (nothing for an entity it may not see). An entity with
    /// customer data the tenant may not read now is always purged before it is resent, so no
    /// copy from a time the tenant was granted it survives a path this run did not see (a
    /// site joins states, and a join cannot remove fields).
    fn emit(&self, touches: Touches) -> Result<Vec<Body>> {
        let mut out = Vec::new();
        for key in touches.order {
            let current = self.state.entity(&key)?;
            let directory = self.state.shared.directory();
            let view = redact(&self.tenant, &current, &directory).filter(|v| !v.is_empty());
            let stale_pii = view.is_some()
                && access(&self.tenant, &current, &directory) == Access::Redacted
                && current.registers.values().any(|r| r.winner.value.is_pii());
            if touches.purge.contains(&key) || stale_pii {
                let reason = if touches.expired.contains(&key) {
                    pb::RevocationReason::Retention
                } else {
                    pb::RevocationReason::Access
                };
                out.push(Body::Revocation(pb::Revocation {
                    key: Some(key.clone().into()),
                    reason: reason.into(),
                }));
            }
            if let Some(view) = view {
                out.push(Body::Entity(view.into()));
            }
        }
        Ok(out)
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

/// The entities a run of log entries touched, in order, and those due a purge.
#[derive(Default)]
struct Touches {
    order: Vec<EntityKey>,
    seen: HashSet<EntityKey>,
    purge: HashSet<EntityKey>,
    /// Of `purge`, those purged because partners' retention of them ended.
    expired: HashSet<EntityKey>,
}

impl Touches {
    fn touch(&mut self, key: &EntityKey, purge: bool) {
        if self.seen.insert(key.clone()) {
            self.order.push(key.clone());
        }
        if purge {
            self.purge.insert(key.clone());
        }
    }

    /// A purge of `key` at an entry that ended partners' retention of it.
    fn expire(&mut self, key: &EntityKey) {
        self.touch(key, true);
        self.expired.insert(key.clone());
    }
}

#[cfg(test)]
#[path = "subscribe_tests.rs"]
mod tests;
